//! A fake Saipos Order API at the HTTP level, with the shapes public clients use:
//! `POST /auth {"idPartner","secret"}` → `{"token"}`; `POST /order` with that token in
//! `Authorization` (raw or `Bearer`), `order_id` the idempotency key. It behaves as Saipos
//! is documented to: a token it didn't issue (or one it expired) gets `errorCode` 901, an
//! `order_id` it already has gets 904, a body without `cod_store`, `items` or `order_id`
//! gets 902; scripted answers make it fail the way a server does. Every request is
//! recorded, so a test checks what reached Saipos.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::fake_llm::serve;

pub const PARTNER: &str = "partner-123";
pub const SECRET: &str = "saipos-secret-abc";

#[derive(Default)]
pub struct State {
    /// Tokens issued and still valid.
    pub tokens: HashSet<String>,
    pub issued: usize,
    /// Order ids taken.
    pub orders: HashSet<String>,
    /// Answers for the next `POST /order`s, in turn, before the real behaviour.
    pub script: VecDeque<(u16, Value)>,
    /// Every `/auth` body, and every `/order` as (Authorization, body).
    pub auths: Vec<Value>,
    pub posted: Vec<(String, Value)>,
}

#[derive(Clone)]
pub struct FakeSaiposOrder {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeSaiposOrder {
    /// Answers the next order POSTs with these (status, body), in turn.
    pub fn script(&self, answers: Vec<(u16, Value)>) {
        self.state.lock().unwrap().script.extend(answers);
    }

    /// Saipos forgets every token (they expired).
    pub fn expire_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    /// Saipos already has this order.
    pub fn knows(&self, order_id: &str) {
        self.state
            .lock()
            .unwrap()
            .orders
            .insert(order_id.to_owned());
    }

    pub fn auths(&self) -> usize {
        self.state.lock().unwrap().auths.len()
    }

    pub fn posted(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().posted.clone()
    }
}

fn error(status: StatusCode, code: u32, message: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({
            "t": "error", "dateTime": "2026-12-06T12:00:00Z", "errorMessage": message,
            "errorCode": code, "guidRequest": "00000000-0000-0000-0000-000000000000"
        })),
    )
}

pub async fn fake_saipos_order() -> FakeSaiposOrder {
    let state: Arc<Mutex<State>> = Arc::default();
    let auth_state = state.clone();
    let order_state = state.clone();
    let router = Router::new()
        .route(
            "/auth",
            post(move |Json(body): Json<Value>| {
                let state = auth_state.clone();
                async move {
                    let mut s = state.lock().unwrap();
                    s.auths.push(body.clone());
                    if body["idPartner"] != PARTNER || body["secret"] != SECRET {
                        return error(StatusCode::UNAUTHORIZED, 901, "Parceiro inválido");
                    }
                    s.issued += 1;
                    let token = format!("jwt-{}", s.issued);
                    s.tokens.insert(token.clone());
                    (StatusCode::OK, Json(json!({ "token": token })))
                }
            }),
        )
        .route(
            "/order",
            post(move |headers: HeaderMap, Json(body): Json<Value>| {
                let state = order_state.clone();
                async move {
                    let mut s = state.lock().unwrap();
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    s.posted.push((auth.clone(), body.clone()));
                    let token = auth.strip_prefix("Bearer ").unwrap_or(&auth);
                    if !s.tokens.contains(token) {
                        return error(StatusCode::UNAUTHORIZED, 901, "Token inválido ou expirado");
                    }
                    if let Some((status, answer)) = s.script.pop_front() {
                        return (StatusCode::from_u16(status).unwrap(), Json(answer));
                    }
                    let order_id = body["order_id"].as_str().unwrap_or("").to_owned();
                    if order_id.is_empty()
                        || body["cod_store"].as_str().unwrap_or("").is_empty()
                        || body["items"].as_array().is_none_or(Vec::is_empty)
                    {
                        return error(StatusCode::BAD_REQUEST, 902, "Dados inválidos");
                    }
                    if !s.orders.insert(order_id) {
                        return error(StatusCode::BAD_REQUEST, 904, "Pedido já integrado");
                    }
                    (StatusCode::OK, Json(json!({})))
                }
            }),
        );
    FakeSaiposOrder {
        url: serve(router).await,
        state,
    }
}
