//! Attaching a Meta Cloud API number to a WhatsApp connection
//! (`PUT/DELETE /api/whatsapp/{storeId}/cloud-api`, owner token or the store's apiKey). The
//! access token is sealed before it is stored and never returned; a number belongs to one
//! store at a time.
//!
//! A number is attached only once proven: the Graph API, asked with the given token for
//! that number (`GraphClient::prove_number`), must answer with that very number. A number
//! is a webhook route, so attaching one a store can't prove would hand its customers to
//! that store's bot. The order of checks matters: body, store ownership, proof, and only
//! then the write whose condition refuses a number another store holds — so the 409 that
//! says "attached to another store" is only ever told to a caller who proved the number
//! too (Meta's answer says nothing of our stores). A refusal stores nothing. Cost: one
//! Graph API request per attach (≤ 5 s), none per message.

use axum::extract::State;
use axum::routing::put;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{StoreAccess, WithBody};
use super::json::ApiJson;
use super::AppState;
use crate::bot::cloud_api::{self, ProofError};
use crate::records;
use crate::store::StoreError;
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/whatsapp/{store_id}/cloud-api",
        put(attach).delete(detach),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AttachRequest {
    phone_number_id: String,
    access_token: String,
}

fn masked(phone_number_id: &str) -> Value {
    json!({ "phoneNumberId": phone_number_id, "accessToken": "********" })
}

async fn attach(
    State(state): State<AppState>,
    WithBody(access, ApiJson(body)): WithBody<StoreAccess, ApiJson<AttachRequest>>,
) -> Result<Json<Value>, ApiError> {
    let StoreAccess { store_id, caller } = access;
    let number = body.phone_number_id.trim();
    if number.is_empty() || number.len() > 32 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(
            "phoneNumberId",
            "phoneNumberId must be the digits of the number's id in Meta's WhatsApp Manager",
        ));
    }
    let token = body.access_token.trim();
    // Sent as `Authorization: Bearer …`: visible ASCII only (else it can't be sent at all,
    // which would read as Meta being unreachable).
    if token.len() < 20 || token.len() > 1024 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "accessToken",
            "accessToken must be a system-user access token (20 to 1024 letters, digits or symbols, no spaces)",
        ));
    }
    // Ownership: the caller must see the store's config.
    records::get_config(state.store.as_ref(), &store_id, &caller).await?;
    let proven = state
        .graph
        .prove_number(number, token)
        .await
        .map_err(|e| match e {
            ProofError::Refused { code } => ApiError::bad_request(
                "cloud_api_token_rejected",
                format!(
                    "Meta refused this access token for number {number} (Graph API error \
                     code {code}): use a system-user token with whatsapp_business_messaging \
                     access to the WhatsApp Business Account that holds this number"
                ),
            ),
            ProofError::Mismatch => ApiError::bad_request(
                "cloud_api_number_mismatch",
                format!(
                    "the Graph API did not answer with the WhatsApp number {number} for this \
                     token: check phoneNumberId in WhatsApp Manager"
                ),
            ),
            ProofError::Unavailable(cause) => {
                tracing::warn!(%cause, "Graph API unavailable while proving a number");
                ApiError::Upstream(
                    "graph_api_unavailable",
                    "Meta's Graph API could not be reached to check the number; nothing was \
                     changed, try again"
                        .into(),
                )
            }
        })?;
    let previous = cloud_api::attached(state.store.as_ref(), &store_id)
        .await?
        .map(|(id, _)| id);
    cloud_api::attach(
        state.store.as_ref(),
        &state.secrets,
        &store_id,
        number,
        token,
        previous.as_deref(),
        &crate::ids::now_rfc3339(),
    )
    .await
    .map_err(|e| match e {
        StoreError::ConditionFailed => {
            ApiError::Conflict(format!("the number {number} is attached to another store"))
        }
        other => other.into(),
    })?;
    let mut data = masked(number);
    data["displayPhoneNumber"] = proven.display_phone_number.into();
    data["verifiedName"] = proven.verified_name.into();
    Ok(Json(json!({ "success": true, "data": data })))
}

async fn detach(
    State(state): State<AppState>,
    StoreAccess { store_id, caller }: StoreAccess,
) -> Result<Json<Value>, ApiError> {
    records::get_config(state.store.as_ref(), &store_id, &caller).await?;
    let Some((number, _)) = cloud_api::attached(state.store.as_ref(), &store_id).await? else {
        return Ok(Json(
            json!({ "success": true, "message": "no Cloud API number is attached; nothing to do" }),
        ));
    };
    // A failed condition: the number was attached to another store meanwhile.
    crate::store::applied(
        state
            .store
            .write(cloud_api::detach_ops(&store_id, &number))
            .await,
    )?;
    Ok(Json(
        json!({ "success": true, "message": format!("number {number} detached") }),
    ))
}
