//! Meta's WhatsApp Cloud API: the webhook's signature check and payload translation into
//! bot jobs, the numbers a store attaches (phone number id + access token, sealed), and the
//! Graph API client that sends replies, with its error codes mapped to what the bot does
//! next (retry later, give up on this chat, or stop and alert), and proves that a token can
//! read a number before the number is attached ([`GraphClient::prove_number`]).

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::crypto::SecretBox;
use crate::jobs::{BotJob, ChatMessage, Line};
use crate::media::{Location, MediaHandle, MediaKind, MediaPart};
use crate::store::keys::{self, cloud_route_pk, store_pk, CLOUD_SK, ROUTE_SK};
use crate::store::{attr_str, Cond, Store, StoreError, WriteOp};

pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com/v25.0";

/// Checks `X-Hub-Signature-256: sha256=<hex>` against the raw body, in constant time.
pub fn signature_valid(app_secret: &str, header: Option<&str>, body: &[u8]) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The signature Meta would send for `body` (tests and fixtures).
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Something the webhook reported for one of our numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudEvent {
    Message {
        phone_number_id: String,
        message: ChatMessage,
    },
    Status {
        phone_number_id: String,
        message_id: String,
        recipient: String,
        status: String,
        timestamp: i64,
        error: Option<String>,
    },
}

impl CloudEvent {
    pub fn phone_number_id(&self) -> &str {
        match self {
            CloudEvent::Message {
                phone_number_id, ..
            }
            | CloudEvent::Status {
                phone_number_id, ..
            } => phone_number_id,
        }
    }

    pub fn into_job(self, store_id: &str) -> BotJob {
        match self {
            CloudEvent::Message {
                phone_number_id,
                message,
            } => BotJob::Message {
                store_id: store_id.to_owned(),
                line: Line::Cloud { phone_number_id },
                // The receipt time, in the order the webhook's payload holds.
                message: ChatMessage {
                    received_ms: Some(crate::ids::monotonic_ms()),
                    ..message
                },
            },
            CloudEvent::Status {
                phone_number_id,
                message_id,
                recipient,
                status,
                timestamp,
                error,
            } => BotJob::Status {
                store_id: store_id.to_owned(),
                line: Line::Cloud { phone_number_id },
                message_id,
                recipient,
                status,
                timestamp,
                error,
            },
        }
    }
}

