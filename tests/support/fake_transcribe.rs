//! A fake OpenAI-compatible transcription server at the HTTP level:
//! `POST /audio/transcriptions` (multipart: `file`, `model`, `language`,
//! `response_format`), answering from a script of canned responses first (status, JSON,
//! `Retry-After`), then `{"text": <the default transcript>}`. It records every request:
//! the file's name and type, the fields, the file's size and its first bytes (so a test can
//! tell a real Ogg file arrived: `OggS`), and the `Authorization` header. [`FakeTranscribe::slow`]
//! makes every answer wait, as a real service takes seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::fake_llm::{answer, serve, Script};

/// One transcription request as received.
#[derive(Debug, Clone, Default)]
pub struct Heard {
    pub file_name: String,
    pub content_type: String,
    pub model: String,
    pub language: String,
    pub file_len: usize,
    pub file_head: Vec<u8>,
    pub auth: Option<String>,
}

pub struct FakeTranscribe {
    pub url: String,
    pub script: Arc<Script>,
    pub heard: Arc<Mutex<Vec<Heard>>>,
    /// What a success says when nothing is scripted.
    pub default_text: Arc<Mutex<String>>,
    /// How long each answer waits (ms).
    pub delay_ms: Arc<AtomicU64>,
}

impl FakeTranscribe {
    pub fn heard(&self) -> Vec<Heard> {
        self.heard.lock().unwrap().clone()
    }
    pub fn says(&self, text: &str) {
        *self.default_text.lock().unwrap() = text.to_owned();
    }
    /// Every later answer waits `delay` first.
    pub fn slow(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

/// Reads a multipart body the way a server would (boundary from the header).
fn parse(headers: &HeaderMap, body: &[u8]) -> Heard {
    let boundary = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("boundary=").nth(1))
        .unwrap_or_default()
        .to_owned();
    let delimiter = format!("--{boundary}");
    let mut heard = Heard {
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ..Heard::default()
    };
    let mut rest = body;
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        let Some(head_end) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let content = &rest[head_end + 4..];
        let end = find(content, format!("\r\n{delimiter}").as_bytes()).unwrap_or(content.len());
        let value = &content[..end];
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("");
        match name {
            "file" => {
                heard.file_name = head
                    .split("filename=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap_or("")
                    .to_owned();
                heard.content_type = head
                    .split("Content-Type: ")
                    .nth(1)
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default();
                heard.file_len = value.len();
                heard.file_head = value[..value.len().min(8)].to_vec();
            }
            "model" => heard.model = String::from_utf8_lossy(value).to_string(),
            "language" => heard.language = String::from_utf8_lossy(value).to_string(),
            _ => {}
        }
        rest = &content[end..];
    }
    heard
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

type S = (
    Arc<Script>,
    Arc<Mutex<Vec<Heard>>>,
    Arc<Mutex<String>>,
    Arc<AtomicU64>,
);

/// The fake transcription server; unscripted requests are transcribed as the default text
/// ("oi, queria uma pizza grande de calabresa pra entrega").
pub async fn transcribe() -> FakeTranscribe {
    let script = Arc::new(Script::default());
    let heard = Arc::new(Mutex::new(Vec::new()));
    let default_text = Arc::new(Mutex::new(
        "oi, queria uma pizza grande de calabresa pra entrega".to_owned(),
    ));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let state: S = (
        script.clone(),
        heard.clone(),
        default_text.clone(),
        delay_ms.clone(),
    );
    let router = Router::new()
        .route(
            "/audio/transcriptions",
            post(
                |State((s, heard, text, delay)): State<S>, headers: HeaderMap, body: Bytes| async move {
                    let wait = delay.load(Ordering::SeqCst);
                    if wait > 0 {
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    let request = parse(&headers, &body);
                    let summary: Value =
                        json!({"file": request.file_name, "bytes": request.file_len});
                    heard.lock().unwrap().push(request);
                    let ok = json!({ "text": text.lock().unwrap().clone() });
                    answer(&s, "/audio/transcriptions".into(), &headers, summary, ok)
                },
            ),
        )
        .layer(DefaultBodyLimit::max(32 * 1024 * 1024))
        .with_state(state);
    FakeTranscribe {
        url: serve(router).await,
        script,
        heard,
        default_text,
        delay_ms,
    }
}
