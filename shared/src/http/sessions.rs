//! WhatsApp sessions of a store (`/api/whatsapp/{storeId}/...`): the three slots and their
//! state, as the gateway records them. Owner token or the store's apiKey.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::client_config::check_store_id;
use super::AppState;
use crate::auth::caller::store_caller;
use crate::records;
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/whatsapp/{store_id}/sessions", get(list))
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(store_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = store_caller(&state, &headers, &store_id).await?;
    check_store_id(&store_id)?;
    let slots = records::list_slots(state.store.as_ref(), &store_id, &caller).await?;
    Ok(Json(json!({ "data": slots })))
}
