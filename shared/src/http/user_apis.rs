//! The owner's registry of APIs (`/api/user-apis`): list, create, read, update, delete,
//! test, rotate-key. Only a signed-in user reaches these routes, and only their own records.
//! Responses never carry secrets, except the new apiKey, once, on create and rotate-key.
//! A Saipos base URL is saved and called under the outbound policy of `state.saipos`
//! ([`crate::outbound`]), and its token is only sent to the address it was entered for.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use super::extract::{OwnedApi, WithBody};
use super::json::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::auth::caller::{StoreCaller, User};
use crate::domain::slot::SlotStatus;
use crate::domain::user_api::{
    ApiType, ConnectionStatus, CreateUserApiRequest, UpdateUserApiRequest, UserApi,
};
use crate::records;
use crate::saipos;
use crate::saipos::cache::ReportError;
use crate::saipos::client::{SaiposClient, SaiposError};
use crate::ApiError;
use time::Date;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/user-apis", get(list).post(create))
        .route(
            "/api/user-apis/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/api/user-apis/{id}/test", post(test))
        .route("/api/user-apis/{id}/rotate-key", post(rotate_key))
        .route("/api/user-apis/{id}/reports/sales", get(sales_report))
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
    let new = body.validate(state.saipos.policy)?;
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

async fn read(OwnedApi { api, .. }: OwnedApi) -> Result<Json<UserApi>, ApiError> {
    Ok(Json(api))
}

async fn update(
    State(state): State<AppState>,
    WithBody(owned, ApiJson(body)): WithBody<OwnedApi, ApiJson<UpdateUserApiRequest>>,
) -> Result<Json<UserApi>, ApiError> {
    let OwnedApi {
        user, api: current, ..
    } = owned;
    let change = body.validate(&current, state.saipos.policy)?;
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
    OwnedApi { user, api, item }: OwnedApi,
) -> Result<StatusCode, ApiError> {
    records::delete_user_api(state.store.as_ref(), &user, &api, &item).await?;
    if api.api_type == ApiType::Saipos {
        if let Err(err) = saipos::cache::forget(state.store.as_ref(), &api.id).await {
            tracing::warn!(api_id = %api.id, error = %err, "cached report days left behind (they expire)");
        }
    }
    tracing::info!(api_id = %api.id, "user API deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_key(
    State(state): State<AppState>,
    OwnedApi { user, api, item }: OwnedApi,
) -> Result<Json<WithKey>, ApiError> {
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
    OwnedApi { user, api, item }: OwnedApi,
) -> Result<Json<Value>, ApiError> {
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
            records::set_connection_status(state.store.as_ref(), &user, &api.id, status, None)
                .await?;
            let total = slots.len();
            let message = match connected {
                0 => {
                    "no WhatsApp number is linked yet: start a slot and scan its QR code".to_owned()
                }
                1 => format!("1 of {total} WhatsApp numbers is connected"),
                n => format!("{n} of {total} WhatsApp numbers are connected"),
            };
            // `result`, `connected` and `total` are for programs (the console words them in
            // Portuguese); `message` is the English sentence.
            let result = if connected > 0 {
                "whatsapp_connected"
            } else {
                "whatsapp_not_linked"
            };
            Ok(Json(json!({
                "success": connected > 0,
                "status": status,
                "result": result,
                "connected": connected,
                "total": total,
                "message": message,
                "slots": slots,
            })))
        }
        ApiType::Saipos => {
            let (client, _) = saipos_client(&state, &api, &item)?;
            let outcome = client.check(saipos::cache::today(saipos_zone(&api))).await;
            let (status, reason, message) = match &outcome {
                Ok(()) => (
                    ConnectionStatus::Connected,
                    None,
                    "Saipos accepted the token".to_owned(),
                ),
                Err(err) => (
                    ConnectionStatus::Error,
                    Some(err.to_string()),
                    err.to_string(),
                ),
            };
            records::set_connection_status(
                state.store.as_ref(),
                &user,
                &api.id,
                status,
                reason.as_deref(),
            )
            .await?;
            tracing::info!(api_id = %api.id, ok = outcome.is_ok(), "Saipos connection tested");
            let result = match &outcome {
                Ok(()) => "saipos_token_accepted",
                Err(err) => saipos_result(err),
            };
            Ok(Json(json!({
                "success": outcome.is_ok(),
                "status": status,
                "result": result,
                "message": message,
            })))
        }
    }
}

