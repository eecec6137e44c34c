//! The attendant's configuration (`/api/client/{storeId}/config`), readable and writable by
//! the store's owner or with the store's apiKey. GET is one read; PUT is one conditional
//! write that also proves ownership.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::extract::{StoreAccess, WithBody};
use super::json::ApiJson;
use super::AppState;
use crate::domain::bot_config::{BotConfig, ConfigPatchRequest};
use crate::records;
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/client/{store_id}/config", get(read).put(write))
}

async fn read(
    State(state): State<AppState>,
    access: StoreAccess,
) -> Result<Json<BotConfig>, ApiError> {
    Ok(Json(
        records::get_config(state.store.as_ref(), &access.store_id, &access.caller).await?,
    ))
}

async fn write(
    State(state): State<AppState>,
    WithBody(access, ApiJson(body)): WithBody<StoreAccess, ApiJson<ConfigPatchRequest>>,
) -> Result<Json<BotConfig>, ApiError> {
    let StoreAccess { store_id, caller } = access;
    let change = body.validate(&store_id)?;
    let config = records::update_config(state.store.as_ref(), &store_id, &caller, change).await?;
    tracing::info!(store_id = %store_id, "bot config updated");
    Ok(Json(config))
}
