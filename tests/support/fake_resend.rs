//! A fake Resend e-mail API at the HTTP level, in Resend's documented shapes:
//! `POST /emails` with `Authorization: Bearer <key>`, an optional `Idempotency-Key`, and a
//! JSON `{from, to, subject, text}`; it answers `{"id": …}`. Like Resend, a second request
//! with an idempotency key it has seen is answered with the first e-mail's id and sends
//! nothing. It can fail the next requests with a status (a 500 to test retries), and it
//! keeps every e-mail it "sent" for the test to read.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::fake_llm::serve;

/// One e-mail sent: its idempotency key, authorization and body.
#[derive(Debug, Clone)]
pub struct Email {
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
    pub body: Value,
}

impl Email {
    pub fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or_default()
    }
    pub fn subject(&self) -> &str {
        self.body["subject"].as_str().unwrap_or_default()
    }
}

#[derive(Default)]
pub struct Outbox {
    sent: Mutex<Vec<Email>>,
    /// Statuses to answer the next requests with, in order, before succeeding again.
    failures: Mutex<Vec<u16>>,
    /// Every request, failed ones included.
    requests: Mutex<usize>,
}

pub struct FakeResend {
    pub url: String,
    pub outbox: Arc<Outbox>,
}

impl FakeResend {
    /// The e-mails sent so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        self.outbox.sent.lock().unwrap().clone()
    }
    /// The next `n` requests fail with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.outbox
            .failures
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(status, n));
    }
    pub fn requests(&self) -> usize {
        *self.outbox.requests.lock().unwrap()
    }
}

async fn send(
    State(outbox): State<Arc<Outbox>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    *outbox.requests.lock().unwrap() += 1;
    let failure = {
        let mut failures = outbox.failures.lock().unwrap();
        (!failures.is_empty()).then(|| failures.remove(0))
    };
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap();
        return (
            status,
            Json(json!({"name": "internal_server_error", "message": "fake failure"})),
        )
            .into_response();
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let key = header("idempotency-key");
    let mut sent = outbox.sent.lock().unwrap();
    if let Some(n) = key.as_ref().and_then(|k| {
        sent.iter()
            .position(|e| e.idempotency_key.as_ref() == Some(k))
    }) {
        return Json(json!({ "id": format!("email-{n}") })).into_response();
    }
    if body["to"].as_array().is_none_or(|to| to.is_empty()) || body["from"].as_str().is_none() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"name": "validation_error", "message": "to and from are required"})),
        )
            .into_response();
    }
    sent.push(Email {
        idempotency_key: key,
        authorization: header("authorization"),
        body,
    });
    Json(json!({ "id": format!("email-{}", sent.len() - 1) })).into_response()
}

/// Starts a fake Resend API.
pub async fn resend() -> FakeResend {
    let outbox = Arc::new(Outbox::default());
    let router = Router::new()
        .route("/emails", post(send))
        .with_state(outbox.clone());
    FakeResend {
        url: serve(router).await,
        outbox,
    }
}
