//! The store's orders, for its owner (user token) or its apiKey — the kitchen's board and
//! whatever the owner connects:
//!
//! - `GET /api/client/{storeId}/orders?status=&date=YYYY-MM-DD&cursor=`: one store-local
//!   day's orders (today by default), newest first, [`orders::PAGE`] a page
//!   (`{"data":[…],"nextCursor"}`);
//! - `GET /api/client/{storeId}/orders/{orderId}`: one order;
//! - `POST /api/client/{storeId}/orders/{orderId}/status` `{"status","reason"?}`: one of the
//!   documented transitions ([`OrderStatus::next`]), else 409; a cancellation needs a reason;
//! - `POST /api/client/{storeId}/orders/{orderId}/paid`: the owner saw the payment.
//!
//! Each change sends the customer a short pt-BR message through the order's line: a
//! `Notice` job on the bot's queue, which the worker sends like a reply (once per order
//! step). On a Cloud API number whose customer wrote last more than 24 hours ago Meta
//! refuses free text, so the message is skipped and the order's history says so. Repeating
//! the change the order already has (a retried request) answers 200 and re-queues the same
//! notice, which is still sent once.

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{StoreAccess, WithBody};
use super::json::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::bot::{order_text, status as bot_status};
use crate::domain::order::{Order, OrderStatus, TransitionError};
use crate::domain::profile::parse_date;
use crate::jobs::{BotJob, Line};
use crate::orders;
use crate::records;
use crate::store::keys::{self, store_pk};
use crate::ApiError;

/// Meta takes free-text messages within this long of the customer's last message.
pub const CLOUD_WINDOW_MS: i64 = 24 * 3_600_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/client/{store_id}/orders", get(list))
        .route("/api/client/{store_id}/orders/{order_id}", get(read))
        .route(
            "/api/client/{store_id}/orders/{order_id}/status",
            post(change_status),
        )
        .route("/api/client/{store_id}/orders/{order_id}/paid", post(paid))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    date: Option<String>,
    cursor: Option<String>,
}

fn order_id_of(params: &HashMap<String, String>) -> String {
    params.get("order_id").cloned().unwrap_or_default()
}

fn no_order(order_id: &str) -> ApiError {
    ApiError::NotFound(format!("no order with id {order_id:?}"))
}

fn parse_status(status: &str) -> Result<OrderStatus, ApiError> {
    OrderStatus::parse(status).ok_or_else(|| {
        let names: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::invalid(
            "status",
            format!("status must be one of {}", names.join(", ")),
        )
    })
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
    access: StoreAccess,
) -> Result<Json<Value>, ApiError> {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(parse_status(s)?),
        None => None,
    };
    if let Some(date) = &query.date {
        if parse_date(date).is_none() {
            return Err(ApiError::invalid("date", "date must be YYYY-MM-DD"));
        }
    }
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            c.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::invalid("cursor", "cursor is a nextCursor value"))?,
        ),
        None => None,
    };
    let store = state.store.as_ref();
    let config = records::get_config(store, &access.store_id, &access.caller).await?;
    let date = match query.date {
        Some(date) => date,
        None => orders::local_date(&bot_status::zone(&config.timezone), jiff::Timestamp::now()),
    };
    let page = orders::list(store, &access.store_id, &date, status, cursor).await?;
    Ok(Json(json!({
        "data": page.orders,
        "date": date,
        "nextCursor": page.next_cursor,
    })))
}

async fn read(
    State(state): State<AppState>,
    ApiPath(params): ApiPath<HashMap<String, String>>,
    access: StoreAccess,
) -> Result<Json<Order>, ApiError> {
    let order_id = order_id_of(&params);
    let store = state.store.as_ref();
    let (config, order) = tokio::join!(
        records::get_config(store, &access.store_id, &access.caller),
        orders::get(store, &access.store_id, &order_id)
    );
    config?;
    let (order, _) = order?.ok_or_else(|| no_order(&order_id))?;
    Ok(Json(order))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

/// Why the customer can't be sent a message now (noted on the order), if they can't.
async fn unreachable(
    state: &AppState,
    store_id: &str,
    order: &Order,
) -> Result<Option<&'static str>, ApiError> {
    let Some(line) = Line::from_key(&order.line) else {
        return Ok(Some(
            "cliente não avisado: a linha do pedido não existe mais",
        ));
    };
    if state.notices.is_none() {
        return Ok(Some("cliente não avisado: envio de mensagens indisponível"));
    }
    if let Line::Cloud { .. } = line {
        let turn = state
            .store
            .get(
                &store_pk(store_id),
                &keys::chat_turn_sk(&order.line, &order.chat),
            )
            .await?;
        let last = turn
            .and_then(|item| item.get("lastAt").and_then(Value::as_i64))
            .unwrap_or(0);
        if crate::ids::now_ms() - last > CLOUD_WINDOW_MS {
            return Ok(Some(
                "cliente não avisado: fora da janela de 24 horas da API do WhatsApp",
            ));
        }
    }
    Ok(None)
}

