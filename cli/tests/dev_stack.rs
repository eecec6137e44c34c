//! The local stack as a user runs it: the real `platefull` binary, `dev` and `dev-token`
//! over HTTP, data surviving a hard restart, owners isolated, one process per data dir.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_platefull");

struct Stack {
    child: Child,
    url: String,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `platefull dev` on a free port with `extra` arguments and waits for its
/// "listening on" line; returns the stack and the lines it printed before that one.
fn start_with(data_dir: &Path, extra: &[&OsStr]) -> (Stack, Vec<String>) {
    let mut child = Command::new(BIN)
        .args(["dev", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn platefull dev");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads stdout to the end, so that the stack never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut before = Vec::new();
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("platefull dev prints where it listens");
        match line.strip_prefix("listening on ") {
            Some(url) => break url.to_owned(),
            None => before.push(line),
        }
    };
    (Stack { child, url }, before)
}

/// Starts `platefull dev` on a free port over `data_dir`.
fn start(data_dir: &Path) -> Stack {
    start_with(data_dir, &[]).0
}

fn dev_token(data_dir: &Path, user: &str) -> String {
    let out = Command::new(BIN)
        .args(["dev-token", "--user", user, "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .expect("token on the last line")
        .to_owned()
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    )
}

/// Creates a WhatsApp connection named `name` for the owner of `token` (201 Created).
async fn whatsapp(stack: &Stack, token: &str, name: &str) -> Value {
    let (status, wa) = call(
        reqwest::Method::POST,
        format!("{}/api/user-apis", stack.url),
        token,
        Some(json!({"name": name, "type": "whatsapp"})),
    )
    .await;
    assert_eq!(status, 201, "{wa}");
    wa
}

/// `POST /api/whatsapp/{store_id}/1/start` with `auth`: the status and the answer.
async fn start_slot(stack: &Stack, store_id: &str, auth: &str) -> (u16, Value) {
    let url = format!("{}/api/whatsapp/{store_id}/1/start", stack.url);
    call(reqwest::Method::POST, url, auth, None).await
}

/// `GET /api/whatsapp/{store_id}/sessions` with `auth`: the status and the answer.
async fn list_slots(stack: &Stack, store_id: &str, auth: &str) -> (u16, Value) {
    let url = format!("{}/api/whatsapp/{store_id}/sessions", stack.url);
    call(reqwest::Method::GET, url, auth, None).await
}

/// The pairing code slot 1 of `store_id` shows, asked with `auth` (as the console does).
async fn pairing_code(stack: &Stack, store_id: &str, auth: &str) -> String {
    let (status, pairing) = call(
        reqwest::Method::GET,
        format!("{}/dev/simulator/{store_id}/1/pairing", stack.url),
        auth,
        None,
    )
    .await;
    assert_eq!(status, 200, "{pairing}");
    assert!(
        pairing["link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/pair?code={}", pairing["code"].as_str().unwrap())),
        "{pairing}"
    );
    pairing["code"].as_str().unwrap().to_owned()
}

/// One HTTP/1.1 request over a raw socket with the given `Host` header (which an HTTP
/// client would set itself); returns the status and the JSON body (or Null).
fn raw_request(url: &str, method: &str, path: &str, host: &str, body: &str) -> (u16, Value) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    // The console's answers here are small: never chunked beyond one chunk.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split("\r\n").nth(1).unwrap_or("")
    } else {
        body
    };
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_owner_sets_up_locally_and_finds_everything_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A token minted before the stack ever ran is accepted by it (same data dir).
    let alice = dev_token(&data, "alice");
    let stack = start(&data);
    let bob = dev_token(&data, "bob");
    use reqwest::Method;

