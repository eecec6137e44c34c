//! The fault suite (a bench binary that prints figures, and fails when a promise is
//! broken): it drives a real `platefull dev` process over loopback HTTP, as a user would.
//!
//! 1. Concurrency: 200 concurrent config PUTs, 50 concurrent rotate-keys, 20 concurrent
//!    creates: every acknowledged write is there afterwards, exactly one rotated key works.
//! 2. Latency: customers write through the simulator routes, one message per chat, and
//!    each waits for its reply in the simulator's outbox: messages/s, p50/p99.
//! 3. Crash: a burst of customer messages with config writes and creates alongside, the
//!    stack killed with SIGKILL mid-burst, restarted on the same data dir; the messages
//!    whose POST the kill refused are sent again (as WhatsApp redelivers what it never saw
//!    acknowledged). Counted: acknowledged writes lost (must be 0), customer messages
//!    answered exactly once (must be all), `/health` after the restart (must be 200).
//!
//! Run: `cargo bench -p platefull-tests --bench faults`. It runs the release `platefull`
//! binary (`target/release/platefull`, built first with `cargo build --release -p
//! platefull-cli` unless `PLATEFULL_BIN` names one): cargo gives `CARGO_BIN_EXE_*` only to
//! the tests of the binary's own package. Bounded: every wait has a deadline; a temp data
//! dir; the bot answers with its offline notice (no LLM key), so nothing leaves the machine.
//! `PLATEFULL_FAULTS_LOG=<file>` keeps the stack's log (both runs) there.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use platefull_tests::bench::report;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const BURST: usize = 400;
const LATENCY_CHATS: usize = 200;
/// The burst's messages acknowledged before the kill.
const KILL_AFTER: usize = 150;

struct Stack {
    child: Child,
    url: String,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SIGKILL: no shutdown path runs.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The release binary, built if needed (cargo answers at once when it is up to date).
fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("PLATEFULL_BIN") {
        return bin.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-q", "-p", "platefull-cli"])
        .current_dir(&root)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --release -p platefull-cli");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("release").join("platefull")
}

fn start(bin: &Path, data: &Path) -> Stack {
    let mut child = Command::new(bin)
        .args([
            "dev",
            "--addr",
            "127.0.0.1:0",
            "--no-reply-pacing",
            "--data-dir",
        ])
        .arg(data)
        .env_remove("OPENROUTER_API_KEY")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn platefull dev");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // The stack logs to stdout: kept in PLATEFULL_FAULTS_LOG when set.
    let mut log = std::env::var_os("PLATEFULL_FAULTS_LOG").map(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the log file")
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(log) = &mut log {
                use std::io::Write;
                let _ = writeln!(log, "{line}");
            }
            let _ = tx.send(line);
        }
    });
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("platefull dev prints where it listens");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    Stack { child, url }
}