/// Queues the customer's message about the order's step `key`.
async fn notify(state: &AppState, store_id: &str, order: &Order, key: String, text: String) {
    let (Some(queue), Some(line)) = (&state.notices, Line::from_key(&order.line)) else {
        return;
    };
    let job = BotJob::Notice {
        store_id: store_id.to_owned(),
        line,
        chat: order.chat.clone(),
        key,
        text,
    };
    if let Err(err) = queue.send(job.outgoing()).await {
        // The change stands; the owner sees the note-less step and may repeat the request.
        tracing::warn!(error = %err, order = %order.id, "could not queue the customer's message");
    }
}

async fn change_status(
    State(state): State<AppState>,
    ApiPath(params): ApiPath<HashMap<String, String>>,
    WithBody(access, ApiJson(body)): WithBody<StoreAccess, ApiJson<StatusChange>>,
) -> Result<Json<Order>, ApiError> {
    let order_id = order_id_of(&params);
    let to = parse_status(&body.status)?;
    let store = state.store.as_ref();
    records::get_config(store, &access.store_id, &access.caller).await?;
    let (current, _) = orders::get(store, &access.store_id, &order_id)
        .await?
        .ok_or_else(|| no_order(&order_id))?;
    let note = unreachable(&state, &access.store_id, &current).await?;
    let at = jiff::Timestamp::now().to_string();
    let reason = body.reason.clone();
    let changed = orders::modify(store, &access.store_id, &order_id, |order| {
        if order.status == to && order.history.last().is_some_and(|h| h.status == to) {
            return Ok::<(), ApiError>(()); // a repeated request: nothing to change
        }
        order
            .transition(to, reason.as_deref(), &at)
            .map_err(|err| match err {
                TransitionError::NotAllowed { .. } => ApiError::Conflict(err.to_string()),
                TransitionError::ReasonRequired | TransitionError::ReasonTooLong => {
                    ApiError::invalid("reason", err.to_string())
                }
            })?;
        if let (Some(note), Some(step)) = (note, order.history.last_mut()) {
            step.note = Some(note.to_owned());
        }
        Ok(())
    })
    .await?
    .ok_or_else(|| no_order(&order_id))?;
    tracing::info!(store_id = %access.store_id, order = %order_id, status = to.as_str(), "order status changed");
    orders::touch_inbox(store, &access.store_id, &changed).await;
    let step = changed.history.len() - 1;
    if changed.history[step].note.is_none() {
        let reason = changed.history[step].reason.clone();
        let text = order_text::status_message(&changed, to, reason.as_deref());
        let key = format!("{}#{step}", changed.id);
        notify(&state, &access.store_id, &changed, key, text).await;
    }
    webhook(&state, &access.store_id, &changed, &step.to_string()).await;
    Ok(Json(changed))
}

/// Queues the `order.status` webhook of the order's change `step`, if the store has one
/// (best effort, like the customer's message: the change stands).
async fn webhook(state: &AppState, store_id: &str, order: &Order, step: &str) {
    let Some(queue) = &state.notices else {
        return;
    };
    let sent =
        crate::order_events::changed(state.store.as_ref(), queue.as_ref(), store_id, order, step)
            .await;
    if let Err(err) = sent {
        tracing::warn!(error = %err, order = %order.id, "could not queue the order webhook");
    }
}

async fn paid(
    State(state): State<AppState>,
    ApiPath(params): ApiPath<HashMap<String, String>>,
    access: StoreAccess,
) -> Result<Json<Order>, ApiError> {
    let order_id = order_id_of(&params);
    let store = state.store.as_ref();
    records::get_config(store, &access.store_id, &access.caller).await?;
    let changed = orders::modify(store, &access.store_id, &order_id, |order| {
        if order.status == OrderStatus::Cancelled {
            return Err(ApiError::Conflict(
                "a cancelled order can't be marked paid".into(),
            ));
        }
        if !order.payment.paid {
            order.payment.paid = true;
            order.updated_at = jiff::Timestamp::now().to_string();
        }
        Ok::<(), ApiError>(())
    })
    .await?
    .ok_or_else(|| no_order(&order_id))?;
    tracing::info!(store_id = %access.store_id, order = %order_id, "order marked paid");
    orders::touch_inbox(store, &access.store_id, &changed).await;
    if unreachable(&state, &access.store_id, &changed)
        .await?
        .is_none()
    {
        let text = order_text::paid_message(&changed);
        let key = format!("{}#paid", changed.id);
        notify(&state, &access.store_id, &changed, key, text).await;
    }
    webhook(&state, &access.store_id, &changed, "paid").await;
    Ok(Json(changed))
}
