//! `GET /health`: liveness plus a real round trip to the store, so a load balancer or an
//! operator sees a broken dependency, not just a running process; where a gateway runs in
//! the same process (the local stack), every slot's state too.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let started = Instant::now();
    let result = state.store.health().await;
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let (status, ok, error) = match result {
        Ok(()) => (StatusCode::OK, true, None),
        Err(err) => {
            tracing::warn!(error = %err, "health check: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                false,
                Some("store unavailable"),
            )
        }
    };
    let mut body = json!({
        "status": if ok { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "checks": { "store": { "kind": state.store.kind(), "ok": ok, "latencyMs": latency_ms, "error": error } },
    });
    // The slots a gateway runs in this process (the local stack): each one's state and
    // how long it has been silent. A Lambda function runs none and lists none.
    let slots = crate::health::liveness::snapshot();
    if !slots.is_empty() {
        body["slots"] = json!(slots);
    }
    (status, Json(body))
}
