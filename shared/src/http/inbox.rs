//! The inbox routes (`/api/whatsapp/{storeId}/chats…`, `/changes`): the console's
//! `/conversas` lists a store's chats, reads a conversation, answers as the owner, pauses
//! or resumes the attendant per chat and polls the change feed. Owner token or the store's
//! apiKey; another owner's store is a 404, another store's apiKey a 403.
//!
//! An owner's message goes out through the attendant's own outbound path: on a linked
//! number, the gateway's outbound queue (pacing, typing, the delivery mark, exactly-once
//! parts); on a Cloud API number, the Graph client after the same delivery mark. It takes
//! the chat's next reply number and pauses the attendant for `takeoverMinutes`, as if the
//! owner had typed on the phone.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::extract::{StoreAccess, WithBody};
use super::json::{ApiPath, ApiQuery};
use super::AppState;
use crate::bot::chat::{self, ChatRef};
use crate::bot::cloud_api::{self, SendError};
use crate::domain::bot_config::BotConfig;
use crate::domain::inbox::{self as rules, BotModeRequest, ChatId, SendRequest};
use crate::ids::now_ms;
use crate::inbox::{self, At, Noted, Role};
use crate::jobs::{Line, OutboundReply};
use crate::records;
use crate::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/whatsapp/{store_id}/chats", get(list))
        .route(
            "/api/whatsapp/{store_id}/chats/{chat_id}/messages",
            get(messages).post(send),
        )
        .route(
            "/api/whatsapp/{store_id}/chats/{chat_id}/bot",
            post(set_bot),
        )
        .route("/api/whatsapp/{store_id}/chats/{chat_id}/read", post(read))
        .route("/api/whatsapp/{store_id}/changes", get(changes))
}

type Params = HashMap<String, String>;

fn param<'a>(query: &'a Params, name: &str) -> Option<&'a str> {
    query.get(name).map(String::as_str)
}

fn keep_secs(config: &BotConfig) -> i64 {
    i64::from(config.history_keep_minutes()) * 60
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<Params>,
    access: StoreAccess,
) -> Result<Json<Value>, ApiError> {
    let cursor = rules::cursor("cursor", param(&query, "cursor"))?;
    let q = rules::search(param(&query, "q"))?;
    let limit = rules::page_limit(param(&query, "limit"))?;
    let store = state.store.as_ref();
    let config = records::get_config(store, &access.store_id, &access.caller).await?;
    let (chats, next) = inbox::list(
        store,
        &access.store_id,
        cursor.as_deref(),
        q.as_deref(),
        limit,
    )
    .await?;
    let now = now_ms();
    let data: Vec<Value> = chats
        .iter()
        .map(|c| c.to_json(config.bot_enabled, now))
        .collect();
    let mut body = json!({ "data": data });
    if let Some(next) = next {
        body["next"] = next.into();
    }
    Ok(Json(body))
}

/// The chat a route names, known to the inbox, with the store's config (the owner check).
async fn known_chat(
    state: &AppState,
    access: &StoreAccess,
    raw: &str,
) -> Result<(BotConfig, ChatId, inbox::Summary), ApiError> {
    let id = ChatId::parse(raw)?;
    let store = state.store.as_ref();
    let config = records::get_config(store, &access.store_id, &access.caller).await?;
    let at = At {
        store_id: &access.store_id,
        line: &id.line,
        chat: &id.chat,
    };
    let summary = inbox::summary(store, at)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no chat {raw:?} in this store")))?;
    Ok((config, id, summary))
}

async fn messages(
    State(state): State<AppState>,
    ApiPath((_, chat_id)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<Params>,
    access: StoreAccess,
) -> Result<Json<Value>, ApiError> {
    let before = rules::cursor("before", param(&query, "before"))?;
    let limit = rules::page_limit(param(&query, "limit"))?;
    let id = ChatId::parse(&chat_id)?;
    let store = state.store.as_ref();
    records::get_config(store, &access.store_id, &access.caller).await?;
    let at = At {
        store_id: &access.store_id,
        line: &id.line,
        chat: &id.chat,
    };
    let (data, next) = inbox::messages(store, at, before.as_deref(), limit).await?;
    let mut body = json!({ "data": data });
    if let Some(next) = next {
        body["next"] = next.into();
    }
    Ok(Json(body))
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))
}

