//! A Lambda Runtime API emulator, so a test runs a function's real executable (the native
//! build, or the `bootstrap` SAM packaged) the way Lambda runs it: spawned with a clean
//! environment, `AWS_LAMBDA_RUNTIME_API` and the `AWS_LAMBDA_*` variables, it initialises,
//! asks for an event (`GET /2018-06-01/runtime/invocation/next`, which waits for one) and
//! answers it (`POST …/invocation/{id}/response` or `…/error`); a runtime that can't start
//! posts `…/runtime/init/error` (or just exits). That is the whole API a Rust runtime uses
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>); cargo lambda's own
//! emulator (`cargo lambda watch`) builds and watches sources instead of running a given
//! binary. One emulator serves one process, one invocation at a time, as Lambda does per
//! execution environment. The time from spawn to the first `GET …/next` is the function's
//! init (cold start) time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// The function's response (`…/response`), as JSON.
    Response(Value),
    /// The function reported an error (`…/error`): `{"errorType","errorMessage"}`.
    Error(Value),
}

struct Invocation {
    event: Value,
    done: oneshot::Sender<Outcome>,
}

struct Emulator {
    function: String,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    answers: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_next: Mutex<Option<Instant>>,
    init_error: Mutex<Option<String>>,
    polled: Notify,
    ids: AtomicU64,
}

/// A function's process under the emulator. Killed when dropped.
pub struct Function {
    pub name: String,
    child: Child,
    spawned: Instant,
    emulator: Arc<Emulator>,
    invoke: mpsc::UnboundedSender<Invocation>,
    log: tempfile::NamedTempFile,
}

impl Function {
    /// Starts the emulator on a free loopback port and spawns `bin` under it, with only
    /// `env` and what Lambda itself sets (`AWS_LAMBDA_*`, `_HANDLER`, `LAMBDA_TASK_ROOT`)
    /// in its environment. Its output (the function's logs) goes to a file shown on failure.
    pub async fn spawn(bin: &Path, name: &str, env: &[(String, String)]) -> Function {
        let (invoke, events) = mpsc::unbounded_channel();
        let emulator = Arc::new(Emulator {
            function: name.to_owned(),
            events: tokio::sync::Mutex::new(events),
            answers: Mutex::default(),
            first_next: Mutex::default(),
            init_error: Mutex::default(),
            polled: Notify::new(),
            ids: AtomicU64::new(1),
        });
        let api = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(emulator.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });

        let log = tempfile::NamedTempFile::new().expect("a log file");
        let task_root = bin.parent().expect("the binary's directory");
        let spawned = Instant::now();
        let child = Command::new(bin)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/12/06/[$LATEST]0123456789abcdef",
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("_HANDLER", "bootstrap")
            .env("LAMBDA_TASK_ROOT", task_root)
            .current_dir(task_root)
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        Function {
            name: name.to_owned(),
            child,
            spawned,
            emulator,
            invoke,
            log,
        }
    }

    /// Waits (up to `within`) for the function to finish its init and ask for its first
    /// event; returns the init time, from spawn to that first `GET …/next`. Err when the
    /// process exits or reports an init error first, or time runs out: with its logs.
    pub async fn ready(&mut self, within: Duration) -> Result<Duration, String> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.emulator.polled.notified();
            if let Some(at) = *self.emulator.first_next.lock().unwrap() {
                return Ok(at - self.spawned);
            }
            if let Some(err) = self.emulator.init_error.lock().unwrap().clone() {
                return Err(format!("init error: {err}\n{}", self.logs()));
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited at init ({status})\n{}", self.logs()));
            }
            if Instant::now() > deadline {
                return Err(format!("no GET /next within {within:?}\n{}", self.logs()));
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }

    /// Sends `event` and waits (up to 30 s) for the function's answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        let (done, answer) = oneshot::channel();
        self.invoke.send(Invocation { event, done }).unwrap();
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => panic!("{}: the invocation was dropped", self.name),
            Err(_) => panic!("{}: no answer within 30 s\n{}", self.name, self.logs()),
        }
    }

    /// The response of an invocation that must succeed.
    pub async fn respond(&self, event: Value) -> Value {
        match self.invoke(event).await {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("{}: invocation error {e}\n{}", self.name, self.logs()),
        }
    }

    /// Waits (up to `within`) for the process to exit; its exit code.
    pub async fn exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Whether the process asked for an event at all.
    pub fn polled(&self) -> bool {
        self.emulator.first_next.lock().unwrap().is_some()
    }

    /// What the function printed so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn next(State(emu): State<Arc<Emulator>>) -> Response {
    emu.first_next
        .lock()
        .unwrap()
        .get_or_insert_with(Instant::now);
    emu.polled.notify_waiters();
    let Some(Invocation { event, done }) = emu.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let id = format!(
        "8476a536-e9f4-11e8-9739-{:012x}",
        emu.ids.fetch_add(1, Ordering::Relaxed)
    );
    emu.answers.lock().unwrap().insert(id.clone(), done);
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(30);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    };
    set("lambda-runtime-aws-request-id", id);
    set(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            emu.function
        ),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    (headers, event.to_string()).into_response()
}

fn answer(emu: &Emulator, id: &str, outcome: Outcome) -> StatusCode {
    match emu.answers.lock().unwrap().remove(id) {
        Some(done) => {
            let _ = done.send(outcome);
            StatusCode::ACCEPTED
        }
        // Lambda: an unknown or already answered request id.
        None => StatusCode::BAD_REQUEST,
    }
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(emu): State<Arc<Emulator>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    answer(&emu, &id, Outcome::Response(json(&body)))
}

async fn error(
    State(emu): State<Arc<Emulator>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    answer(&emu, &id, Outcome::Error(json(&body)))
}

async fn init_error(State(emu): State<Arc<Emulator>>, body: Bytes) -> StatusCode {
    *emu.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    emu.polled.notify_waiters();
    StatusCode::ACCEPTED
}
