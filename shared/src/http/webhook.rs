//! Meta's WhatsApp Cloud API webhook (`/webhooks/whatsapp`): the verification handshake
//! (GET) and deliveries (POST). A delivery is checked against `X-Hub-Signature-256` over the
//! raw body before anything is parsed, each message or status is routed to its store by
//! `metadata.phone_number_id` and queued for the bot, and only then is Meta answered 200:
//! a failure to queue answers 503, so Meta delivers again instead of the message being lost.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::json::ApiQuery;
use super::AppState;
use crate::bot::cloud_api;
use crate::queue::Queue;
use crate::store::Store;
use crate::ApiError;

/// Meta sends batches up to 3 MB.
pub const WEBHOOK_BODY_LIMIT: usize = 3 * 1024 * 1024;

/// The webhook's platform-level settings (secrets from the platform secret, never logged).
#[derive(Clone)]
pub struct WebhookSettings {
    pub app_secret: String,
    pub verify_token: String,
    /// The bot's inbound queue.
    pub inbound: Arc<dyn Queue>,
}

/// What the webhook's routes read: the store (to route a number to its store) and Meta's
/// settings. The `whatsapp-webhook` function builds only this (no user tokens, no data
/// key); where the webhook is mounted beside the other routes it comes from [`AppState`].
#[derive(Clone)]
pub struct WebhookState {
    pub store: Arc<dyn Store>,
    /// Absent where the webhook isn't configured (it answers 503).
    pub settings: Option<WebhookSettings>,
}

impl FromRef<AppState> for WebhookState {
    fn from_ref(state: &AppState) -> Self {
        WebhookState {
            store: state.store.clone(),
            settings: state.webhook.clone(),
        }
    }
}

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    WebhookState: FromRef<S>,
{
    Router::new()
        .route("/webhooks/whatsapp", get(verify).post(receive))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

fn settings(state: &WebhookState) -> Result<&WebhookSettings, ApiError> {
    state.settings.as_ref().ok_or_else(|| {
        ApiError::Unavailable("the WhatsApp Cloud API webhook is not configured here".into())
    })
}

#[derive(Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn verify(
    State(state): State<WebhookState>,
    ApiQuery(handshake): ApiQuery<Handshake>,
) -> Result<String, ApiError> {
    let settings = settings(&state)?;
    if handshake.mode.as_deref() != Some("subscribe") {
        return Err(ApiError::bad_request(
            "invalid_handshake",
            "hub.mode must be subscribe",
        ));
    }
    let challenge = handshake
        .challenge
        .ok_or_else(|| ApiError::bad_request("invalid_handshake", "hub.challenge is missing"))?;
    let given = handshake.verify_token.unwrap_or_default();
    let matches: bool =
        subtle::ConstantTimeEq::ct_eq(given.as_bytes(), settings.verify_token.as_bytes()).into();
    if !matches || settings.verify_token.is_empty() {
        return Err(ApiError::Forbidden(
            "hub.verify_token does not match".into(),
        ));
    }
    Ok(challenge)
}

async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let settings = settings(&state)?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !cloud_api::signature_valid(&settings.app_secret, signature, &body) {
        return Err(ApiError::Unauthorized(
            "invalid_signature",
            "X-Hub-Signature-256 is missing or does not match the body".into(),
        ));
    }
    let payload: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })?;
    let events = cloud_api::parse_webhook(&payload)
        .map_err(|message| ApiError::bad_request("invalid_webhook", message))?;
    let mut queued = 0;
    let mut routes: std::collections::HashMap<String, Option<String>> = Default::default();
    for event in events {
        let number = event.phone_number_id().to_owned();
        let store_id = match routes.get(&number) {
            Some(found) => found.clone(),
            None => {
                let found = cloud_api::route(state.store.as_ref(), &number).await?;
                routes.insert(number.clone(), found.clone());
                found
            }
        };
        let Some(store_id) = store_id else {
            tracing::warn!(phone_number_id = %number, "webhook for a number no store has attached; ignored");
            continue;
        };
        let job = event.into_job(&store_id);
        settings
            .inbound
            .send(job.outgoing())
            .await
            .map_err(|e| ApiError::Unavailable(format!("could not queue the webhook: {e}")))?;
        queued += 1;
    }
    Ok((
        StatusCode::OK,
        Json(json!({ "success": true, "queued": queued })),
    ))
}
