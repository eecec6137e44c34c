//! A conversation's records in the store, under the store's partition:
//!
//! | sort key                               | what                                             |
//! |----------------------------------------|--------------------------------------------------|
//! | `SEEN#<line>#<messageId>`              | dedupe marker of a message, kept 8 days          |
//! | `CHAT#<line>#<chat>#M#<ms>#<id>`       | one message of the history (expires after the store's `historyDays`; a turn reads only the context time) |
//! | `CHAT#<line>#<chat>#~in`               | the chat's latest customer message (the turn), with its disappearing-messages timer |
//! | `CHAT#<line>#<chat>#~cart`             | the chat's cart and latest order ([`crate::orders`]), written with the claim |
//! | `CHAT#<line>#<chat>#~st`               | reply state: answered-through, reply sequence, delivered sequence, parts of it sent, paused-until, the last reply, the recent model calls, the closed period announced |
//! | `STATUS#<line>#<messageId>`            | delivery status of a message sent through the Cloud API, kept 8 days (with the history message it belongs to) |
//!
//! `keep_minutes` below is the history's retention (`BotConfig::history_keep_minutes`); the
//! inbox's summary of a chat (`~ix`) is kept by [`crate::inbox`].
//!
//! The keys are built in [`crate::store::keys`]. `~` sorts after `M`, so one newest-first
//! query returns the state, the turn and the last messages together. A reply is *claimed*
//! by a conditional write of `~st` (nobody else replied, the owner didn't take over
//! meanwhile) and *delivered* after another conditional write that checks the pause again:
//! the moment before sending is the last word.
//!
//! Model calls are rationed per chat ([`TurnLimit`]: 6 a minute by default), because a
//! customer pays nothing to flood a chat and we pay the LLM for every turn. Before asking
//! the model a worker *reserves* the call with a conditional update of `~st` (the times of
//! the chat's recent calls and a `callSeq` counter), so the ration holds across workers and
//! Lambda invocations; a flood's extra messages are recorded as usual and answered together
//! by the next turn the ration allows. Each customer text is stored capped
//! ([`super::prompt::capped`]), so a 65,536-character message costs the model at most
//! 2,000 characters, in this turn and in every later one that sees it in the history.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::jobs::{ChatMessage, Line};
use crate::store::keys::{self, store_pk};
use crate::store::{applied, attr_str, Cond, Item, Store, StoreError, Update, WriteOp};

/// `pausedUntil` of a chat switched off with `#bot off` (until `#bot on`).
pub use crate::domain::inbox::PAUSED_FOREVER_MS;
/// Meta redelivers webhooks for 7 days; queues redeliver for days at most.
const SEEN_KEEP_SECS: i64 = 8 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Customer,
    Bot,
    Owner,
}

/// One message of a chat's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub role: Role,
    pub text: String,
    pub at_ms: i64,
}

/// A reply waiting to be delivered (kept so a redelivered turn can resend it, not redo it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingReply {
    pub seq: i64,
    pub chunks: Vec<String>,
    /// An image sent after the texts (a Pix QR code), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<crate::jobs::ReplyImage>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChatState {
    /// Receipt time (ms) of the latest customer message already answered.
    pub replied_through: i64,
    pub reply_seq: i64,
    pub delivered_seq: i64,
    pub paused_until: i64,
    pub last_reply: Option<PendingReply>,
    /// When the model was asked for this chat (ms, oldest first): at most the last
    /// [`TurnLimit::calls`] of them, those inside the window.
    pub model_calls: Vec<i64>,
    /// Counts reservations, so that two workers can't both reserve from the same state.
    /// Absent (`None`) on states written before the ration existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_seq: Option<i64>,
    /// Delivery progress of a reply in parts: `sentParts` parts of reply `sentSeq` are with
    /// the customer ([`part_sent`]), so a delivery that failed at a later part goes on from
    /// there instead of sending the earlier ones again. Absent until a reply of several
    /// parts goes out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_parts: Option<i64>,
    /// The closed period ([`super::status::closed_period`]: when it ends, ms) whose
    /// "we're closed" notice this chat got, so it gets it once per period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_notice: Option<i64>,
}

/// How many model calls one chat may cost: at most `calls` per `per`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnLimit {
    pub calls: u32,
    pub per: Duration,
}

impl Default for TurnLimit {
    fn default() -> Self {
        Self {
            calls: 6,
            per: Duration::from_secs(60),
        }
    }
}