/// The stable code of a failed Saipos connection test (the `result` of its answer).
fn saipos_result(err: &SaiposError) -> &'static str {
    match err {
        SaiposError::InvalidToken(_) => "saipos_rejected_token",
        SaiposError::Unavailable(_) => "saipos_unavailable",
        SaiposError::Network(_) => "saipos_unreachable",
        SaiposError::Unexpected(_) => "saipos_unexpected",
        SaiposError::NotAllowed(_) => "url_not_allowed",
        SaiposError::TooManyPages(_) => "report_too_large",
    }
}

/// The IANA zone a Saipos account's days are counted in.
fn saipos_zone(api: &UserApi) -> &str {
    api.timezone
        .as_deref()
        .unwrap_or(crate::domain::validate::DEFAULT_TIMEZONE)
}

/// A Saipos client for a Saipos user API, with its account fingerprint (base URL, token
/// and zone: a cache entry is only read back under the same three).
fn saipos_client(
    state: &AppState,
    api: &UserApi,
    item: &crate::store::Item,
) -> Result<(SaiposClient, String), ApiError> {
    let sealed = crate::store::attr_str(item, "secret")
        .ok_or_else(|| ApiError::Internal("Saipos account without a sealed token".into()))?;
    let token = state
        .secrets
        .open(sealed, &api.id)
        .map_err(|e| ApiError::Internal(format!("Saipos token does not open: {e}")))?;
    let base_url = api
        .base_url
        .as_deref()
        .unwrap_or(crate::domain::user_api::SAIPOS_DEFAULT_BASE_URL);
    let account = saipos::cache::account_fingerprint(base_url, &token, saipos_zone(api));
    Ok((
        SaiposClient::new(base_url, &token, state.saipos.clone()),
        account,
    ))
}

pub const MAX_REPORT_DAYS: i64 = 366;

fn report_date(query: &HashMap<String, String>, field: &'static str) -> Result<Date, ApiError> {
    let raw = query
        .get(field)
        .ok_or_else(|| ApiError::invalid(field, format!("{field} is required (YYYY-MM-DD)")))?;
    Date::parse(
        raw,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        ApiError::invalid(
            field,
            format!("{field} must be a date as YYYY-MM-DD (got {raw:?})"),
        )
    })
}

/// `GET /api/user-apis/{id}/reports/sales?from=YYYY-MM-DD&to=YYYY-MM-DD`: sales totals of a
/// Saipos account; settled days come from the cache.
async fn sales_report(
    State(state): State<AppState>,
    User(user): User,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let from = report_date(&query, "from")?;
    let to = report_date(&query, "to")?;
    if from > to {
        return Err(ApiError::invalid("from", "from must not be after to"));
    }
    if (to - from).whole_days() + 1 > MAX_REPORT_DAYS {
        return Err(ApiError::invalid(
            "to",
            format!("a report covers at most {MAX_REPORT_DAYS} days"),
        ));
    }
    let (api, item) = records::get_user_api(state.store.as_ref(), &user, &id).await?;
    if api.api_type != ApiType::Saipos {
        return Err(ApiError::bad_request(
            "not_supported",
            "sales reports come from Saipos accounts",
        ));
    }
    let zone = saipos_zone(&api);
    let today = saipos::cache::today(zone);
    if to > today {
        return Err(ApiError::invalid(
            "to",
            format!("to can't be in the future (today is {today} in {zone})"),
        ));
    }
    let (client, account) = saipos_client(&state, &api, &item)?;
    let (report, source) = saipos::cache::sales_report(
        state.store.as_ref(),
        &client,
        saipos::cache::Account {
            api_id: &api.id,
            fingerprint: &account,
            zone,
        },
        from,
        to,
        today,
    )
    .await
    .map_err(|e| match e {
        ReportError::Saipos(SaiposError::InvalidToken(_)) => {
            ApiError::Upstream("saipos_rejected_token", e.to_string())
        }
        ReportError::Saipos(SaiposError::TooManyPages(_)) => {
            ApiError::bad_request("report_too_large", e.to_string())
        }
        ReportError::Saipos(SaiposError::NotAllowed(_)) => {
            ApiError::bad_request("url_not_allowed", e.to_string())
        }
        ReportError::Saipos(other) => ApiError::Upstream("saipos_unavailable", other.to_string()),
        ReportError::Store(store) => store.into(),
    })?;
    let mut body = serde_json::to_value(report).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["source"] = json!(source);
    Ok(Json(body))
}