/// The text and media part of one webhook message (Meta's documented `type`s): text,
/// buttons and list replies are text; audio, image, video, document, sticker, location,
/// reaction, edit and revoke carry a media part (media by id, fetched later); any other
/// type is text saying what it was, for the model.
fn content_of(message: &Value) -> (String, Option<MediaPart>) {
    let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
    let str_at = |path: &str| {
        message
            .pointer(path)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let body = match kind {
        "text" => message.pointer("/text/body"),
        "button" => message.pointer("/button/text"),
        "interactive" => message
            .pointer("/interactive/button_reply/title")
            .or_else(|| message.pointer("/interactive/list_reply/title")),
        _ => None,
    };
    if let Some(text) = body
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
    {
        return (text.to_owned(), None);
    }
    let media = |kind: MediaKind, field: &str| MediaPart {
        mimetype: str_at(&format!("/{field}/mime_type")),
        caption: str_at(&format!("/{field}/caption")),
        file_name: str_at(&format!("/{field}/filename")),
        handle: str_at(&format!("/{field}/id")).map(|media_id| MediaHandle::Cloud { media_id }),
        ..MediaPart::of(kind)
    };
    let part = match kind {
        "audio" => {
            let voice = message.pointer("/audio/voice").and_then(Value::as_bool) == Some(true);
            media(
                if voice {
                    MediaKind::Voice
                } else {
                    MediaKind::Audio
                },
                "audio",
            )
        }
        "image" => media(MediaKind::Image, "image"),
        "video" => media(MediaKind::Video, "video"),
        "document" => media(MediaKind::Document, "document"),
        "sticker" => media(MediaKind::Sticker, "sticker"),
        "reaction" => MediaPart {
            target: str_at("/reaction/message_id"),
            ..MediaPart::of(MediaKind::Reaction)
        },
        "location" => {
            let number = |p: &str| message.pointer(p).and_then(Value::as_f64);
            let location = match (number("/location/latitude"), number("/location/longitude")) {
                (Some(lat), Some(lng)) => Some(Location {
                    lat,
                    lng,
                    name: str_at("/location/name"),
                    address: str_at("/location/address"),
                }),
                _ => None,
            };
            MediaPart {
                location,
                ..MediaPart::of(MediaKind::Location)
            }
        }
        "edit" => {
            let (text, _) = message
                .pointer("/edit/message")
                .map(content_of)
                .unwrap_or_default();
            let text = message
                .pointer("/edit/message")
                .and_then(|m| {
                    let k = m.get("type").and_then(Value::as_str)?;
                    m.pointer(&format!("/{k}/caption")).and_then(Value::as_str)
                })
                .map(str::to_owned)
                .filter(|_| text.is_empty())
                .unwrap_or(text);
            let part = MediaPart {
                target: str_at("/edit/original_message_id"),
                ..MediaPart::of(MediaKind::Edit)
            };
            return (text, Some(part));
        }
        "revoke" => MediaPart {
            target: str_at("/revoke/original_message_id"),
            ..MediaPart::of(MediaKind::Deleted)
        },
        "system" | "unsupported" | "ephemeral" => MediaPart::of(MediaKind::Protocol),
        other => {
            return (
                format!("(o cliente enviou uma mensagem do tipo {other})"),
                None,
            )
        }
    };
    (String::new(), Some(part))
}

/// The events of one webhook payload. Messages are keyed by the customer's phone (`from`)
/// when Meta sends it and by the business-scoped user id (`from_user_id`) otherwise; a
/// message with both names the business-scoped id as its alias, so a chat that started
/// without the phone keeps its key.
pub fn parse_webhook(payload: &Value) -> Result<Vec<CloudEvent>, String> {
    if payload.get("object").and_then(Value::as_str) != Some("whatsapp_business_account") {
        return Err(
            "not a WhatsApp Business Account webhook (object must be whatsapp_business_account)"
                .into(),
        );
    }
    let entries = payload
        .get("entry")
        .and_then(Value::as_array)
        .ok_or("the webhook has no entry list")?;
    let mut events = Vec::new();
    for change in entries
        .iter()
        .filter_map(|e| e.get("changes").and_then(Value::as_array))
        .flatten()
    {
        if change.get("field").and_then(Value::as_str) != Some("messages") {
            continue;
        }
        let Some(value) = change.get("value") else {
            continue;
        };
        let Some(phone_number_id) = value
            .pointer("/metadata/phone_number_id")
            .and_then(Value::as_str)
        else {
            continue;
        };
        events.extend(
            list(value, "messages")
                .filter_map(|message| message_event(phone_number_id, value, message)),
        );
        events.extend(
            list(value, "statuses").filter_map(|status| status_event(phone_number_id, status)),
        );
    }
    Ok(events)
}

/// The elements of the array `value[name]` (none when it is missing).
fn list<'a>(value: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(name)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The name the customer's profile shows (`contacts[].profile.name`), from the contact
/// whose `wa_id` / `user_id` is the message's sender (`from` / `from_user_id`).
fn profile_name(value: &Value, message: &Value) -> Option<String> {
    let same = |contact: &Value, ours: &str, theirs: &str| {
        let id = contact.get(ours).and_then(Value::as_str);
        id.is_some() && id == message.get(theirs).and_then(Value::as_str)
    };
    list(value, "contacts")
        .find(|c| same(c, "wa_id", "from") || same(c, "user_id", "from_user_id"))?
        .pointer("/profile/name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

fn message_event(phone_number_id: &str, value: &Value, message: &Value) -> Option<CloudEvent> {
    let id_of = |key: &str| {
        message
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let (phone, user_id) = (id_of("from"), id_of("from_user_id"));
    let chat = phone.or(user_id)?;
    let id = message.get("id").and_then(Value::as_str)?;
    let (text, media) = content_of(message);
    Some(CloudEvent::Message {
        phone_number_id: phone_number_id.to_owned(),
        message: ChatMessage {
            id: id.to_owned(),
            chat: chat.to_owned(),
            from_me: false,
            text,
            timestamp: timestamp(message),
            is_group: false,
            ephemeral_expiration: None,
            media: media.map(Box::new),
            name: profile_name(value, message),
            // Meta sends the phone only while the customer lets it be shown: a chat that
            // started under the business-scoped id alone stays there when the phone comes
            // (`crate::bot::identity`).
            alias: phone.and(user_id).map(str::to_owned),
            received_ms: None,
        },
    })
}

fn status_event(phone_number_id: &str, status: &Value) -> Option<CloudEvent> {
    let recipient = ["recipient_id", "recipient_user_id"]
        .iter()
        .find_map(|k| status.get(*k).and_then(Value::as_str));
    let (Some(id), Some(state), Some(recipient)) = (
        status.get("id").and_then(Value::as_str),
        status.get("status").and_then(Value::as_str),
        recipient,
    ) else {
        return None;
    };
    let error = status.pointer("/errors/0").map(|e| {
        format!(
            "{} {}",
            e.get("code").unwrap_or(&Value::Null),
            e.get("title").and_then(Value::as_str).unwrap_or("")
        )
    });
    Some(CloudEvent::Status {
        phone_number_id: phone_number_id.to_owned(),
        message_id: id.to_owned(),
        recipient: recipient.to_owned(),
        status: state.to_owned(),
        timestamp: timestamp(status),
        error,
    })
}

fn timestamp(value: &Value) -> i64 {
    match value.get("timestamp") {
        Some(Value::String(s)) => s.parse().unwrap_or_default(),
        Some(Value::Number(n)) => n.as_i64().unwrap_or_default(),
        _ => 0,
    }
}

/// What a store's access token is sealed with, so it opens only for that store.
fn token_aad(store_id: &str) -> String {
    format!("cloud-token#{store_id}")
}

/// Attaches a Cloud API number to a store (replacing the store's previous one). Fails with
/// `ConditionFailed` if the number belongs to another store.
pub async fn attach(
    store: &dyn Store,
    secrets: &SecretBox,
    store_id: &str,
    phone_number_id: &str,
    access_token: &str,
    previous: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    let sealed = secrets.seal(access_token, &token_aad(store_id));
    let mut ops = vec![
        WriteOp::Put {
            item: keys::item(store_pk(store_id), CLOUD_SK)
                .attrs(json!({ "phoneNumberId": phone_number_id, "accessToken": sealed, "updatedAt": now }))
                .build(),
            cond: Cond::None,
        },
        WriteOp::Put {
            item: keys::item(cloud_route_pk(phone_number_id), ROUTE_SK)
                .set("storeId", store_id)
                .build(),
            cond: Cond::Any(vec![
                Cond::NotExists,
                Cond::Matches(vec![("storeId".into(), store_id.into())]),
            ]),
        },
    ];
    if let Some(previous) = previous.filter(|p| *p != phone_number_id) {
        ops.push(WriteOp::Delete {
            pk: cloud_route_pk(previous),
            sk: ROUTE_SK.into(),
            cond: Cond::None,
        });
    }
    store.write(ops).await
}

/// The store's attached number, if any: `(phoneNumberId, sealed token)`.
pub async fn attached(
    store: &dyn Store,
    store_id: &str,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(store
        .get(&store_pk(store_id), CLOUD_SK)
        .await?
        .and_then(|item| {
            Some((
                attr_str(&item, "phoneNumberId")?.to_owned(),
                attr_str(&item, "accessToken")?.to_owned(),
            ))
        }))
}

/// The writes that detach the store's number (also part of deleting the connection).
pub fn detach_ops(store_id: &str, phone_number_id: &str) -> Vec<WriteOp> {
    vec![
        WriteOp::Delete {
            pk: store_pk(store_id),
            sk: CLOUD_SK.into(),
            cond: Cond::None,
        },
        WriteOp::Delete {
            pk: cloud_route_pk(phone_number_id),
            sk: ROUTE_SK.into(),
            cond: Cond::Matches(vec![("storeId".into(), store_id.into())]),
        },
    ]
}

/// Which store a Cloud API number belongs to.
pub async fn route(store: &dyn Store, phone_number_id: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .get(&cloud_route_pk(phone_number_id), ROUTE_SK)
        .await?
        .and_then(|item| attr_str(&item, "storeId").map(str::to_owned)))
}

/// The access token of the store's number `phone_number_id` (`None` if detached since).
pub async fn access_token(
    store: &dyn Store,
    secrets: &SecretBox,
    store_id: &str,
    phone_number_id: &str,
) -> Result<Option<String>, StoreError> {
    match attached(store, store_id).await? {
        Some((id, sealed)) if id == phone_number_id => secrets
            .open(&sealed, &token_aad(store_id))
            .map(Some)
            .map_err(|e| StoreError::Data(e.to_string())),
        _ => Ok(None),
    }
}

/// Why a send through the Graph API failed, and so what to do.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SendError {
    /// Throughput or pair rate limits (130429, 131056, 4, 80007): send later.
    #[error("rate limited by WhatsApp (code {code})")]
    RateLimited { code: i64, retry_after: Duration },
    /// More than 24 h since the customer's last message (131047): only templates may go.
    #[error("outside the 24-hour customer service window (code 131047)")]
    OutsideWindow,
    /// Network, timeouts, 5xx and WhatsApp's transient codes: retry soon.
    #[error("WhatsApp is unavailable: {0}")]
    Transient(String),
    /// Token, permissions, policy, bad recipient: retrying won't help.
    #[error("WhatsApp refused the message: {0}")]
    Refused(String),
}

/// The largest Graph API answer read: its replies are a few hundred bytes.
pub const GRAPH_MAX_BODY_BYTES: usize = 64 * 1024;

/// What a request that got no answer is called in errors (never reqwest's text: it names
/// the URL).
fn transport_failure(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timed out"
    } else {
        "network error"
    }
}

/// A number as the Graph API shows it to a token that can read it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneNumber {
    pub id: String,
    pub display_phone_number: String,
    pub verified_name: Option<String>,
}