/// What asking to call the model for a chat got.
#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    /// Go ahead; the chat's state is now this (claim the reply against it).
    Granted(ChatState),
    /// The chat used its ration: ask again at this time (ms).
    Limited { until_ms: i64 },
    /// Another worker changed the chat meanwhile: look again shortly.
    Lost,
}

/// What the worker knows about a chat when a turn is due.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Turn {
    /// `None`: no reply was ever claimed in this chat.
    pub state: Option<ChatState>,
    /// The latest customer message: its id and receipt time (ms).
    pub latest: Option<(String, i64)>,
    /// The history inside the context window, oldest first.
    pub history: Vec<Entry>,
    /// The chat's disappearing-messages timer (seconds), as the latest customer message
    /// carried it: replies are sent with it.
    pub ephemeral_expiration: Option<u32>,
    /// The chat's cart item as stored ([`crate::orders::cart_from`] reads it).
    pub cart: Option<Item>,
}

/// Addresses one chat of one line of one store.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRef<'a> {
    pub store_id: &'a str,
    pub line: &'a Line,
    pub chat: &'a str,
}

impl ChatRef<'_> {
    fn pk(&self) -> String {
        store_pk(self.store_id)
    }
    fn prefix(&self) -> String {
        keys::chat_prefix(&self.line.key(), self.chat)
    }
    fn state_sk(&self) -> String {
        keys::chat_state_sk(&self.line.key(), self.chat)
    }
    fn latest_sk(&self) -> String {
        keys::chat_turn_sk(&self.line.key(), self.chat)
    }
    fn message_item(
        &self,
        id: &str,
        role: Role,
        text: &str,
        at_ms: i64,
        keep_minutes: u32,
    ) -> Item {
        let sk = keys::chat_message_sk(&self.line.key(), self.chat, at_ms, id);
        keys::item(self.pk(), sk)
            .attrs(json!({
                "role": role, "text": text, "at": at_ms,
                "expiresAt": at_ms / 1000 + i64::from(keep_minutes) * 60,
            }))
            .build()
    }
    /// The sort key of history message `id` written at `at_ms`.
    pub fn message_sk(&self, at_ms: i64, id: &str) -> String {
        keys::chat_message_sk(&self.line.key(), self.chat, at_ms, id)
    }
    fn seen_item(&self, id: &str, now_ms: i64) -> Item {
        keys::item(self.pk(), keys::seen_sk(&self.line.key(), id))
            .set("expiresAt", now_ms / 1000 + SEEN_KEEP_SECS)
            .build()
    }
}

fn put(item: Item, cond: Cond) -> WriteOp {
    WriteOp::Put { item, cond }
}

/// Records a customer's message and makes it the chat's latest. `Ok(false)`: this message
/// id was recorded before (a redelivery), nothing changed. `extra` writes (the usage
/// count) join the same transaction, so they happen once per message id. One round trip.
pub async fn record_customer(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    message: &ChatMessage,
    keep_minutes: u32,
    now_ms: i64,
    extra: Vec<WriteOp>,
) -> Result<bool, StoreError> {
    record_customer_at(store, chat, message, keep_minutes, now_ms, now_ms, extra).await
}

/// [`record_customer`] of a message received at `received_ms`, recorded at `now_ms`
/// (later: a voice note is recorded once transcribed). The history keeps it at its
/// receipt time, so a voice note followed by a text reads in the order they were sent;
/// the turn (`~in`) takes the record time, so it still comes after any reply claimed
/// meanwhile and gets its own answer.
pub async fn record_customer_at(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    message: &ChatMessage,
    keep_minutes: u32,
    received_ms: i64,
    now_ms: i64,
    extra: Vec<WriteOp>,
) -> Result<bool, StoreError> {
    let mut latest = json!({ "lastId": message.id, "lastAt": now_ms, "expiresAt": now_ms / 1000 + SEEN_KEEP_SECS });
    if let Some(seconds) = message.ephemeral_expiration {
        // The chat's timer as of its latest message (none: the chat keeps its messages).
        latest["expiration"] = seconds.into();
    }
    let latest = keys::item(chat.pk(), chat.latest_sk())
        .attrs(latest)
        .build();
    let ops = vec![
        put(chat.seen_item(&message.id, now_ms), Cond::NotExists),
        put(
            chat.message_item(
                &message.id,
                Role::Customer,
                &super::prompt::capped(&message.text),
                received_ms,
                keep_minutes,
            ),
            Cond::None,
        ),
        put(latest, Cond::None),
    ];
    let ops = ops.into_iter().chain(extra).collect();
    applied(store.write(ops).await)
}