    let health: Value = reqwest::get(format!("{}/health", stack.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["checks"]["store"]["kind"], "embedded");
    assert_eq!(health["status"], "ok");

    let wa = whatsapp(&stack, &alice, "Pizzaria X").await;
    let (store_id, api_key) = (
        wa["storeId"].as_str().unwrap().to_owned(),
        wa["apiKey"].as_str().unwrap().to_owned(),
    );
    let (status, sp) = call(
        Method::POST,
        format!("{}/api/user-apis", stack.url),
        &alice,
        Some(json!({"name": "Saipos", "type": "saipos", "apiKey": "saipos-token-123456"})),
    )
    .await;
    assert_eq!(status, 201, "{sp}");
    let config_url = format!("{}/api/client/{store_id}/config", stack.url);
    let (status, config) = call(
        Method::PUT,
        config_url.clone(),
        &api_key,
        Some(json!({"botName": "Maria", "storeType": "pizzaria"})),
    )
    .await;
    assert_eq!(status, 200, "{config}");
    let (status, sessions) = list_slots(&stack, &store_id, &alice).await;
    assert_eq!(status, 200);
    assert_eq!(sessions["data"].as_array().unwrap().len(), 3);

    // Link slot 1 with the simulator: start → QR → `platefull simulate pair` → connected.
    let started_at = Instant::now();
    let (status, started) = start_slot(&stack, &store_id, &alice).await;
    assert_eq!(status, 200, "{started}");
    assert!(
        started_at.elapsed() < Duration::from_secs(1),
        "QR within a second"
    );
    assert!(
        started["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,"),
        "{started}"
    );
    let pair = |auth: &[&str]| {
        Command::new(BIN)
            .args([
                "simulate",
                "pair",
                "--url",
                &stack.url,
                "--store",
                &store_id,
                "--slot",
                "1",
                "--phone",
                "5511988887777",
            ])
            .args(auth)
            .output()
            .unwrap()
    };
    // Without the QR's code, or a credential to ask for it, pairing is refused.
    let refused = pair(&[]);
    assert!(!refused.status.success());
    let refused = pair(&["--code", "pair_wrong"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("wrong_code"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let paired = pair(&["--key", &api_key]);
    assert!(
        paired.status.success(),
        "{}",
        String::from_utf8_lossy(&paired.stderr)
    );
    let mut slot = Value::Null;
    for _ in 0..100 {
        let (_, sessions) = list_slots(&stack, &store_id, &alice).await;
        slot = sessions["data"][0].clone();
        if slot["status"] == "connected" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(slot["phone"], "5511988887777", "{slot}");
    let out = Command::new(BIN)
        .args([
            "simulate",
            "outbox",
            "--url",
            &stack.url,
            "--store",
            &store_id,
            "--slot",
            "1",
            "--chat",
            "5511999990000",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"data":[]}"#
    );

    let (_, bobs) = call(
        Method::GET,
        format!("{}/api/user-apis", stack.url),
        &bob,
        None,
    )
    .await;
    assert_eq!(bobs, json!([]));
    let (status, _) = call(Method::GET, config_url, &bob, None).await;
    assert_eq!(status, 404);

    // One process per data dir: a second stack refuses clearly instead of corrupting it.
    let second = Command::new(BIN)
        .args(["dev", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("already in use"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    // A hard kill, then a restart: everything is still there.
    drop(stack);
    let started = Instant::now();
    let stack = start(&data);
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, apis) = call(
        Method::GET,
        format!("{}/api/user-apis", stack.url),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<_> = apis
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Pizzaria X", "Saipos"]);
    let (status, config) = call(
        Method::GET,
        format!("{}/api/client/{store_id}/config", stack.url),
        &api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["botName"], "Maria");
    // The simulated phone stays linked across the restart: start reconnects without a QR.
    let (status, started) = start_slot(&stack, &store_id, &alice).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["status"], "connected", "{started}");
    let (_, out) = call(
        Method::POST,
        format!("{}/api/whatsapp/{store_id}/1/logout", stack.url),
        &alice,
        None,
    )
    .await;
    assert_eq!(out["status"], "disconnected", "{out}");
    assert!(
        !std::fs::read(data.join("store.redb"))
            .unwrap()
            .windows(19)
            .any(|w| w == b"saipos-token-123456"),
        "Saipos token stored in clear"
    );
}

#[test]
fn dev_token_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["dev-token", "--user", "", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user"));
}

#[tokio::test]
async fn the_console_is_served_with_its_dev_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path());
    let http = reqwest::Client::new();
    for page in [
        "/",
        "/dashboard",
        "/connections",
        "/whatsapp-tools",
        "/cardapio",
        "/loja",
        "/pedidos",
        "/conversas",
    ] {
        let res = http
            .get(format!("{}{page}", stack.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{page}");
        assert_eq!(
            res.headers()["content-security-policy"],
            platefull::http::console_headers::content_security_policy(&[]).as_str(),
            "{page}"
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        let html = res.text().await.unwrap();
        assert!(html.contains("/assets/app.js"), "{page}");
    }
    let js = http
        .get(format!("{}/assets/app.js", stack.url))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    // Unknown API routes keep the JSON 404.
    let (status, body) = call(
        reqwest::Method::GET,
        format!("{}/api/nope", stack.url),
        "",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = call(
        reqwest::Method::GET,
        format!("{}/console-config.json", stack.url),
        "",
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"auth": "dev", "simulator": true}))
    );

    let sign_in = |body: Value| {
        let url = format!("{}/dev/sign-in", stack.url);
        async move { call(reqwest::Method::POST, url, "", Some(body)).await }
    };
    for bad in [
        json!({"userId": ""}),
        json!({"userId": "a b"}),
        json!({"userId": "x".repeat(65)}),
    ] {
        let (status, body) = sign_in(bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "validation_error");
        assert_eq!(body["error"]["field"], "userId");
    }
    let (status, _) = sign_in(json!({"userId": "alice", "admin": true})).await;
    assert_eq!(status, 400);
    let (status, body) = sign_in(json!({"userId": "alice"})).await;
    assert_eq!(status, 200);
    let token = body["token"].as_str().unwrap();
    let (status, list) = call(
        reqwest::Method::GET,
        format!("{}/api/user-apis", stack.url),
        token,
        None,
    )
    .await;
    assert_eq!((status, list), (200, json!([])));
}

#[tokio::test]
async fn the_consoles_own_errors_answer_the_json_error_contract() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path());
    use reqwest::Method;
    // The static files' 404 and 405 (bodiless from the file server), and the framework's
    // rejections on the dev routes, all in the one JSON shape.
    for (method, path, status, code) in [
        (Method::GET, "/assets/no-such-file.js", 404, "not_found"),
        (Method::POST, "/assets/app.js", 405, "method_not_allowed"),
        (Method::DELETE, "/dashboard", 405, "method_not_allowed"),
        (Method::GET, "/dev/sign-in", 405, "method_not_allowed"),
        (
            Method::GET,
            "/dev/simulator/%ff%fe/1/outbox?chat=1",
            400,
            "invalid_path",
        ),
        (
            Method::GET,
            "/api/client/%ff%fe/config",
            400,
            "invalid_path",
        ),
    ] {
        let res = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", stack.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{method} {path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{method} {path}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{method} {path}: {body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
}

/// `platefull dev` serves within its limits: a client trickling its headers is cut off
/// after `--header-read-timeout-ms`, while others are served. (The accept loop's own tests,
/// in `src/serve.rs`, cover the idle timeout, the cap and TCP_NODELAY.)
#[test]
fn the_local_stack_cuts_off_a_client_that_trickles_its_headers() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (stack, _) = start_with(
        dir.path(),
        &[
            OsStr::new("--header-read-timeout-ms"),
            OsStr::new("300"),
            OsStr::new("--max-connections"),
            OsStr::new("4"),
        ],
    );
    let addr = stack.url.trim_start_matches("http://");
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let opened = Instant::now();
    slow.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    let mut buf = [0u8; 512];
    let cut_after = loop {
        assert!(
            opened.elapsed() < Duration::from_secs(10),
            "a trickling client is still connected after 10 s"
        );
        if slow.write_all(b"x-trickle: 1\r\n").is_err() {
            break opened.elapsed();
        }
        match slow.read(&mut buf) {
            Ok(0) => break opened.elapsed(),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break opened.elapsed(),
        }
    };
    assert!(cut_after >= Duration::from_millis(300), "{cut_after:?}");
    // Meanwhile and after, a prompt client is served.
    let mut prompt = std::net::TcpStream::connect(addr).unwrap();
    prompt
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    prompt.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn without_console_assets_the_api_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let (stack, printed) = start_with(
        dir.path(),
        &["--web-dir".as_ref(), empty.path().as_os_str()],
    );
    let console_line = printed
        .into_iter()
        .find(|line| line.trim_start().starts_with("console:"));
    assert!(console_line.unwrap().contains("off"));
    let (status, body) = call(reqwest::Method::GET, format!("{}/", stack.url), "", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{}/health", stack.url),
        "",
        None,
    )
    .await;
    assert_eq!(status, 200);
}

/// Sends SIGTERM (what a process manager or Ctrl-C sends) and waits for a clean exit.
fn stop_gracefully(mut stack: Stack) {
    let status = Command::new("kill")
        .args(["-TERM", &stack.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = stack.child.try_wait().unwrap() {
            assert!(exit.success(), "platefull dev exited with {exit}");
            return;
        }
        assert!(Instant::now() < deadline, "platefull dev did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_turn_waiting_out_its_debounce_survives_a_graceful_restart() {
    a_waiting_turn_survives(stop_gracefully).await;
}

/// The queues are durable: a `kill -9` while the turn waits loses it no more than a stop.
#[tokio::test]
async fn a_turn_waiting_out_its_debounce_survives_a_kill() {
    a_waiting_turn_survives(drop).await; // dropping a Stack kills it with SIGKILL
}

async fn a_waiting_turn_survives(stop: fn(Stack)) {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let alice = dev_token(&data, "alice");
    let stack = start(&data);
    let wa = whatsapp(&stack, &alice, "Pizzaria X").await;
    let store_id = wa["storeId"].as_str().unwrap().to_owned();
    let (status, _) = call(
        Method::PUT,
        format!("{}/api/client/{store_id}/config", stack.url),
        &alice,
        Some(json!({"debounceSeconds": 4})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, started) = start_slot(&stack, &store_id, &alice).await;
    assert_eq!(status, 200, "{started}");
    let code = pairing_code(&stack, &store_id, &alice).await;
    let pair = reqwest::Client::new()
        .post(format!("{}/dev/simulator/{store_id}/1/pair", stack.url))
        .query(&[("code", code)])
        .json(&json!({"phone": "5511988887777"}))
        .send()
        .await
        .unwrap();
    assert!(pair.status().is_success());
    // A customer writes; the turn waits out its 4 s debounce when the stack is stopped.
    let mut sent = false;
    for _ in 0..100 {
        let response = reqwest::Client::new()
            .post(format!("{}/dev/simulator/{store_id}/1/messages", stack.url))
            .json(
                &json!({"from": "5511911112222", "text": "Oi, tem pizza?", "id": "WAMID-RESTART"}),
            )
            .send()
            .await
            .unwrap();
        if response.status().is_success() {
            sent = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // still connecting
    }
    assert!(sent, "the slot took the customer's message");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(stack);
    // The restarted stack reconnects the slot and answers the turn, once.
    let stack = start(&data);
    let outbox = format!(
        "{}/dev/simulator/{store_id}/1/outbox?chat=5511911112222",
        stack.url
    );
    let mut replies = Vec::new();
    for _ in 0..300 {
        let (_, body) = call(Method::GET, outbox.clone(), &alice, None).await;
        replies = body["data"].as_array().cloned().unwrap_or_default();
        if !replies.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(replies.len(), 1, "one reply after the restart");
    assert!(replies[0]["text"].as_str().unwrap().contains("offline"));
}

/// The local stack stays local: a non-loopback address is refused before anything is
/// opened, unless `--public`, which warns that anyone could sign in as anyone.
#[test]
fn dev_refuses_a_non_loopback_address_unless_public() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.10:3000"] {
        let out = Command::new(BIN)
            .args(["dev", "--addr", addr, "--data-dir"])
            .arg(&data)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{addr}: {stderr}");
        assert!(
            stderr.contains("not a loopback address") && stderr.contains("--public"),
            "{addr}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{addr}: nothing started");
        assert!(!data.exists(), "{addr}: the data dir is not even created");
    }

    let mut child = Command::new(BIN)
        .args(["dev", "--public", "--addr", "0.0.0.0:0", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stdout = child.stdout.take().unwrap();
    let listening = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("listening on ").map(str::to_owned))
    });
    let warning = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a warning on stderr");
    let url = listening.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        warning.contains("WARNING") && warning.contains("/dev/sign-in"),
        "{warning}"
    );
    assert!(url.is_some_and(|u| u.starts_with("http://0.0.0.0:")));
}

/// DNS rebinding: the dev routes answer only the stack's own Host; the console's public
/// files and the API answer any name.
#[tokio::test]
async fn dev_routes_refuse_a_foreign_host() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stack = start(&data);
    let alice = dev_token(&data, "alice");
    let wa = whatsapp(&stack, &alice, "Pizzaria X").await;
    let store_id = wa["storeId"].as_str().unwrap().to_owned();
    let port = stack.url.rsplit(':').next().unwrap().to_owned();
    let rebound = format!("rebound.example:{port}");
    let dev_routes = [
        ("POST", "/dev/sign-in".to_owned(), r#"{"userId":"mallory"}"#),
        ("GET", "/console-config.json".to_owned(), ""),
        (
            "POST",
            format!("/dev/simulator/{store_id}/1/pair?code=x"),
            "{}",
        ),
        (
            "POST",
            format!("/dev/simulator/{store_id}/1/messages"),
            r#"{"from":"5511999990000","text":"oi"}"#,
        ),
        (
            "GET",
            format!("/dev/simulator/{store_id}/1/outbox?chat=5511999990000"),
            "",
        ),
    ];
    for (method, path, body) in &dev_routes {
        for host in [rebound.as_str(), "localhost.rebound.example", "127.0.0.1:1"] {
            let (status, answer) = raw_request(&stack.url, method, path, host, body);
            assert_eq!(status, 403, "{method} {path} Host {host}: {answer}");
            assert_eq!(answer["error"]["code"], "host_not_allowed", "{answer}");
        }
    }
    // Under the stack's own names they answer.
    for host in [
        stack.url.trim_start_matches("http://").to_owned(),
        format!("localhost:{port}"),
    ] {
        let (status, answer) = raw_request(
            &stack.url,
            "POST",
            "/dev/sign-in",
            &host,
            r#"{"userId":"alice"}"#,
        );
        assert_eq!(status, 200, "{host}: {answer}");
        assert!(answer["token"].is_string());
    }
    // Public files and the API don't depend on the name (they need no dev secret).
    assert_eq!(
        raw_request(&stack.url, "GET", "/health", &rebound, "").0,
        200
    );
    assert_eq!(raw_request(&stack.url, "GET", "/", &rebound, "").0, 200);
}

/// The QR's pairing link needs its code; the store's owner or apiKey can read the code.
#[tokio::test]
async fn pairing_needs_the_slots_code() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stack = start(&data);
    let alice = dev_token(&data, "alice");
    let bob = dev_token(&data, "bob");
    let wa = whatsapp(&stack, &alice, "Pizzaria X").await;
    let store_id = wa["storeId"].as_str().unwrap().to_owned();
    let key = wa["apiKey"].as_str().unwrap().to_owned();
    let pairing = format!("{}/dev/simulator/{store_id}/1/pairing", stack.url);
    // Not waiting for a pairing yet.
    let (status, body) = call(Method::GET, pairing.clone(), &alice, None).await;
    assert_eq!(status, 409, "{body}");
    let (status, started) = start_slot(&stack, &store_id, &alice).await;
    assert_eq!((status, &started["status"]), (200, &json!("qrcode")));
    let pair = |method: Method, query: Option<&str>| {
        let mut url = format!("{}/dev/simulator/{store_id}/1/pair", stack.url);
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        let body = (method == Method::POST).then(|| json!({}));
        async move {
            let (status, body) = call(method, url, "", body).await;
            (
                status,
                body["error"]["code"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    for (query, code) in [
        (None, "pairing_code_required"),
        (Some("code="), "pairing_code_required"),
        (Some("phone=5511977776666"), "pairing_code_required"),
        (Some("code=pair_00000000000000000000"), "wrong_code"),
    ] {
        for method in [Method::GET, Method::POST] {
            assert_eq!(
                pair(method.clone(), query).await,
                (400, code.to_owned()),
                "{method} {query:?}"
            );
        }
    }
    // The code is the owner's (or the apiKey's) to read: nobody else's.
    let (status, body) = call(Method::GET, pairing.clone(), "", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = call(Method::GET, pairing.clone(), &bob, None).await;
    assert_eq!(status, 404);
    assert_eq!(pairing_code(&stack, &store_id, &key).await.len(), 25);
    let (_, sessions) = list_slots(&stack, &store_id, &alice).await;
    assert_eq!(
        sessions["data"][0]["status"], "qrcode",
        "nothing paired yet"
    );
    let code = pairing_code(&stack, &store_id, &alice).await;
    let with_code = format!("code={code}");
    assert_eq!(pair(Method::GET, Some(&with_code)).await.0, 200);
    // Used once: the slot no longer waits for a pairing.
    assert_eq!(pair(Method::POST, Some(&with_code)).await.0, 409);
}
