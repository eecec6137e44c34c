//! WhatsApp sessions of a store (`/api/whatsapp/{storeId}/...`): the three slots and their
//! state as the gateway records them, and the commands that start (QR pairing) or unlink a
//! slot. Owner token or the store's apiKey.
//!
//! `start` and `logout` enqueue a command for the gateway, then wait briefly (the
//! configured `wait`) for the slot to show the result: a fresh QR code, a connection, or
//! the unlink. If the gateway is slower, they answer with the current status and the client
//! polls `GET .../sessions`.

use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::extract::{StoreAccess, WithBody};
use super::json::ApiPath;
use super::AppState;
use crate::domain::slot::{parse_slot, Slot, SlotStatus};
use crate::records;
use crate::whatsapp::commands::SessionCommand;
use crate::whatsapp::events::SlotKey;
use crate::whatsapp::slots;
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/whatsapp/{store_id}/sessions", get(list))
        .route("/api/whatsapp/{store_id}/{slot}/start", post(start))
        .route("/api/whatsapp/{store_id}/{slot}/logout", post(logout))
}

async fn list(State(state): State<AppState>, access: StoreAccess) -> Result<Json<Value>, ApiError> {
    let slots = records::list_slots(state.store.as_ref(), &access.store_id, &access.caller).await?;
    Ok(Json(json!({ "data": slots })))
}

/// Validates the slot of an authorized call, and returns it as stored.
async fn current(
    state: &AppState,
    access: &StoreAccess,
    raw_slot: &str,
) -> Result<(SlotKey, Slot), ApiError> {
    let store_id = access.store_id.as_str();
    let slot = parse_slot(raw_slot)?;
    let slots = records::list_slots(state.store.as_ref(), store_id, &access.caller).await?;
    let current = slots
        .into_iter()
        .find(|s| s.slot == slot)
        .ok_or_else(|| ApiError::NotFound(format!("no slot {slot}")))?;
    Ok((
        SlotKey {
            store_id: store_id.to_owned(),
            slot,
        },
        current,
    ))
}

async fn send(state: &AppState, command: SessionCommand) -> Result<Duration, ApiError> {
    let sessions = state.sessions.as_ref().ok_or_else(|| {
        ApiError::Unavailable("session commands are not configured in this deployment".into())
    })?;
    sessions
        .queue
        .send(command.outgoing())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(sessions.wait)
}

/// Polls the slot until `done` holds or `wait` passes; returns the last state seen.
async fn await_slot(
    state: &AppState,
    key: &SlotKey,
    wait: Duration,
    done: impl Fn(&Slot) -> bool,
) -> Result<Option<Slot>, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let slot = slots::get_slot(state.store.as_ref(), key)
            .await?
            .as_ref()
            .and_then(slots::slot_of);
        if slot.as_ref().is_none_or(&done) || tokio::time::Instant::now() >= deadline {
            return Ok(slot);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Optional body of `start`: pair by typing a code on this phone instead of scanning.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StartRequest {
    phone_number: String,
}

fn pair_phone(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let request: StartRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    let digits = request.phone_number.trim().trim_start_matches('+');
    if !(10..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(
            "phoneNumber",
            "phoneNumber must be the number with country and area code, 10 to 15 digits (e.g. 5511988887777)",
        ));
    }
    Ok(Some(digits.to_owned()))
}

async fn start(
    State(state): State<AppState>,
    ApiPath((_, raw_slot)): ApiPath<(String, String)>,
    WithBody(access, body): WithBody<StoreAccess, axum::body::Bytes>,
) -> Result<Json<Value>, ApiError> {
    let (key, slot) = current(&state, &access, &raw_slot).await?;
    let phone = pair_phone(&body)?;
    if slot.status == SlotStatus::Connected {
        return Ok(Json(json!({
            "success": true, "status": slot.status, "phone": slot.phone,
            "message": format!("slot {} is already connected; nothing to do", key.slot),
        })));
    }
    // A QR code shown in the last 50 s is still scannable (WhatsApp rotates them every 20-60 s):
    // starting again returns it, and the gateway ignores the repeated command.
    let valid_since = crate::ids::rfc3339_ago(Duration::from_secs(50));
    let by_phone = phone.is_some();
    let command = SessionCommand::Start {
        slot: key.clone(),
        pair_phone: phone,
    };
    let wait = send(&state, command).await?;
    let fresh = |s: &Slot| {
        s.status == SlotStatus::Connected
            || (s.status == SlotStatus::Qrcode
                && s.qr_code.is_some()
                && (!by_phone || s.pairing_code.is_some())
                && s.updated_at >= valid_since)
    };
    let slot = await_slot(&state, &key, wait, fresh)
        .await?
        .ok_or_else(|| ApiError::NotFound("the connection was deleted".into()))?;
    let mut body = json!({ "success": true, "status": slot.status });
    match slot.status {
        SlotStatus::Qrcode if fresh(&slot) => {
            body["qrCode"] = json!(slot.qr_code);
            body["message"] =
                json!("scan the QR code with WhatsApp > Linked devices > Link a device");
            if let Some(code) = &slot.pairing_code {
                body["pairingCode"] = json!(code);
                body["message"] = json!("scan the QR code, or on the phone choose WhatsApp > Linked devices > Link a device > Link with phone number instead, and type the pairing code");
            }
        }
        SlotStatus::Connected => {
            body["phone"] = json!(slot.phone);
            body["message"] = json!(format!("slot {} is connected", key.slot));
        }
        _ => {
            body["message"] =
                json!("starting: poll GET /api/whatsapp/{storeId}/sessions for the QR code");
            if let Some(error) = slot.last_error {
                body["lastError"] = json!(error);
            }
        }
    }
    Ok(Json(body))
}

async fn logout(
    State(state): State<AppState>,
    ApiPath((_, raw_slot)): ApiPath<(String, String)>,
    access: StoreAccess,
) -> Result<Json<Value>, ApiError> {
    let (key, slot) = current(&state, &access, &raw_slot).await?;
    if slot.status == SlotStatus::Disconnected && slot.phone.is_none() && slot.qr_code.is_none() {
        return Ok(Json(
            json!({ "success": true, "status": slot.status, "message": format!("slot {} is not linked; nothing to do", key.slot) }),
        ));
    }
    let wait = send(&state, SessionCommand::Logout { slot: key.clone() }).await?;
    let slot = await_slot(&state, &key, wait, |s| {
        s.status == SlotStatus::Disconnected && s.phone.is_none()
    })
    .await?;
    let status = slot.map(|s| s.status).unwrap_or(SlotStatus::Disconnected);
    Ok(Json(json!({
        "success": true, "status": status,
        "message": if status == SlotStatus::Disconnected { format!("slot {} unlinked", key.slot) } else { "unlinking: poll GET /api/whatsapp/{storeId}/sessions".to_owned() },
    })))
}