/// Why a token didn't prove a number.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProofError {
    /// Meta refused: the token is invalid, expired or revoked, or it can't read that
    /// number (or no such number exists; Meta doesn't say which).
    #[error("the Graph API refused the token for this number (error code {code})")]
    Refused { code: i64 },
    /// Meta answered for something that isn't that phone number.
    #[error("the Graph API answered for another object")]
    Mismatch,
    /// Network, timeout, 5xx, rate limits or an unreadable answer: nothing is known.
    #[error("the Graph API is unavailable: {0}")]
    Unavailable(String),
}

/// What one proof may take: the route answers inside the function's 10 s.
pub const PROOF_TIMEOUT: Duration = Duration::from_secs(5);

/// Meta's Graph API for sending. Bounded: each request times out after 15 s, an answer
/// is read up to [`GRAPH_MAX_BODY_BYTES`], and all the messages of one reply together get
/// [`GraphClient::deadline`] (20 s by default, inside the `bot-reply` function's 60 s).
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
    /// What sending one turn's reply (all its chunks) may take.
    pub deadline: Duration,
}

impl GraphClient {
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("an HTTP client builds");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            deadline: Duration::from_secs(20),
        }
    }

    /// The same client with another per-turn deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Proves that `token` can read the WhatsApp number `phone_number_id`: `GET
    /// /{phone-number-id}?fields=id,display_phone_number,verified_name` with the token must
    /// answer that very number (its id, and a display number: only a WhatsApp phone number
    /// object has one). One request, at most [`PROOF_TIMEOUT`]; the token only ever goes in
    /// the `Authorization` header.
    pub async fn prove_number(
        &self,
        phone_number_id: &str,
        token: &str,
    ) -> Result<PhoneNumber, ProofError> {
        let response = self
            .http
            .get(format!("{}/{phone_number_id}", self.base_url))
            .query(&[("fields", "id,display_phone_number,verified_name")])
            .bearer_auth(token)
            .timeout(PROOF_TIMEOUT)
            .send()
            .await
            .map_err(|e| ProofError::Unavailable(transport_failure(&e).into()))?;
        let status = response.status().as_u16();
        let body: Value = crate::upstream::read_capped(response, GRAPH_MAX_BODY_BYTES)
            .await
            .map_err(|e| ProofError::Unavailable(e.to_string()))
            .and_then(|bytes| {
                serde_json::from_slice(&bytes).map_err(|_| {
                    ProofError::Unavailable(format!("HTTP {status} with a body that isn't JSON"))
                })
            })?;
        if status == 200 {
            let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
            return match (field("id"), field("display_phone_number")) {
                (Some(id), Some(display)) if id == phone_number_id => Ok(PhoneNumber {
                    id,
                    display_phone_number: display,
                    verified_name: field("verified_name"),
                }),
                _ => Err(ProofError::Mismatch),
            };
        }
        let code = body
            .pointer("/error/code")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        // Meta's transient and throttling codes (1, 2: service; 4, 17, 32, 613, 80007:
        // rate limits) say nothing about the token.
        if status >= 500 || status == 429 || matches!(code, 1 | 2 | 4 | 17 | 32 | 613 | 80007) {
            return Err(ProofError::Unavailable(format!(
                "HTTP {status}, code {code}"
            )));
        }
        Err(ProofError::Refused { code })
    }

    /// Sends a text to a phone number or a business-scoped user id; returns the wamid.
    pub async fn send_text(
        &self,
        phone_number_id: &str,
        token: &str,
        to: &str,
        text: &str,
    ) -> Result<String, SendError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": "text",
            "text": { "preview_url": false, "body": text },
        });
        self.post_message(phone_number_id, token, to, body).await
    }

    /// Sends a PNG with a caption: uploads it (`POST /{phone-number-id}/media`, multipart:
    /// `messaging_product`, `type`, `file`), then sends an `image` message with the media id
    /// it answers. Returns the wamid. A retry uploads again (an unused upload expires on
    /// Meta's side).
    pub async fn send_image(
        &self,
        phone_number_id: &str,
        token: &str,
        to: &str,
        png: &[u8],
        caption: &str,
    ) -> Result<String, SendError> {
        let media_id = self.upload_png(phone_number_id, token, png).await?;
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": "image",
            "image": { "id": media_id, "caption": caption },
        });
        self.post_message(phone_number_id, token, to, body).await
    }

    /// Uploads a PNG as media of `phone_number_id`; returns its media id. The multipart body
    /// is written here (three parts; reqwest's multipart feature would add a dependency for
    /// this one request).
    async fn upload_png(
        &self,
        phone_number_id: &str,
        token: &str,
        png: &[u8],
    ) -> Result<String, SendError> {
        let boundary = format!(
            "platefull-{}",
            crate::ids::random_bytes::<12>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let mut body = Vec::with_capacity(png.len() + 512);
        for (name, value) in [("messaging_product", "whatsapp"), ("type", "image/png")] {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"pix.png\"\r\ncontent-type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(png);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .http
            .post(format!("{}/{phone_number_id}/media", self.base_url))
            .bearer_auth(token)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Transient(transport_failure(&e).into()))?;
        graph_answer(response, "/id", "no media id in the reply").await
    }

    /// Posts one message body to `/{phone-number-id}/messages`, addressed to `to` (a phone
    /// number, or a business-scoped user id); returns the wamid.
    async fn post_message(
        &self,
        phone_number_id: &str,
        token: &str,
        to: &str,
        mut body: Value,
    ) -> Result<String, SendError> {
        if to.bytes().all(|b| b.is_ascii_digit()) {
            body["to"] = to.into();
        } else {
            body["recipient"] = to.into();
        }
        let response = self
            .http
            .post(format!("{}/{phone_number_id}/messages", self.base_url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::Transient(transport_failure(&e).into()))?;
        graph_answer(response, "/messages/0/id", "no message id in the reply").await
    }
}

/// A Graph API answer read (capped): on 200 the id at `id_at` (a JSON pointer), otherwise
/// the error it describes. A 200 we can't read may still have been carried out: it counts
/// as transient, which can repeat a send, as a lost answer would.
async fn graph_answer(
    response: reqwest::Response,
    id_at: &str,
    missing: &str,
) -> Result<String, SendError> {
    let status = response.status().as_u16();
    let body: Value = match crate::upstream::read_capped(response, GRAPH_MAX_BODY_BYTES).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(err) => return Err(SendError::Transient(err.to_string())),
    };
    if status == 200 {
        return body
            .pointer(id_at)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SendError::Transient(missing.to_owned()));
    }
    Err(send_error(status, &body))
}