/// Was message `id` recorded in this chat already (a redelivery)? One read; lets costly
/// work on a message (transcribing a voice note) happen once per message id.
pub async fn seen(store: &dyn Store, chat: &ChatRef<'_>, id: &str) -> Result<bool, StoreError> {
    let item = store
        .get(&chat.pk(), &keys::seen_sk(&chat.line.key(), id))
        .await?;
    Ok(item.is_some())
}

/// Until when (ms) the chat is paused (the owner took over, or `#bot off`); 0: not paused.
/// One read of the reply state.
pub async fn paused_until(store: &dyn Store, chat: &ChatRef<'_>) -> Result<i64, StoreError> {
    let item = store.get(&chat.pk(), &chat.state_sk()).await?;
    Ok(item
        .and_then(|item| item.get("pausedUntil").and_then(Value::as_i64))
        .unwrap_or(0))
}

/// Marks a once-per-chat event (`what`, e.g. the "please type" notice) as a seen mark;
/// `Ok(false)`: marked before (within the seen marks' lifetime), so don't do it again.
pub async fn first_time(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    what: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    // Seen marks are keyed by line and message id: the chat goes into the id.
    let id = format!("once#{}#{what}", chat.chat);
    let ops = vec![put(chat.seen_item(&id, now_ms), Cond::NotExists)];
    applied(store.write(ops).await)
}

/// Records a customer's edit of an earlier message: the history gains the new text, but the
/// chat's latest message doesn't change, so no turn is taken for it (no second reply).
/// `Ok(false)`: a redelivery. One round trip.
pub async fn record_edit(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    message: &ChatMessage,
    keep_minutes: u32,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let text = format!(
        "(o cliente editou uma mensagem anterior para) {}",
        message.text
    );
    let ops = vec![
        put(chat.seen_item(&message.id, now_ms), Cond::NotExists),
        put(
            chat.message_item(
                &message.id,
                Role::Customer,
                &super::prompt::capped(&text),
                now_ms,
                keep_minutes,
            ),
            Cond::None,
        ),
    ];
    applied(store.write(ops).await)
}

/// What an owner's message from the phone does to the bot in that chat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OwnerAction {
    /// `#bot off`: quiet in this chat until `#bot on`.
    BotOff,
    /// `#bot on`: answer again now.
    BotOn,
    /// The owner is talking to the customer: quiet until this time (ms).
    TakeOver { until_ms: i64 },
}

impl OwnerAction {
    pub fn of(text: &str, until_ms: i64) -> Self {
        let command = text.trim().to_lowercase();
        let command: Vec<&str> = command.split_whitespace().collect();
        match command.as_slice() {
            ["#bot", "off"] => OwnerAction::BotOff,
            ["#bot", "on"] => OwnerAction::BotOn,
            _ => OwnerAction::TakeOver { until_ms },
        }
    }
}

/// Records the owner's message (commands are not history) and pauses or resumes the bot in
/// the chat. `Ok(false)`: a redelivery. `extra` writes join the record's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn record_owner(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    message: &ChatMessage,
    action: OwnerAction,
    keep_minutes: u32,
    now_ms: i64,
    extra: Vec<WriteOp>,
) -> Result<bool, StoreError> {
    let mut ops = vec![put(chat.seen_item(&message.id, now_ms), Cond::NotExists)];
    ops.extend(extra);
    if let OwnerAction::TakeOver { .. } = action {
        let mut item = chat.message_item(
            &message.id,
            Role::Owner,
            &message.text,
            now_ms,
            keep_minutes,
        );
        item.insert("source".into(), "phone".into());
        ops.push(put(item, Cond::None));
    }
    if !applied(store.write(ops).await)? {
        return Ok(false);
    }
    let (until, cond) = match action {
        OwnerAction::BotOff => (PAUSED_FOREVER_MS, Cond::None),
        OwnerAction::BotOn => (0, Cond::None),
        // A takeover never shortens a longer pause (e.g. `#bot off`).
        OwnerAction::TakeOver { until_ms } => {
            (until_ms, Cond::Below("pausedUntil".into(), until_ms))
        }
    };
    // A chat's first state is written whole, so that later conditions find every attribute.
    let first = state_item(
        chat,
        &ChatState {
            paused_until: until,
            call_seq: Some(0),
            ..ChatState::default()
        },
    )?;
    if applied(store.write(vec![put(first, Cond::NotExists)]).await)? {
        return Ok(true);
    }
    let update = Update {
        set: vec![("pausedUntil".into(), until.into())],
        cond: match cond {
            Cond::None => Cond::Exists,
            other => other,
        },
        ..Update::default()
    };
    // A failed condition: a longer pause is in place already.
    applied(store.update(&chat.pk(), &chat.state_sk(), update).await)?;
    Ok(true)
}

