//! The simulator's dev-only routes (`/dev/simulator/...`), mounted by the local stack and
//! never by a Lambda function: pair a slot as a simulated phone (the link inside the QR
//! code), write as a customer (text, a voice note, a picture or a pin) or as the owner, read
//! what was sent to a customer, unlink the device from the phone, or make the connection go
//! silent (issue 17's incidents).
//!
//! Pairing needs the slot's current pairing code, as a phone needs to see the QR: the link
//! in the QR carries it, and `GET .../pairing` gives it to the store's owner (token) or
//! apiKey, which is how the console's simulator panel and `platefull simulate pair` get
//! it. So a page or process that only knows a storeId can't link its own "phone" to that
//! store. (The local stack also refuses these routes under a foreign `Host`: `dev_host`.)

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::StoreAccess;
use super::json::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::domain::slot::parse_slot;
use crate::media::{Location, MediaHandle, MediaKind, MediaPart};
use crate::records;
use crate::whatsapp::events::SlotKey;
use crate::whatsapp::simulator::{SimError, Simulator};
use crate::ApiError;

/// The simulator's routes; `app` authorizes `GET .../pairing` (the store's owner or apiKey).
pub fn router(simulator: Arc<Simulator>, app: AppState) -> Router {
    let open: Router = Router::new()
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
        .route("/dev/simulator/{store_id}/{slot}/outbox", get(outbox))
        .route("/dev/simulator/{store_id}/{slot}/unlink", post(unlink))
        .route("/dev/simulator/{store_id}/{slot}/silence", post(silence))
        .with_state(simulator.clone());
    let authorized: Router = Router::new()
        .route("/dev/simulator/{store_id}/{slot}/pairing", get(pairing))
        .layer(Extension(simulator))
        .with_state(app);
    super::error_contract(open.merge(authorized)).layer(DefaultBodyLimit::max(super::BODY_LIMIT))
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
    let code = query.code.filter(|c| !c.is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "pairing_code_required",
            "pairing needs the code of the slot's QR (the link inside the QR, or GET .../pairing with the store's apiKey or owner token)",
        )
    })?;
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
        .pair(&key, Some(&code), body_phone.or(query.phone).as_deref())
        .await?;
    Ok(Json(
        json!({ "success": true, "phone": phone, "message": format!("slot {} paired with the simulated phone {phone}", key.slot) }),
    ))
}

/// The slot's pairing link and code while it shows a QR: `{"link","code"}`. One query
/// (the store's slots: the owner check, and that the slot exists).
async fn pairing(
    State(app): State<AppState>,
    Extension(sim): Extension<Arc<Simulator>>,
    access: StoreAccess,
    ApiPath((_, slot)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let key = key(access.store_id.clone(), &slot)?;
    records::list_slots(app.store.as_ref(), &access.store_id, &access.caller).await?;
    let pairing = sim.pairing(&key).ok_or(SimError::NotPairing)?;
    Ok(Json(json!(pairing)))
}

/// A customer's message: `text`, or one of `audio` / `image` (base64 bytes, carried
/// inline as the transport's handle) / `location`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerMessage {
    from: String,
    text: Option<String>,
    audio: Option<SimAudio>,
    image: Option<SimImage>,
    location: Option<Location>,
    id: Option<String>,
    /// The customer's name as their WhatsApp shows it (push name).
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimAudio {
    base64: String,
    mimetype: Option<String>,
    /// The duration the phone would declare.
    seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimImage {
    base64: String,
    mimetype: Option<String>,
    caption: Option<String>,
}

async fn customer_message(
    State(sim): State<Arc<Simulator>>,
    ApiPath((store_id, slot)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<CustomerMessage>,
) -> Result<Json<Value>, ApiError> {
    let key = key(store_id, &slot)?;
    let id = body.id.as_deref();
    let size = |b64: &str| (b64.len() as u64) / 4 * 3;
    let media = match (body.text, body.audio, body.image, body.location) {
        (Some(text), None, None, None) => {
            let name = body.name.as_deref();
            let id = sim
                .customer_message_named(&key, &body.from, name, &text, id)
                .await?;
            return Ok(Json(json!({ "success": true, "id": id })));
        }
        (None, Some(audio), None, None) => MediaPart {
            mimetype: Some(
                audio
                    .mimetype
                    .unwrap_or_else(|| "audio/ogg; codecs=opus".into()),
            ),
            size: Some(size(&audio.base64)),
            seconds: audio.seconds,
            handle: Some(MediaHandle::Inline {
                base64: audio.base64,
            }),
            ..MediaPart::of(MediaKind::Voice)
        },
        (None, None, Some(image), None) => MediaPart {
            mimetype: Some(image.mimetype.unwrap_or_else(|| "image/jpeg".into())),
            size: Some(size(&image.base64)),
            caption: image.caption,
            handle: Some(MediaHandle::Inline {
                base64: image.base64,
            }),
            ..MediaPart::of(MediaKind::Image)
        },
        (None, None, None, Some(location)) => {
            if !(-90.0..=90.0).contains(&location.lat) || !(-180.0..=180.0).contains(&location.lng)
            {
                return Err(ApiError::invalid(
                    "location",
                    "lat must be within ±90 and lng within ±180",
                ));
            }
            MediaPart {
                location: Some(location),
                ..MediaPart::of(MediaKind::Location)
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "validation_error",
                "send exactly one of text, audio, image or location",
            ))
        }
    };
    let id = sim.customer_media(&key, &body.from, media, id).await?;
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

/// The phone removes the linked device (Settings > Linked devices): the slot is unlinked.
async fn unlink(
    State(sim): State<Arc<Simulator>>,
    ApiPath((store_id, slot)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    sim.unlink_from_phone(&key(store_id, &slot)?).await?;
    Ok(Json(json!({ "success": true })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Silence {
    /// `false`: the connection answers again.
    silent: Option<bool>,
}

/// The connection stops answering without closing (`{"silent": false}`, or no body with
/// `true` meant: it answers again), so the gateway's silence detection can be seen.
async fn silence(
    State(sim): State<Arc<Simulator>>,
    ApiPath((store_id, slot)): ApiPath<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Silence = if body.is_empty() {
        Silence::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?
    };
    let silent = body.silent.unwrap_or(true);
    sim.silence(&key(store_id, &slot)?, silent).await?;
    Ok(Json(json!({ "success": true, "silent": silent })))
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