/// What a Graph error answer means for a send.
fn send_error(status: u16, body: &Value) -> SendError {
    let code = body
        .pointer("/error/code")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let message: String = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .chars()
        .take(200)
        .collect();
    match code {
        130429 | 131056 | 4 | 80007 => SendError::RateLimited {
            code,
            retry_after: Duration::from_secs(if code == 131056 { 30 } else { 5 }),
        },
        131047 => SendError::OutsideWindow,
        1 | 2 | 131000 | 131016 | 131057 => SendError::Transient(format!("code {code}: {message}")),
        _ if status >= 500 || status == 429 => {
            SendError::Transient(format!("HTTP {status}: {message}"))
        }
        _ => SendError::Refused(format!("code {code}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let good = sign("secret", body);
        assert!(signature_valid("secret", Some(&good), body));
        assert!(!signature_valid("other", Some(&good), body));
        assert!(!signature_valid(
            "secret",
            Some(&good),
            b"{\"object\": \"whatsapp_business_account\"}"
        ));
        assert!(!signature_valid("secret", None, body));
        assert!(!signature_valid("secret", Some("sha256=zz"), body));
        assert!(!signature_valid(
            "secret",
            Some(good.trim_start_matches("sha256=")),
            body
        ));
    }

    #[test]
    fn the_senders_profile_name_comes_with_their_message() {
        let payload = json!({"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
        "metadata":{"phone_number_id":"106"},
        "contacts":[{"profile":{"name":"Outra"},"wa_id":"5511900000002"},
            {"profile":{"name":" Ana Souza "},"wa_id":"5511900000001"},
            {"profile":{"name":"Bia"},"user_id":"BR.b1"}],
        "messages":[
            {"from":"5511900000001","id":"A","timestamp":"1","type":"text","text":{"body":"Oi"}},
            {"from_user_id":"BR.b1","id":"B","timestamp":"1","type":"text","text":{"body":"Oi"}},
            {"from":"5511900000003","id":"C","timestamp":"1","type":"text","text":{"body":"Oi"}}
        ]}}]}]});
        let names: Vec<Option<String>> = parse_webhook(&payload)
            .unwrap()
            .into_iter()
            .map(|e| match e {
                CloudEvent::Message { message, .. } => message.name,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [Some("Ana Souza".to_owned()), Some("Bia".to_owned()), None]
        );
    }

    #[test]
    fn a_message_with_phone_and_business_scoped_id_names_the_id_as_its_alias() {
        let payload = json!({"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
        "metadata":{"phone_number_id":"106"},
        "messages":[
            {"from":"5511900000001","from_user_id":"BR.a1","id":"A","timestamp":"1","type":"text","text":{"body":"Oi"}},
            {"from_user_id":"BR.a1","id":"B","timestamp":"1","type":"text","text":{"body":"Oi"}},
            {"from":"5511900000002","id":"C","timestamp":"1","type":"text","text":{"body":"Oi"}},
            {"from":"","from_user_id":"BR.c3","id":"D","timestamp":"1","type":"text","text":{"body":"Oi"}}
        ]}}]}]});
        let keys: Vec<(String, Option<String>)> = parse_webhook(&payload)
            .unwrap()
            .into_iter()
            .map(|e| match e {
                CloudEvent::Message { message, .. } => (message.chat, message.alias),
                other => panic!("{other:?}"),
            })
            .collect();
        let key = |chat: &str, alias: Option<&str>| (chat.to_owned(), alias.map(str::to_owned));
        assert_eq!(
            keys,
            [
                key("5511900000001", Some("BR.a1")),
                key("BR.a1", None),
                key("5511900000002", None),
                key("BR.c3", None),
            ]
        );
    }

    #[test]
    fn messages_and_statuses_are_read_with_phone_or_business_scoped_ids() {
        let payload = json!({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{
            "messaging_product":"whatsapp",
            "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
            "messages":[
                {"from":"5511999990000","id":"wamid.A","timestamp":"1749416383","type":"text","text":{"body":"Oi"}},
                {"from_user_id":"BR.abc123","id":"wamid.B","timestamp":"1749416384","type":"audio","audio":{"id":"1"}}
            ],
            "statuses":[{"id":"wamid.OUT","status":"failed","timestamp":"1749416390","recipient_id":"5511999990000",
                "errors":[{"code":131047,"title":"Re-engagement message"}]}]
        }}]}]});
        let events = parse_webhook(&payload).unwrap();
        assert_eq!(events.len(), 3);
        match &events[1] {
            CloudEvent::Message { message, .. } => {
                assert_eq!(message.chat, "BR.abc123");
                assert_eq!(message.text, "");
                let media = message.media.as_ref().expect("a media part");
                assert_eq!(media.kind, MediaKind::Audio);
                assert_eq!(
                    media.handle,
                    Some(MediaHandle::Cloud {
                        media_id: "1".into()
                    })
                );
                assert_eq!(message.timestamp, 1_749_416_384);
            }
            other => panic!("{other:?}"),
        }
        match &events[2] {
            CloudEvent::Status { status, error, .. } => {
                assert_eq!(status, "failed");
                assert_eq!(error.as_deref(), Some("131047 Re-engagement message"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_webhook(&json!({"object":"page","entry":[]})).is_err());
    }
}
