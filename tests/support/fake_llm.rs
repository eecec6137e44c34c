//! A fake OpenAI-compatible chat-completions server (OpenRouter's documented shapes), at
//! the HTTP level: it answers from a script of canned responses, then with a default
//! success, and records every request it got. The script, the recording and the server are
//! shared with the fake Graph API (`fake_graph`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// One scripted answer: status, JSON body, optional `Retry-After` seconds.
pub type Canned = (u16, Value, Option<u64>);

#[derive(Default)]
pub struct Script {
    pub answers: Mutex<VecDeque<Canned>>,
    /// Every request body received, in order (with the path for the Graph API).
    pub requests: Mutex<Vec<(String, Value, Option<String>)>>,
}

impl Script {
    pub fn push(&self, status: u16, body: Value, retry_after: Option<u64>) {
        self.answers
            .lock()
            .unwrap()
            .push_back((status, body, retry_after));
    }
    pub fn requests(&self) -> Vec<(String, Value, Option<String>)> {
        self.requests.lock().unwrap().clone()
    }
    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

pub struct Fake {
    pub url: String,
    pub script: Arc<Script>,
}

/// A chat-completions success with `content`.
pub fn completion(content: &str) -> Value {
    json!({"id":"gen-1","object":"chat.completion","created":1,"model":"test/model",
        "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":content}}],
        "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})
}

pub(crate) fn answer(
    script: &Script,
    path: String,
    headers: &HeaderMap,
    body: Value,
    default: Value,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    script.requests.lock().unwrap().push((path, body, auth));
    let (status, body, retry_after) = script
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((200, default, None));
    let mut response = (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    response
}

pub(crate) async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// The fake LLM; by default every call answers "Resposta N" (N counts the calls).
pub async fn llm() -> Fake {
    let script = Arc::new(Script::default());
    let router = Router::new()
        .route(
            "/chat/completions",
            post(|State(s): State<Arc<Script>>, headers: HeaderMap, Json(body): Json<Value>| async move {
                let n = s.count() + 1;
                answer(&s, "/chat/completions".into(), &headers, body, completion(&format!("Resposta {n}")))
            }),
        )
        .with_state(script.clone());
    Fake {
        url: serve(router).await,
        script,
    }
}