fn token(bin: &Path, data: &Path, user: &str) -> String {
    let out = Command::new(bin)
        .args(["dev-token", "--user", user, "--data-dir"])
        .arg(data)
        .output()
        .expect("platefull dev-token");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

/// One request; a refused connection (the stack is dead) is `None`.
async fn call(
    http: &Client,
    method: reqwest::Method,
    url: String,
    auth: &str,
    body: Option<Value>,
) -> Option<(StatusCode, Value)> {
    let mut request = http.request(method, url).bearer_auth(auth);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.ok()?;
    let status = response.status();
    let value = response.json().await.unwrap_or(Value::Null);
    Some((status, value))
}

/// A store's bot config, read with `auth`.
async fn get_config(http: &Client, base: &str, store: &str, auth: &str) -> (StatusCode, Value) {
    let url = format!("{base}/api/client/{store}/config");
    call(http, reqwest::Method::GET, url, auth, None)
        .await
        .expect("the stack answers")
}

async fn create(http: &Client, base: &str, owner: &str, name: &str) -> Option<Value> {
    let (status, body) = call(
        http,
        reqwest::Method::POST,
        format!("{base}/api/user-apis"),
        owner,
        Some(json!({"name": name, "type": "whatsapp"})),
    )
    .await?;
    (status == StatusCode::CREATED).then_some(body)
}

async fn list_ids(http: &Client, base: &str, owner: &str) -> Vec<String> {
    let (_, list) = call(
        http,
        reqwest::Method::GET,
        format!("{base}/api/user-apis"),
        owner,
        None,
    )
    .await
    .expect("list");
    list.as_array()
        .expect("a list")
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

fn chat(n: usize) -> String {
    format!("5511{n:08}")
}

/// A customer's message through the simulator; true when the stack took it.
async fn customer(http: &Client, base: &str, store: &str, n: usize) -> bool {
    http.post(format!("{base}/dev/simulator/{store}/1/messages"))
        .json(&json!({"from": chat(n), "text": format!("Oi, pedido {n}"), "id": format!("FAULT-{n}")}))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

async fn replies(http: &Client, base: &str, store: &str, n: usize) -> usize {
    let Ok(response) = http
        .get(format!("{base}/dev/simulator/{store}/1/outbox"))
        .query(&[("chat", chat(n))])
        .send()
        .await
    else {
        return 0;
    };
    let body: Value = response.json().await.unwrap_or(Value::Null);
    body["data"].as_array().map_or(0, Vec::len)
}

/// A connection with debounce off, slot 1 paired with a simulated phone and taking messages.
async fn paired_store(http: &Client, base: &str, owner: &str) -> String {
    let record = create(http, base, owner, "Fault store")
        .await
        .expect("create");
    let store = record["storeId"].as_str().unwrap().to_owned();
    let (status, body) = call(
        http,
        reqwest::Method::PUT,
        format!("{base}/api/client/{store}/config"),
        owner,
        Some(json!({"debounceSeconds": 0, "botName": "Maria"})),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        http,
        reqwest::Method::POST,
        format!("{base}/api/whatsapp/{store}/1/start"),
        owner,
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    // The code the QR shows, as the console's simulator panel gets it.
    let (status, pairing) = call(
        http,
        reqwest::Method::GET,
        format!("{base}/dev/simulator/{store}/1/pairing"),
        owner,
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{pairing}");
    let paired = http
        .post(format!("{base}/dev/simulator/{store}/1/pair"))
        .query(&[("code", pairing["code"].as_str().unwrap())])
        .json(&json!({"phone": "5511988887777"}))
        .send()
        .await
        .unwrap();
    assert!(paired.status().is_success());
    wait_connected(http, base, &store).await;
    store
}

/// Waits until the slot takes an owner's message (connected), up to 30 s.
async fn wait_connected(http: &Client, base: &str, store: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owner_probe = http
            .post(format!("{base}/dev/simulator/{store}/1/owner-messages"))
            .json(&json!({"to": "5500000000000", "text": "probe"}))
            .send()
            .await;
        if owner_probe.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "the slot did not connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health(http: &Client, base: &str) -> Option<StatusCode> {
    http.get(format!("{base}/health"))
        .send()
        .await
        .ok()
        .map(|r| r.status())
}

#[tokio::main]
async fn main() {
    let bin = binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let owner = token(&bin, &data, "fault-owner");
    let http = Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let stack = start(&bin, &data);
    let base = stack.url.clone();

    // 1. Concurrency.
    let a = create(&http, &base, &owner, "Concurrent")
        .await
        .expect("create");
    let (a_id, a_store) = (
        a["id"].as_str().unwrap().to_owned(),
        a["storeId"].as_str().unwrap().to_owned(),
    );
    let mut puts = JoinSet::new();
    for i in 0..200 {
        let (http, url, owner) = (
            http.clone(),
            format!("{base}/api/client/{a_store}/config"),
            owner.clone(),
        );
        puts.spawn(async move {
            let body = json!({"basePrompt": format!("p{i}")});
            let got = call(&http, reqwest::Method::PUT, url, &owner, Some(body)).await;
            (i, got.map(|(s, _)| s))
        });
    }
    let mut put_ok = Vec::new();
    while let Some(done) = puts.join_next().await {
        let (i, status) = done.unwrap();
        if status == Some(StatusCode::OK) {
            put_ok.push(format!("p{i}"));
        }
    }
    let final_prompt = get_config(&http, &base, &a_store, &owner).await.1["basePrompt"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!(
        "200 concurrent config PUTs: {} acknowledged; final basePrompt {final_prompt:?} is one of them: {}",
        put_ok.len(),
        put_ok.contains(&final_prompt)
    );
    assert_eq!(put_ok.len(), 200);
    assert!(put_ok.contains(&final_prompt));

    let mut rotations = JoinSet::new();
    for _ in 0..50 {
        let (http, url, owner) = (
            http.clone(),
            format!("{base}/api/user-apis/{a_id}/rotate-key"),
            owner.clone(),
        );
        rotations.spawn(async move { call(&http, reqwest::Method::POST, url, &owner, None).await });
    }
    let mut keys = Vec::new();
    let mut rotate_statuses: HashMap<u16, usize> = HashMap::new();
    while let Some(done) = rotations.join_next().await {
        let (status, body) = done.unwrap().expect("the stack answers");
        *rotate_statuses.entry(status.as_u16()).or_default() += 1;
        if status == StatusCode::OK {
            keys.push(body["apiKey"].as_str().unwrap().to_owned());
        }
    }
    let mut working = 0;
    for key in &keys {
        let (status, _) = get_config(&http, &base, &a_store, key).await;
        working += usize::from(status == StatusCode::OK);
    }
    println!("50 concurrent rotate-keys: statuses {rotate_statuses:?}; keys that work: {working} of {} issued", keys.len());
    assert!(!keys.is_empty());
    assert_eq!(working, 1, "exactly one rotated key works");

    let mut creates = JoinSet::new();
    for i in 0..20 {
        let (http, base, owner) = (http.clone(), base.clone(), owner.clone());
        creates.spawn(async move { create(&http, &base, &owner, &format!("Parallel {i}")).await });
    }
    let mut created = Vec::new();
    while let Some(done) = creates.join_next().await {
        if let Some(record) = done.unwrap() {
            created.push(record["id"].as_str().unwrap().to_owned());
        }
    }
    let listed = list_ids(&http, &base, &owner).await;
    let missing = created.iter().filter(|id| !listed.contains(id)).count();
    println!(
        "20 concurrent creates: {} acknowledged, {missing} missing from the list",
        created.len()
    );
    assert_eq!((created.len(), missing), (20, 0));

    // 2. Message -> reply latency, one message per chat, every chat at once.
    let store = paired_store(&http, &base, &owner).await;
    let started = Instant::now();
    let mut chats = JoinSet::new();
    for n in 0..LATENCY_CHATS {
        let (http, base, store) = (http.clone(), base.clone(), store.clone());
        chats.spawn(async move {
            let sent = Instant::now();
            assert!(customer(&http, &base, &store, n).await, "message {n} taken");
            let deadline = sent + Duration::from_secs(60);
            while replies(&http, &base, &store, n).await == 0 {
                assert!(Instant::now() < deadline, "chat {n} answered");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            sent.elapsed()
        });
    }
    let mut samples = Vec::new();
    while let Some(done) = chats.join_next().await {
        samples.push(done.unwrap());
    }
    let elapsed = started.elapsed();
    println!(
        "{LATENCY_CHATS} customers at once, each to its reply in the outbox: {:.0} messages/s",
        LATENCY_CHATS as f64 / elapsed.as_secs_f64()
    );
    report("customer message -> reply in the simulator outbox", samples);

    // 3. The burst, with config writes and creates alongside, and a kill -9 in the middle.
    let first = LATENCY_CHATS;
    let gate = Arc::new(Semaphore::new(32));
    let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut burst = JoinSet::new();
    for n in first..first + BURST {
        let (http, base, store, gate, acked) = (
            http.clone(),
            base.clone(),
            store.clone(),
            gate.clone(),
            acked.clone(),
        );
        burst.spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let ok = customer(&http, &base, &store, n).await;
            if ok {
                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (n, ok)
        });
    }
    let writer = {
        let (http, base, owner, a_store) =
            (http.clone(), base.clone(), owner.clone(), a_store.clone());
        tokio::spawn(async move {
            let mut last_acked = None;
            for n in 0..10_000usize {
                let body = json!({"basePrompt": format!("w{n}")});
                let url = format!("{base}/api/client/{a_store}/config");
                match call(&http, reqwest::Method::PUT, url, &owner, Some(body)).await {
                    Some((StatusCode::OK, _)) => last_acked = Some(n),
                    _ => break,
                }
            }
            last_acked
        })
    };
    let creator = {
        let (http, base, owner) = (http.clone(), base.clone(), owner.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..10_000usize {
                match create(&http, &base, &owner, &format!("Burst {n}")).await {
                    Some(record) => ids.push(record["id"].as_str().unwrap().to_owned()),
                    None => break,
                }
            }
            ids
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(std::sync::atomic::Ordering::SeqCst) < KILL_AFTER {
        assert!(Instant::now() < deadline, "the burst stalled");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(stack); // kill -9
    let killed_at = Instant::now();
    let mut refused = Vec::new();
    let mut taken = 0;
    while let Some(done) = burst.join_next().await {
        let (n, ok) = done.unwrap();
        if ok {
            taken += 1;
        } else {
            refused.push(n);
        }
    }
    let last_config = writer.await.unwrap();
    let created_in_burst = creator.await.unwrap();
    println!(
        "killed with SIGKILL mid-burst: {taken} customer messages taken, {} refused; {} config writes and {} creates acknowledged",
        refused.len(),
        last_config.map_or(0, |n| n + 1),
        created_in_burst.len()
    );

    let stack = start(&bin, &data);
    let base = stack.url.clone();
    let healthy = health(&http, &base).await;
    println!(
        "restarted: listening {:.2} s after the kill, /health {healthy:?}",
        killed_at.elapsed().as_secs_f64()
    );
    wait_connected(&http, &base, &store).await;
    let resent_at = Instant::now();
    for &n in &refused {
        assert!(
            customer(&http, &base, &store, n).await,
            "message {n} taken after the restart"
        );
    }
    // Every chat of the burst, to its one reply (or a deadline).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut unanswered: Vec<usize> = (first..first + BURST).collect();
    while !unanswered.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for &n in &unanswered {
            if replies(&http, &base, &store, n).await == 0 {
                still.push(n);
            }
        }
        unanswered = still;
        if !unanswered.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let settled = resent_at.elapsed();
    // Anything sent twice would show by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for n in first..first + BURST {
        *counts
            .entry(replies(&http, &base, &store, n).await)
            .or_default() += 1;
    }
    if !unanswered.is_empty() {
        let refused_too = unanswered.iter().filter(|n| refused.contains(n)).count();
        println!(
            "never answered: {unanswered:?} ({refused_too} of them refused at the kill and sent again)"
        );
    }
    let once = counts.get(&1).copied().unwrap_or(0);
    let twice_or_more: usize = counts.iter().filter(|(k, _)| **k > 1).map(|(_, v)| v).sum();
    println!(
        "after the restart: {once} of {BURST} burst messages answered exactly once, {} never, {twice_or_more} more than once (all answered {:.2} s after the restart's resend)",
        counts.get(&0).copied().unwrap_or(0),
        settled.as_secs_f64()
    );

    let prompt = get_config(&http, &base, &a_store, &owner).await.1["basePrompt"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // The last acknowledged write, or the one in flight at the kill (it may have committed).
    let config_lost = match last_config {
        Some(n) => !(prompt == format!("w{n}") || prompt == format!("w{}", n + 1)),
        None => false,
    };
    let listed = list_ids(&http, &base, &owner).await;
    let creates_lost = created_in_burst
        .iter()
        .filter(|id| !listed.contains(id))
        .count();
    let health_after = health(&http, &base).await;
    println!(
        "acknowledged writes lost: config {} (final basePrompt {prompt:?}), creates {creates_lost}; /health {health_after:?}",
        usize::from(config_lost)
    );
    assert!(
        !config_lost && creates_lost == 0,
        "acknowledged writes lost"
    );
    assert_eq!(once, BURST, "every customer message answered exactly once");
    assert_eq!(health_after, Some(StatusCode::OK));
}