/// Sets the chat's pause (the console's pause, resume and off): `0` answers again now,
/// [`PAUSED_FOREVER_MS`] until switched on. One or two writes.
pub async fn set_paused(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    until_ms: i64,
) -> Result<(), StoreError> {
    let first = state_item(
        chat,
        &ChatState {
            paused_until: until_ms,
            call_seq: Some(0),
            ..ChatState::default()
        },
    )?;
    if applied(store.write(vec![put(first, Cond::NotExists)]).await)? {
        return Ok(());
    }
    let update = Update {
        set: vec![("pausedUntil".into(), until_ms.into())],
        cond: Cond::Exists,
        ..Update::default()
    };
    store.update(&chat.pk(), &chat.state_sk(), update).await?;
    Ok(())
}

/// When the customer last wrote in the chat (ms; `None`: not in the last 8 days).
pub async fn last_customer_message(
    store: &dyn Store,
    chat: &ChatRef<'_>,
) -> Result<Option<i64>, StoreError> {
    Ok(store
        .get(&chat.pk(), &chat.latest_sk())
        .await?
        .and_then(|item| item.get("lastAt").and_then(Value::as_i64)))
}

fn state_item(chat: &ChatRef<'_>, state: &ChatState) -> Result<Item, StoreError> {
    Ok(keys::item(chat.pk(), chat.state_sk())
        .record(state)?
        .build())
}

/// Reads the chat's state, latest message and the history inside the context window (at
/// most `limit` messages no older than `context_minutes`). One round trip.
pub async fn load_turn(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    limit: u32,
    context_minutes: u32,
    now_ms: i64,
) -> Result<Turn, StoreError> {
    let items = store
        .query_last(&chat.pk(), &chat.prefix(), limit as usize + 3)
        .await?;
    let (state_sk, latest_sk) = (chat.state_sk(), chat.latest_sk());
    let cart_sk = keys::chat_cart_sk(&chat.line.key(), chat.chat);
    let oldest = now_ms - i64::from(context_minutes) * 60_000;
    let mut turn = Turn::default();
    for item in items {
        let sk = item.get("sk").and_then(Value::as_str).unwrap_or_default();
        if sk.ends_with("#~ix") {
            continue; // the inbox's summary (crate::inbox)
        }
        if sk == state_sk {
            turn.state = Some(
                serde_json::from_value(Value::Object(item))
                    .map_err(|e| StoreError::Data(e.to_string()))?,
            );
        } else if sk == latest_sk {
            let id = item
                .get("lastId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let at = item
                .get("lastAt")
                .and_then(Value::as_i64)
                .unwrap_or_default();
            turn.latest = Some((id.to_owned(), at));
            turn.ephemeral_expiration = item
                .get("expiration")
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok());
        } else if sk == cart_sk {
            turn.cart = Some(item);
        } else if turn.history.len() < limit as usize {
            let at_ms = item.get("at").and_then(Value::as_i64).unwrap_or_default();
            let role = item
                .get("role")
                .cloned()
                .and_then(|r| serde_json::from_value(r).ok());
            let text = item.get("text").and_then(Value::as_str);
            if let (Some(role), Some(text)) = (role, text) {
                if at_ms >= oldest {
                    turn.history.push(Entry {
                        role,
                        text: text.to_owned(),
                        at_ms,
                    });
                }
            }
        }
    }
    turn.history.reverse();
    Ok(turn)
}

/// The condition that `~st` is still as `seen` (same reply sequence, pause and reservation
/// count; states older than the ration have no count to compare).
fn unchanged_since(seen: &ChatState) -> Cond {
    let mut attrs = vec![
        ("replySeq".into(), seen.reply_seq.into()),
        ("pausedUntil".into(), seen.paused_until.into()),
    ];
    if let Some(seq) = seen.call_seq {
        attrs.push(("callSeq".into(), seq.into()));
    }
    Cond::Matches(attrs)
}

