//! A fake OpenAI-compatible chat-completions server (OpenRouter's documented shapes), at
//! the HTTP level: it answers from a script of canned responses — text ([`completion`]) or
//! tool calls ([`tool_calls`]) — then with a default success, and records every request it
//! got (so a test reads the `tools` offered, the `tool_choice` and the `role:"tool"`
//! results sent back: [`Script::tool_results`]). The script, the recording and the server
//! are shared with the fake Graph API (`fake_graph`).

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
    /// Scripts a text answer.
    pub fn says(&self, content: &str) {
        self.push(200, completion(content), None);
    }
    /// Scripts an answer calling `calls`: (name, arguments as the model writes them).
    pub fn calls(&self, calls: &[(&str, &str)]) {
        self.push(200, tool_calls(calls), None);
    }
    /// The request body of call `n` (1-based).
    pub fn request(&self, n: usize) -> Value {
        self.requests.lock().unwrap()[n - 1].1.clone()
    }
    /// The tool results request `n` (1-based) carried: (tool_call_id, parsed content).
    pub fn tool_results(&self, n: usize) -> Vec<(String, Value)> {
        self.request(n)["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| {
                let content = m["content"].as_str().unwrap();
                (
                    m["tool_call_id"].as_str().unwrap().to_owned(),
                    serde_json::from_str(content).unwrap(),
                )
            })
            .collect()
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

/// A chat-completions answer with `tool_calls` (ids `call_<n>`, arguments as given: they
/// may be malformed on purpose) and no text.
pub fn tool_calls(calls: &[(&str, &str)]) -> Value {
    let calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(n, (name, arguments))| {
            json!({"id": format!("call_{n}"), "type": "function",
                "function": {"name": name, "arguments": arguments}})
        })
        .collect();
    json!({"id":"gen-2","object":"chat.completion","created":1,"model":"test/model",
        "choices":[{"index":0,"finish_reason":"tool_calls",
            "message":{"role":"assistant","content":null,"tool_calls":calls}}],
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