async fn send(
    State(state): State<AppState>,
    ApiPath((_, chat_id)): ApiPath<(String, String)>,
    WithBody(access, body): WithBody<StoreAccess, axum::body::Bytes>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: SendRequest = parse_body(&body)?;
    let text = request.validate()?;
    let (config, id, _) = known_chat(&state, &access, &chat_id).await?;
    let line = Line::from_key(&id.line)
        .ok_or_else(|| ApiError::NotFound(format!("no chat {chat_id:?} in this store")))?;
    let chat = ChatRef {
        store_id: &access.store_id,
        line: &line,
        chat: &id.chat,
    };
    let store = state.store.as_ref();
    let now = now_ms();
    // Where it goes, checked before anything is written.
    let outbound = match &line {
        Line::Web { .. } => Some(
            state
                .sessions
                .as_ref()
                .and_then(|s| s.outbound.clone())
                .ok_or_else(|| {
                    ApiError::Unavailable(
                        "sending from linked numbers is not configured here".into(),
                    )
                })?,
        ),
        Line::Cloud { phone_number_id } => {
            match cloud_api::attached(store, &access.store_id).await? {
                Some((number, _)) if &number == phone_number_id => {}
                _ => {
                    return Err(ApiError::bad_request(
                        "line_detached",
                        "this chat's Cloud API number is no longer attached to the store",
                    ))
                }
            }
            let last = chat::last_customer_message(store, &chat).await?;
            if last.is_none_or(|at| at < now - rules::CLOUD_WINDOW_MS) {
                return Err(outside_window());
            }
            None
        }
    };
    let minutes = config.takeover_minutes.unwrap_or(config.context_time);
    let until = now + i64::from(minutes) * 60_000;
    let keep = config.history_keep_minutes();
    let mut claimed = None;
    for _ in 0..5 {
        let echoes = |seq| match &line {
            // The id the gateway sends its one part under (`OutboundReply::part_id`).
            Line::Web { slot } => {
                vec![owner_reply(&access.store_id, *slot, &id.chat, seq, &text, now).part_id(0)]
            }
            Line::Cloud { .. } => Vec::new(),
        };
        claimed =
            chat::claim_owner_message_as(store, &chat, &text, until, keep, now, echoes).await?;
        if claimed.is_some() {
            break;
        }
    }
    let (seq, chat_state) =
        claimed.ok_or_else(|| ApiError::Conflict("the chat is busy; retry".into()))?;
    let at = At {
        store_id: &access.store_id,
        line: &id.line,
        chat: &id.chat,
    };
    let noted = Noted {
        role: Role::Owner,
        text: &text,
        at_ms: now,
        name: None,
    };
    inbox::noted(store, at, noted, keep_secs(&config), now).await?;
    inbox::paused(store, at, chat_state.paused_until, keep_secs(&config), now).await?;
    let message_id = format!("owner{seq}");
    let mut status = "pending";
    match (&line, outbound) {
        (Line::Web { slot }, Some(outbound)) => {
            let reply = owner_reply(&access.store_id, *slot, &id.chat, seq, &text, now);
            outbound
                .send(reply.outgoing())
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        }
        (Line::Cloud { phone_number_id }, _) => {
            send_cloud(&state, &chat, phone_number_id, seq, &text, now).await?;
            status = "sent";
        }
        (Line::Web { .. }, None) => unreachable!("checked above"),
    }
    let data = json!({
        "id": message_id, "role": "owner", "text": text,
        "at": crate::ids::rfc3339_ms(now), "status": status,
    });
    Ok((StatusCode::ACCEPTED, Json(json!({ "data": data }))))
}

/// The owner's message as the gateway delivers it: one part (the text is at most one
/// WhatsApp message long).
fn owner_reply(
    store_id: &str,
    slot: u8,
    chat: &str,
    seq: i64,
    text: &str,
    at_ms: i64,
) -> OutboundReply {
    OutboundReply {
        store_id: store_id.to_owned(),
        slot,
        chat: chat.to_owned(),
        seq,
        chunks: vec![text.to_owned()],
        ephemeral_expiration: None,
        image: None,
        owner: true,
        at: Some(at_ms),
    }
}

fn outside_window() -> ApiError {
    ApiError::bad_request(
        "outside_window",
        "the customer's last message was more than 24 hours ago: WhatsApp lets a Cloud API number send only approved templates until the customer writes again",
    )
}