/// Reserves one model call for the chat if its ration allows: one conditional write (an
/// update of the recent calls and `callSeq` only, so the delivery mark the gateway may be
/// writing meanwhile is left alone; a chat's first state is written whole). Nothing is
/// written when the ration is used up.
pub async fn reserve_model_call(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seen: Option<&ChatState>,
    limit: TurnLimit,
    now_ms: i64,
) -> Result<Reservation, StoreError> {
    let before = seen.cloned().unwrap_or_default();
    let window = limit.per.as_millis() as i64;
    let allowed = limit.calls.max(1) as usize;
    let mut calls: Vec<i64> = before
        .model_calls
        .iter()
        .copied()
        .filter(|at| *at > now_ms - window)
        .collect();
    if calls.len() >= allowed {
        // The call that must leave the window before another fits.
        let until_ms = calls[calls.len() - allowed] + window;
        return Ok(Reservation::Limited { until_ms });
    }
    calls.push(now_ms);
    let state = ChatState {
        model_calls: calls,
        call_seq: Some(before.call_seq.unwrap_or(0) + 1),
        ..before
    };
    let written = match seen {
        None => {
            store
                .write(vec![put(state_item(chat, &state)?, Cond::NotExists)])
                .await
        }
        Some(seen) => {
            let update = Update {
                set: vec![
                    ("modelCalls".into(), json!(state.model_calls)),
                    ("callSeq".into(), json!(state.call_seq)),
                ],
                cond: unchanged_since(seen),
                ..Update::default()
            };
            store
                .update(&chat.pk(), &chat.state_sk(), update)
                .await
                .map(|_| ())
        }
    };
    Ok(if applied(written)? {
        Reservation::Granted(state)
    } else {
        Reservation::Lost
    })
}

/// Claims the turn answered through `latest_at` with `reply`: one conditional write that
/// fails if anyone replied, reserved a model call or the owner took over since `seen` was
/// read. The reply joins the history; `closed_notice`: the closed period it announced;
/// `with`: further writes of the same transaction (the chat's cart, the turn's usage: once
/// per turn). `Ok(None)`: lost the claim (or a condition of `with` failed), nothing written.
#[allow(clippy::too_many_arguments)]
pub async fn claim_reply(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seen: Option<&ChatState>,
    latest_at: i64,
    chunks: Vec<String>,
    closed_notice: Option<i64>,
    keep_minutes: u32,
    now_ms: i64,
    with: Vec<WriteOp>,
) -> Result<Option<ChatState>, StoreError> {
    let reply = Claim {
        chunks,
        image: None,
    };
    claim_reply_with(
        store,
        chat,
        seen,
        latest_at,
        reply,
        closed_notice,
        keep_minutes,
        now_ms,
        with,
    )
    .await
}

/// What a turn's claim hands over: its text parts and, optionally, an image after them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claim {
    pub chunks: Vec<String>,
    pub image: Option<crate::jobs::ReplyImage>,
}

/// [`claim_reply`] of a reply that may carry an image (the image's caption goes into the
/// chat's history after the texts); `with` writes join the claim's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn claim_reply_with(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seen: Option<&ChatState>,
    latest_at: i64,
    reply: Claim,
    closed_notice: Option<i64>,
    keep_minutes: u32,
    now_ms: i64,
    with: Vec<WriteOp>,
) -> Result<Option<ChatState>, StoreError> {
    let Claim { chunks, image } = reply;
    let before = seen.cloned().unwrap_or_default();
    let seq = before.reply_seq + 1;
    let state = ChatState {
        replied_through: latest_at,
        reply_seq: seq,
        last_reply: Some(PendingReply {
            seq,
            chunks: chunks.clone(),
            image: image.clone(),
        }),
        closed_notice: closed_notice.or(before.closed_notice),
        ..before.clone()
    };
    let cond = match seen {
        None => Cond::NotExists,
        Some(seen) => unchanged_since(seen),
    };
    let state_item = state_item(chat, &state)?;
    let mut text = chunks.join(
        "

",
    );
    if let Some(image) = &image {
        text = format!(
            "{text}

[imagem: {}]",
            image.caption
        );
    }
    let mut message = chat.message_item(
        &format!("reply{seq}"),
        Role::Bot,
        &text,
        now_ms,
        keep_minutes,
    );
    message.insert("statusRank".into(), 0.into());
    let mut ops = vec![put(state_item, cond), put(message, Cond::None)];
    ops.extend(with);
    Ok(applied(store.write(ops).await)?.then_some(state))
}

