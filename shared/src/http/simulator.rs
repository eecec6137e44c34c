//! The simulator's dev-only routes (`/dev/simulator/...`), mounted by the local stack and
//! never by a Lambda function: pair a slot as a simulated phone (the link inside the QR
//! code), write as a customer or as the owner, read what was sent to a customer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::json::{ApiJson, ApiPath, ApiQuery};
use crate::domain::slot::parse_slot;
use crate::whatsapp::events::SlotKey;
use crate::whatsapp::simulator::{SimError, Simulator};
use crate::ApiError;

pub fn router(simulator: Arc<Simulator>) -> Router {
    let routes = Router::new()
        .route(
            "/dev/simulator/{store_id}/{slot}/pair",
            get(pair).post(pair),
        )
        .route(
            "/dev/simulator/{store_id}/{slot}/messages",
            post(customer_message),
        )
        .route(
            "/dev/simulator/{store_id}/{slot}/owner-messages",
            post(owner_message),
        )
        .route("/dev/simulator/{store_id}/{slot}/outbox", get(outbox));
    super::error_contract(routes)
        .layer(DefaultBodyLimit::max(super::BODY_LIMIT))
        .with_state(simulator)
}

impl From<SimError> for ApiError {
    fn from(err: SimError) -> Self {
        match err {
            SimError::NotPairing | SimError::NotConnected => ApiError::Conflict(err.to_string()),
            SimError::WrongCode => ApiError::bad_request("wrong_code", err.to_string()),
            SimError::Invalid(message) => ApiError::bad_request("validation_error", message),
            SimError::NotQueued(_) => ApiError::Unavailable(err.to_string()),
        }
    }
}

fn key(store_id: String, raw_slot: &str) -> Result<SlotKey, ApiError> {
    Ok(SlotKey {
        store_id,
        slot: parse_slot(raw_slot)?,
    })
}

#[derive(Deserialize)]
struct PairQuery {
    code: Option<String>,
    phone: Option<String>,
}

async fn pair(
    State(sim): State<Arc<Simulator>>,
    ApiPath((store_id, slot)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<PairQuery>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let key = key(store_id, &slot)?;
    let body_phone = if body.is_empty() {
        None
    } else {
        serde_json::from_slice::<Value>(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?
            .get("phone")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let phone = sim
        .pair(
            &key,
            query.code.as_deref(),
            body_phone.or(query.phone).as_deref(),
        )
        .await?;
    Ok(Json(
        json!({ "success": true, "phone": phone, "message": format!("slot {} paired with the simulated phone {phone}", key.slot) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerMessage {
    from: String,
    text: String,
    id: Option<String>,
}

async fn customer_message(
    State(sim): State<Arc<Simulator>>,
    ApiPath((store_id, slot)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<CustomerMessage>,
) -> Result<Json<Value>, ApiError> {
    let id = sim
        .customer_message(
            &key(store_id, &slot)?,
            &body.from,
            &body.text,
            body.id.as_deref(),
        )
        .await?;
    Ok(Json(json!({ "success": true, "id": id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerMessage {
    to: String,
    text: String,
}

async fn owner_message(
    State(sim): State<Arc<Simulator>>,
    ApiPath((store_id, slot)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<OwnerMessage>,
) -> Result<Json<Value>, ApiError> {
    let id = sim
        .owner_message(&key(store_id, &slot)?, &body.to, &body.text)
        .await?;
    Ok(Json(json!({ "success": true, "id": id })))
}

#[derive(Deserialize)]
struct OutboxQuery {
    chat: Option<String>,
}

async fn outbox(
    State(sim): State<Arc<Simulator>>,
    ApiPath((store_id, slot)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> Result<Json<Value>, ApiError> {
    let chat = query
        .chat
        .ok_or_else(|| ApiError::invalid("chat", "chat (the customer's number) is required"))?;
    Ok(Json(
        json!({ "data": sim.outbox(&key(store_id, &slot)?, &chat) }),
    ))
}
