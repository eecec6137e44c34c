//! The HTTP API: one axum router per Lambda function, each also mounted unchanged by the
//! local stack. Common behaviour lives here: the shared state, the 64 KiB body limit, the
//! error contract for what the framework answers itself (unknown routes and methods, and
//! [`json_errors`], the net under every response), and request tracing.
//!
//! Invariant: every error response of every router — ours, the Lambda functions', the
//! local stack's dev and console routes — is `{"error":{"code","message"}}` with a JSON
//! content type. Handlers use `json::{ApiJson, ApiPath, ApiQuery}` for precise codes;
//! `tests/it/api/error_contract.rs` fuzzes every router to hold the rest to it.

pub mod client_config;
pub mod cloud_api;
pub mod console_headers;
pub mod dev_host;
pub mod dev_sign_in;
pub mod extract;
pub mod health;
pub mod inbox;
pub mod json;
pub mod knowledge;
pub mod openapi;
pub mod orders;
pub mod sessions;
pub mod simulator;
pub mod usage;
pub mod user_apis;
pub mod webhook;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::auth::jwt::UserTokens;
use crate::crypto::SecretBox;
use crate::domain::error::DomainError;
use crate::store::Store;
use crate::ApiError;

pub const BODY_LIMIT: usize = 64 * 1024;

/// Everything a route needs, built once per process (per Lambda cold start).
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub users: Arc<UserTokens>,
    pub secrets: Arc<SecretBox>,
    /// How Saipos is called (timeouts, retries, the process-wide rate limit).
    pub saipos: crate::saipos::client::Settings,
    /// Where session commands go (the gateway's command queue); absent where the
    /// process can't reach a gateway (session start/logout then answer 503).
    pub sessions: Option<SessionCommands>,
    /// Meta's webhook settings; absent where the webhook isn't served (it answers 503).
    /// (The `whatsapp-webhook` function builds a smaller state of its own.)
    pub webhook: Option<webhook::WebhookSettings>,
    /// Meta's Graph API (`META_GRAPH_URL`): attaching a Cloud API number proves the token
    /// through it.
    pub graph: Arc<crate::bot::cloud_api::GraphClient>,
    /// The bot's inbound queue, where an order's status change leaves the message the
    /// customer gets (`BotJob::Notice`); absent where orders aren't served (the message
    /// is then noted on the order as not sent).
    pub notices: Option<Arc<dyn crate::queue::Queue>>,
}

/// The session routes' link to the gateway.
#[derive(Clone)]
pub struct SessionCommands {
    pub queue: Arc<dyn crate::queue::Queue>,
    /// How long `start`/`logout` wait for the gateway's answer before returning the
    /// current status.
    pub wait: std::time::Duration,
    /// The gateway's outbound queue: an owner's message sent from the console to a linked
    /// number goes out through it, like the attendant's replies (`None`: not configured).
    pub outbound: Option<Arc<dyn crate::queue::Queue>>,
}

/// A domain rule's refusal, as the JSON error contract shows it: a 400 whose code is
/// `validation_error` (with the field) or the rule's own code.
impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid { field, message } => ApiError::invalid(field, message),
            DomainError::Refused { code, message } => ApiError::bad_request(code, message),
        }
    }
}

/// Wraps a function's routes with the behaviour every router shares.
pub fn finish<S: Clone + Send + Sync + 'static>(routes: Router<S>, state: S) -> Router {
    error_contract(routes.fallback(|| async { ApiError::NotFound("no such route".into()) }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            // Only method and path are recorded: never headers (tokens) or bodies (secrets).
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
}

/// The error contract on a router's own answers: a JSON 405 on a known path with another
/// method, and [`json_errors`] under every response (also the fallback's). [`finish`] adds
/// it to every function's router; the local stack's dev and console routers (merged
/// beside `all_routes`, so without a fallback of their own) add it to theirs. Applies to
/// the routes present when it is called.
pub fn error_contract<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes
        .method_not_allowed_fallback(|method: Method| async move {
            ApiError::MethodNotAllowed(format!("method {method} is not allowed on this route"))
        })
        .layer(axum::middleware::map_response(json_errors))
}

/// The most of a framework error's text body that becomes its message.
const FRAMEWORK_TEXT_MAX: usize = 1024;

/// Rewrites an error response that isn't JSON — axum's own rejections, a static file's
/// 404 or 405 — as the JSON error, keeping its status and other headers (`Allow`). A 4xx
/// keeps the framework's text as the message (it describes the request, never our state);
/// a 5xx gets its status's generic reason, so nothing internal leaks. The code is the
/// status's reason in snake case (`not_found`, `payload_too_large`), as `ApiError` names
/// them. Costs one header check on every other response.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let reason = status.canonical_reason().unwrap_or("error");
    let text = axum::body::to_bytes(body, FRAMEWORK_TEXT_MAX)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    let message = match text {
        Some(text) if status.is_client_error() => text,
        _ => reason.to_owned(),
    };
    let code = match status {
        StatusCode::INTERNAL_SERVER_ERROR => "internal".to_owned(),
        StatusCode::SERVICE_UNAVAILABLE => "unavailable".to_owned(),
        _ => reason.to_ascii_lowercase().replace([' ', '-'], "_"),
    };
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), "framework error answered as JSON");
    }
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let json = Json(serde_json::json!({ "error": { "code": code, "message": message } }));
    (parts, json).into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// Every route of every function, as the local stack serves them.
pub fn all_routes(state: AppState) -> Router {
    finish(
        Router::new()
            .merge(health::routes())
            .merge(user_apis::routes())
            .merge(client_config::routes())
            .merge(knowledge::routes())
            .merge(usage::routes())
            .merge(orders::routes())
            .merge(sessions::routes())
            .merge(inbox::routes())
            .merge(cloud_api::routes())
            .merge(webhook::routes()),
        state,
    )
}

/// The router of the `user-apis` Lambda function (it also answers `/health`).
pub fn user_apis_router(state: AppState) -> Router {
    finish(health::routes().merge(user_apis::routes()), state)
}

/// The router of the `client-config` Lambda function: the bot config, the store's
/// knowledge (menu, profile, status) and its orders.
pub fn client_config_router(state: AppState) -> Router {
    finish(
        client_config::routes()
            .merge(knowledge::routes())
            .merge(usage::routes())
            .merge(orders::routes()),
        state,
    )
}

/// The router of the `whatsapp-sessions` Lambda function.
pub fn sessions_router(state: AppState) -> Router {
    finish(
        sessions::routes()
            .merge(inbox::routes())
            .merge(cloud_api::routes()),
        state,
    )
}

/// The router of the `whatsapp-webhook` Lambda function, from its own
/// [`WebhookState`](webhook::WebhookState) (or from an [`AppState`]).
pub fn webhook_router<S>(state: S) -> Router
where
    S: Clone + Send + Sync + 'static,
    webhook::WebhookState: axum::extract::FromRef<S>,
{
    finish(webhook::routes(), state)
}