/// Makes `text` the chat's next reply, once per `key` (a message our code sends unasked,
/// such as an order's status change): the dedupe marker of `key`, the reply state (the
/// next reply sequence, `repliedThrough` untouched) and the history entry in one
/// conditional write, read again on a lost race. `Ok(None)`: `key` was sent before.
pub async fn claim_notice(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    key: &str,
    text: &str,
    keep_minutes: u32,
    now_ms: i64,
) -> Result<Option<ChatState>, StoreError> {
    let seen_id = format!("notice#{key}");
    for _ in 0..5 {
        let seen: Option<ChatState> = match store.get(&chat.pk(), &chat.state_sk()).await? {
            Some(item) => Some(
                serde_json::from_value(Value::Object(item))
                    .map_err(|e| StoreError::Data(e.to_string()))?,
            ),
            None => None,
        };
        let before = seen.clone().unwrap_or_else(|| ChatState {
            call_seq: Some(0),
            ..ChatState::default()
        });
        let seq = before.reply_seq + 1;
        let state = ChatState {
            reply_seq: seq,
            last_reply: Some(PendingReply {
                seq,
                chunks: vec![text.to_owned()],
                image: None,
            }),
            ..before
        };
        let cond = match &seen {
            None => Cond::NotExists,
            Some(seen) => unchanged_since(seen),
        };
        let ops = vec![
            put(chat.seen_item(&seen_id, now_ms), Cond::NotExists),
            put(state_item(chat, &state)?, cond),
            put(
                chat.message_item(
                    &format!("reply{seq}"),
                    Role::Bot,
                    text,
                    now_ms,
                    keep_minutes,
                ),
                Cond::None,
            ),
        ];
        if applied(store.write(ops).await)? {
            return Ok(Some(state));
        }
        let marker = keys::seen_sk(&chat.line.key(), &seen_id);
        if store.get(&chat.pk(), &marker).await?.is_some() {
            return Ok(None);
        }
    }
    Err(StoreError::Unavailable(
        "the chat kept changing; the notice will be retried".into(),
    ))
}

/// The last check before reply `seq` goes out: not delivered yet and the owner hasn't taken
/// over the chat. Marks it delivered; `Ok(false)`: don't send. One round trip.
pub async fn mark_delivering(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seq: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    Ok(mark_delivered_below(store, chat, seq, seq, Some(now_ms))
        .await?
        .is_some())
}

/// Like [`mark_delivering`], for a line whose sends are idempotent (WhatsApp Web and the
/// simulator: each part carries the id [`OutboundReply::part_id`](crate::jobs::OutboundReply::part_id)
/// gives it): a reply already marked may be marked again, so a delivery cut short by a
/// crash between this mark and the send is resent, under the same ids, by the queue's
/// redelivery. A newer reply delivered or an owner who took the chat over still say no.
/// One round trip.
pub async fn mark_sending(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seq: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    Ok(begin_sending(store, chat, seq, now_ms).await?.is_some())
}

/// [`mark_sending`], telling how many parts of reply `seq` an earlier attempt sent
/// ([`part_sent`]): `Some(parts)` send from part `parts` on; `None` don't send. The same
/// one round trip (the update returns the state it left).
pub async fn begin_sending(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seq: i64,
    now_ms: i64,
) -> Result<Option<usize>, StoreError> {
    begin_sending_as(store, chat, seq, false, now_ms).await
}

/// [`begin_sending`]; `owner`: the message is the owner's own (sent from the console),
/// which the pause it caused doesn't hold back (only a newer message delivered does).
pub async fn begin_sending_as(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seq: i64,
    owner: bool,
    now_ms: i64,
) -> Result<Option<usize>, StoreError> {
    let paused_at = (!owner).then_some(now_ms);
    let Some(state) = mark_delivered_below(store, chat, seq, seq + 1, paused_at).await? else {
        return Ok(None);
    };
    let sent = state.get("sentSeq").and_then(Value::as_i64) == Some(seq);
    let parts = state.get("sentParts").and_then(Value::as_i64).unwrap_or(0);
    Ok(Some(if sent { parts.max(0) as usize } else { 0 }))
}

