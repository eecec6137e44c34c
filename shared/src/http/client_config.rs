//! The attendant's configuration (`/api/client/{storeId}/config`), readable and writable by
//! the store's owner or with the store's apiKey. GET is one read; PUT is one conditional
//! write that also proves ownership.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};

use super::json::ApiJson;
use super::AppState;
use crate::auth::caller::store_caller;
use crate::domain::bot_config::{BotConfig, ConfigPatchRequest};
use crate::records;
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/client/{store_id}/config", get(read).put(write))
}

pub(super) fn check_store_id(store_id: &str) -> Result<(), ApiError> {
    if crate::ids::looks_like_id(store_id, "st") {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no WhatsApp connection with storeId {store_id:?}"
        )))
    }
}

async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(store_id): Path<String>,
) -> Result<Json<BotConfig>, ApiError> {
    let caller = store_caller(&state, &headers, &store_id).await?;
    check_store_id(&store_id)?;
    Ok(Json(
        records::get_config(state.store.as_ref(), &store_id, &caller).await?,
    ))
}

async fn write(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(store_id): Path<String>,
    ApiJson(body): ApiJson<ConfigPatchRequest>,
) -> Result<Json<BotConfig>, ApiError> {
    let caller = store_caller(&state, &headers, &store_id).await?;
    check_store_id(&store_id)?;
    let change = body.validate(&store_id)?;
    let config = records::update_config(state.store.as_ref(), &store_id, &caller, change).await?;
    tracing::info!(store_id = %store_id, "bot config updated");
    Ok(Json(config))
}
