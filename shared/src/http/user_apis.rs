//! The owner's registry of APIs (`/api/user-apis`): list, create, read, update, delete,
//! test, rotate-key. Only a signed-in user reaches these routes, and only their own records.
//! Responses never carry secrets, except the new apiKey, once, on create and rotate-key.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use super::json::ApiJson;
use super::AppState;
use crate::auth::caller::User;
use crate::domain::slot::SlotStatus;
use crate::domain::user_api::{
    ApiType, ConnectionStatus, CreateUserApiRequest, UpdateUserApiRequest, UserApi,
};
use crate::records::{self, StoreCaller};
use crate::store::Update;
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/user-apis", get(list).post(create))
        .route(
            "/api/user-apis/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/api/user-apis/{id}/test", post(test))
        .route("/api/user-apis/{id}/rotate-key", post(rotate_key))
}

/// A user API with its freshly issued key (create and rotate-key only).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WithKey {
    #[serde(flatten)]
    api: UserApi,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    User(user): User,
) -> Result<Json<Vec<UserApi>>, ApiError> {
    Ok(Json(
        records::list_user_apis(state.store.as_ref(), &user).await?,
    ))
}

async fn create(
    State(state): State<AppState>,
    User(user): User,
    ApiJson(body): ApiJson<CreateUserApiRequest>,
) -> Result<(StatusCode, Json<WithKey>), ApiError> {
    let new = body.validate()?;
    let created =
        records::create_user_api(state.store.as_ref(), &state.secrets, &user, new).await?;
    tracing::info!(api_id = %created.api.id, kind = created.api.api_type.as_str(), "user API created");
    Ok((
        StatusCode::CREATED,
        Json(WithKey {
            api: created.api,
            api_key: created.api_key,
        }),
    ))
}

async fn read(
    State(state): State<AppState>,
    User(user): User,
    Path(id): Path<String>,
) -> Result<Json<UserApi>, ApiError> {
    let (api, _) = records::get_user_api(state.store.as_ref(), &user, &id).await?;
    Ok(Json(api))
}

async fn update(
    State(state): State<AppState>,
    User(user): User,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUserApiRequest>,
) -> Result<Json<UserApi>, ApiError> {
    let (current, _) = records::get_user_api(state.store.as_ref(), &user, &id).await?;
    let change = body.validate(current.api_type)?;
    let api = records::update_user_api(
        state.store.as_ref(),
        &state.secrets,
        &user,
        &current,
        change,
    )
    .await?;
    Ok(Json(api))
}

async fn remove(
    State(state): State<AppState>,
    User(user): User,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (api, item) = records::get_user_api(state.store.as_ref(), &user, &id).await?;
    records::delete_user_api(state.store.as_ref(), &user, &api, &item).await?;
    tracing::info!(api_id = %api.id, "user API deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_key(
    State(state): State<AppState>,
    User(user): User,
    Path(id): Path<String>,
) -> Result<Json<WithKey>, ApiError> {
    let (api, item) = records::get_user_api(state.store.as_ref(), &user, &id).await?;
    let rotated = records::rotate_key(state.store.as_ref(), &user, &api, &item).await?;
    tracing::info!(api_id = %api.id, "apiKey rotated");
    Ok(Json(WithKey {
        api: rotated.api,
        api_key: rotated.api_key,
    }))
}

/// Tests a connection and records the outcome on it. A WhatsApp connection is connected
/// when any of its slots is.
async fn test(
    State(state): State<AppState>,
    User(user): User,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (api, _) = records::get_user_api(state.store.as_ref(), &user, &id).await?;
    match api.api_type {
        ApiType::Whatsapp => {
            let slots = records::list_slots(
                state.store.as_ref(),
                &api.store_id,
                &StoreCaller::Owner(user.clone()),
            )
            .await?;
            let connected = slots
                .iter()
                .filter(|s| s.status == SlotStatus::Connected)
                .count();
            let status = if connected > 0 {
                ConnectionStatus::Connected
            } else {
                ConnectionStatus::Disconnected
            };
            let update = Update {
                set: vec![
                    ("status".into(), json!(status)),
                    ("updatedAt".into(), crate::ids::now_rfc3339().into()),
                ],
                ..Update::default()
            };
            state
                .store
                .update(&records::user_pk(&user), &records::api_sk(&api.id), update)
                .await
                .map_err(|e| match e {
                    crate::store::StoreError::ConditionFailed => {
                        ApiError::NotFound(format!("no API with id {id:?}"))
                    }
                    other => other.into(),
                })?;
            let message = match connected {
                0 => {
                    "no WhatsApp number is linked yet: start a slot and scan its QR code".to_owned()
                }
                1 => "1 of 3 WhatsApp numbers is connected".to_owned(),
                n => format!("{n} of 3 WhatsApp numbers are connected"),
            };
            Ok(Json(
                json!({ "success": connected > 0, "status": status, "message": message, "slots": slots }),
            ))
        }
        ApiType::Saipos => Err(ApiError::bad_request(
            "not_supported",
            "testing Saipos accounts is not available yet in this version",
        )),
    }
}