/// Part `parts - 1` of reply `seq` went out: a later attempt starts at part `parts`. Only
/// while the reply is the one marked for sending (a newer reply's progress is not
/// overwritten). One conditional write per part that has another after it.
pub async fn part_sent(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seq: i64,
    parts: usize,
) -> Result<(), StoreError> {
    let update = Update {
        set: vec![
            ("sentSeq".into(), seq.into()),
            ("sentParts".into(), (parts as i64).into()),
        ],
        cond: Cond::Matches(vec![("deliveredSeq".into(), seq.into())]),
        ..Update::default()
    };
    // A failed condition: the reply is no longer the one being sent; nothing to record.
    applied(store.update(&chat.pk(), &chat.state_sk(), update).await)?;
    Ok(())
}

/// Sets `deliveredSeq` to `seq` if it is below `ceiling` and (with `paused_at`, the time
/// now) the chat isn't paused; returns the state as it left it (`None`: the condition
/// failed).
async fn mark_delivered_below(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seq: i64,
    ceiling: i64,
    paused_at: Option<i64>,
) -> Result<Option<Item>, StoreError> {
    let cond = match paused_at {
        // An owner's own message, sent whatever the pause.
        None => Cond::Below("deliveredSeq".into(), ceiling),
        Some(now_ms) => Cond::All(vec![
            Cond::Below("deliveredSeq".into(), ceiling),
            Cond::Below("pausedUntil".into(), now_ms + 1),
        ]),
    };
    let update = Update {
        set: vec![("deliveredSeq".into(), seq.into())],
        cond,
        ..Update::default()
    };
    match store.update(&chat.pk(), &chat.state_sk(), update).await {
        Ok(item) => Ok(Some(item)),
        Err(StoreError::ConditionFailed) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Sending failed after [`mark_delivering`]: give the reply back so a retry sends it.
pub async fn unmark_delivering(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seq: i64,
) -> Result<(), StoreError> {
    let update = Update {
        set: vec![("deliveredSeq".into(), (seq - 1).into())],
        cond: Cond::Matches(vec![("deliveredSeq".into(), seq.into())]),
        ..Update::default()
    };
    // A failed condition: the reply was not ours to give back.
    applied(store.update(&chat.pk(), &chat.state_sk(), update).await)?;
    Ok(())
}

/// The owner sends `text` from the console: takes the chat's next reply sequence number
/// (so the attendant's claim in flight fails and its pending reply is not delivered after
/// this), pauses the attendant until `until_ms` (never shortening a longer pause), and
/// puts the message in the history as the owner's. Returns the sequence number the
/// message is delivered under. Two round trips: the state's read and one transaction.
pub async fn claim_owner_message(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    text: &str,
    until_ms: i64,
    keep_minutes: u32,
    now_ms: i64,
) -> Result<Option<(i64, ChatState)>, StoreError> {
    let none = |_| Vec::new();
    claim_owner_message_as(store, chat, text, until_ms, keep_minutes, now_ms, none).await
}

/// [`claim_owner_message`]; `echo_ids(seq)`: the WhatsApp ids the message will go out
/// under, marked seen now, so its echo from the phone (after a gateway restart emptied
/// the echo filter) is not recorded a second time as the owner typing.
pub async fn claim_owner_message_as(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    text: &str,
    until_ms: i64,
    keep_minutes: u32,
    now_ms: i64,
    echo_ids: impl Fn(i64) -> Vec<String>,
) -> Result<Option<(i64, ChatState)>, StoreError> {
    let seen: Option<ChatState> = store
        .get(&chat.pk(), &chat.state_sk())
        .await?
        .map(|item| serde_json::from_value(Value::Object(item)))
        .transpose()
        .map_err(|e| StoreError::Data(e.to_string()))?;
    let before = seen.clone().unwrap_or(ChatState {
        call_seq: Some(0),
        ..ChatState::default()
    });
    let seq = before.reply_seq + 1;
    let paused_until = before.paused_until.max(until_ms);
    let mut message = chat.message_item(
        &format!("owner{seq}"),
        Role::Owner,
        text,
        now_ms,
        keep_minutes,
    );
    message.insert("source".into(), "console".into());
    message.insert("statusRank".into(), 0.into());
    let state = ChatState {
        reply_seq: seq,
        paused_until,
        ..before
    };
    let first = match &seen {
        // Written whole, as every first state.
        None => put(state_item(chat, &state)?, Cond::NotExists),
        // Only the sequence and the pause change: a put conditioned on everything the
        // gateway's delivery marks touch too, so none of them is overwritten.
        Some(seen) => {
            let mut attrs = vec![
                ("replySeq".into(), seen.reply_seq.into()),
                ("pausedUntil".into(), seen.paused_until.into()),
                ("deliveredSeq".into(), seen.delivered_seq.into()),
            ];
            if let Some(seq) = seen.call_seq {
                attrs.push(("callSeq".into(), seq.into()));
            }
            if let Some(sent) = seen.sent_parts {
                attrs.push(("sentParts".into(), sent.into()));
            }
            put(state_item(chat, &state)?, Cond::Matches(attrs))
        }
    };
    let mut ops = vec![first, put(message, Cond::None)];
    let echoes = echo_ids(seq);
    ops.extend(
        echoes
            .iter()
            .map(|id| put(chat.seen_item(id, now_ms), Cond::None)),
    );
    let written = applied(store.write(ops).await)?;
    Ok(written.then_some((seq, state)))
}

/// The delivery status of history message `id` (written at `at_ms`): set on the message
/// itself, so the timeline shows it. Only upward (sent < delivered < read < failed).
pub async fn message_status(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    at_ms: i64,
    id: &str,
    status: &str,
) -> Result<bool, StoreError> {
    message_status_at(store, &chat.pk(), &chat.message_sk(at_ms, id), status).await
}

fn status_rank(status: &str) -> i64 {
    match status {
        "sent" => 1,
        "delivered" => 2,
        "read" | "played" => 3,
        "failed" => 4,
        _ => 0,
    }
}

async fn message_status_at(
    store: &dyn Store,
    pk: &str,
    sk: &str,
    status: &str,
) -> Result<bool, StoreError> {
    let rank = status_rank(status);
    let shown = if status == "played" { "read" } else { status };
    let update = Update {
        set: vec![
            ("status".into(), shown.into()),
            ("statusRank".into(), rank.into()),
        ],
        // Only messages we sent carry a rank (0 when written).
        cond: Cond::Below("statusRank".into(), rank),
        ..Update::default()
    };
    applied(store.update(pk, sk, update).await)
}

/// Remembers which history message a Cloud API message id belongs to, so its statuses
/// reach the timeline ([`record_status`]). One write for every part of a reply.
pub async fn sent_as(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    message_ids: &[String],
    at_ms: i64,
    id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let ops: Vec<WriteOp> = message_ids
        .iter()
        .map(|wamid| {
            let item = keys::item(chat.pk(), keys::status_sk(&chat.line.key(), wamid))
                .attrs(json!({
                    "ref": chat.message_sk(at_ms, id), "chat": chat.chat,
                    "status": "sent", "rank": 1, "at": now_ms,
                    "expiresAt": now_ms / 1000 + SEEN_KEEP_SECS,
                }))
                .build();
            put(item, Cond::NotExists)
        })
        .collect();
    if ops.is_empty() {
        return Ok(());
    }
    // A failed condition: a status arrived first (its message is then not linked).
    applied(store.write(ops).await)?;
    Ok(())
}

/// Records a delivery status of a message we sent through the Cloud API; a status never
/// goes back (a late `delivered` after `read` is ignored). When the message is linked to
/// the history ([`sent_as`]) the status is shown there too: returns the chat whose
/// timeline changed.
pub async fn record_status(
    store: &dyn Store,
    store_id: &str,
    line: &Line,
    message_id: &str,
    status: &str,
    error: Option<&str>,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    let rank = status_rank(status);
    let mut set = vec![
        ("status".to_owned(), json!(status)),
        ("rank".to_owned(), json!(rank)),
        ("at".to_owned(), json!(now_ms)),
        (
            "expiresAt".to_owned(),
            json!(now_ms / 1000 + SEEN_KEEP_SECS),
        ),
    ];
    if let Some(error) = error {
        set.push(("error".into(), error.into()));
    }
    let pk = store_pk(store_id);
    let update = Update {
        set,
        cond: Cond::Any(vec![Cond::NotExists, Cond::Below("rank".into(), rank)]),
        upsert: true,
        ..Update::default()
    };
    let record = match store
        .update(&pk, &keys::status_sk(&line.key(), message_id), update)
        .await
    {
        Ok(record) => record,
        // A later status is recorded already.
        Err(StoreError::ConditionFailed) => return Ok(None),
        Err(err) => return Err(err),
    };
    let (Some(sk), Some(chat)) = (attr_str(&record, "ref"), attr_str(&record, "chat")) else {
        return Ok(None);
    };
    let changed = message_status_at(store, &pk, sk, status).await?;
    Ok(changed.then(|| chat.to_owned()))
}
