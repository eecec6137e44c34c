//! A fake order-webhook receiver at the HTTP level, on loopback (reached under the local
//! stack's outbound policy): answers each `POST /hooks/orders` with the next scripted
//! status (then 200) and records every request's headers and body, for the signature and
//! the retries to be checked.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

use crate::fake_llm::serve;

pub struct Receiver {
    /// The URL to register as the webhook.
    pub url: String,
    /// Every request received: its headers and body.
    pub calls: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

impl Receiver {
    /// The requests so far.
    pub fn calls(&self) -> Vec<(HeaderMap, String)> {
        self.calls.lock().unwrap().clone()
    }
}

/// A receiver answering `statuses` in turn, then 200.
pub async fn receiver(statuses: Vec<u16>) -> Receiver {
    let calls: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let recorded = calls.clone();
    let statuses = Arc::new(Mutex::new(VecDeque::from(statuses)));
    let router = Router::new().route(
        "/hooks/orders",
        post(move |headers: HeaderMap, body: String| {
            let recorded = recorded.clone();
            let statuses = statuses.clone();
            async move {
                recorded.lock().unwrap().push((headers, body));
                let status = statuses.lock().unwrap().pop_front().unwrap_or(200);
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    Receiver {
        url: format!("{}/hooks/orders", serve(router).await),
        calls,
    }
}