/// Sends an owner's message through the Cloud API now, under the same delivery mark as the
/// attendant's replies; a failure is shown on the message (`failed`) and answered.
async fn send_cloud(
    state: &AppState,
    chat: &ChatRef<'_>,
    phone_number_id: &str,
    seq: i64,
    text: &str,
    at_ms: i64,
) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    let id = format!("owner{seq}");
    let token = cloud_api::access_token(store, &state.secrets, chat.store_id, phone_number_id)
        .await?
        .ok_or_else(|| {
            ApiError::bad_request(
                "line_detached",
                "this chat's Cloud API number is no longer attached",
            )
        })?;
    if chat::begin_sending_as(store, chat, seq, true, now_ms())
        .await?
        .is_none()
    {
        return Err(ApiError::Conflict(
            "a newer message went out in this chat first".into(),
        ));
    }
    let mut ids = Vec::new();
    for part in crate::bot::reply::split(text, crate::bot::reply::MAX_MESSAGE_CHARS) {
        match state
            .graph
            .send_text(phone_number_id, &token, chat.chat, &part)
            .await
        {
            Ok(wamid) => ids.push(wamid),
            Err(err) => {
                let _ = chat::message_status(store, chat, at_ms, &id, "failed").await;
                return Err(match err {
                    SendError::OutsideWindow => outside_window(),
                    SendError::RateLimited { .. } | SendError::Transient(_) => ApiError::Upstream(
                        "whatsapp_unavailable",
                        format!("WhatsApp did not take the message: {err}"),
                    ),
                    SendError::Refused(_) => {
                        ApiError::Upstream("whatsapp_refused", format!("{err}"))
                    }
                });
            }
        }
    }
    chat::sent_as(store, chat, &ids, at_ms, &id, now_ms()).await?;
    inbox::delivered(store, chat, at_ms, &id).await;
    Ok(())
}

async fn set_bot(
    State(state): State<AppState>,
    ApiPath((_, chat_id)): ApiPath<(String, String)>,
    WithBody(access, body): WithBody<StoreAccess, axum::body::Bytes>,
) -> Result<Json<Value>, ApiError> {
    let request: BotModeRequest = parse_body(&body)?;
    let (config, id, _) = known_chat(&state, &access, &chat_id).await?;
    let now = now_ms();
    let minutes = config.takeover_minutes.unwrap_or(config.context_time);
    let until = request.paused_until(minutes, now)?;
    let line = Line::from_key(&id.line)
        .ok_or_else(|| ApiError::NotFound(format!("no chat {chat_id:?} in this store")))?;
    let chat = ChatRef {
        store_id: &access.store_id,
        line: &line,
        chat: &id.chat,
    };
    let store = state.store.as_ref();
    chat::set_paused(store, &chat, until).await?;
    let at = At {
        store_id: &access.store_id,
        line: &id.line,
        chat: &id.chat,
    };
    let summary = inbox::paused(store, at, until, keep_secs(&config), now).await?;
    Ok(Json(
        json!({ "data": summary.to_json(config.bot_enabled, now) }),
    ))
}

async fn read(
    State(state): State<AppState>,
    ApiPath((_, chat_id)): ApiPath<(String, String)>,
    access: StoreAccess,
) -> Result<Json<Value>, ApiError> {
    let (config, id, summary) = known_chat(&state, &access, &chat_id).await?;
    let now = now_ms();
    if summary.unread == 0 {
        return Ok(Json(
            json!({ "data": summary.to_json(config.bot_enabled, now) }),
        ));
    }
    let at = At {
        store_id: &access.store_id,
        line: &id.line,
        chat: &id.chat,
    };
    let summary = inbox::read(state.store.as_ref(), at, keep_secs(&config), now).await?;
    Ok(Json(
        json!({ "data": summary.to_json(config.bot_enabled, now) }),
    ))
}

async fn changes(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<Params>,
    access: StoreAccess,
) -> Result<Json<Value>, ApiError> {
    let since = rules::cursor("since", param(&query, "since"))?;
    let feed = inbox::changes(
        state.store.as_ref(),
        &access.store_id,
        &access.caller,
        since.as_deref(),
    )
    .await?
    .ok_or_else(|| {
        ApiError::NotFound(format!(
            "no WhatsApp connection with storeId {:?}",
            access.store_id
        ))
    })?;
    Ok(Json(
        json!({ "changes": feed.changes, "cursor": feed.cursor }),
    ))
}
