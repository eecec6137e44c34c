//! A conversation's records in the store, under the store's partition:
//!
//! | sort key                               | what                                             |
//! |----------------------------------------|--------------------------------------------------|
//! | `SEEN#<line>#<messageId>`              | dedupe marker of a message, kept 8 days          |
//! | `CHAT#<line>#<chat>#M#<ms>#<id>`       | one message of the history (expires after the context time) |
//! | `CHAT#<line>#<chat>#~in`               | the chat's latest customer message (the turn), with its disappearing-messages timer |
//! | `CHAT#<line>#<chat>#~st`               | reply state: answered-through, reply sequence, delivered sequence, parts of it sent, paused-until, the last reply, the recent model calls |
//! | `STATUS#<line>#<messageId>`            | delivery status of a message sent through the Cloud API, kept 8 days |
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
use crate::store::{applied, Cond, Item, Store, StoreError, Update, WriteOp};

/// `pausedUntil` of a chat switched off with `#bot off` (until `#bot on`).
pub const PAUSED_FOREVER_MS: i64 = 8_000_000_000_000;
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
/// id was recorded before (a redelivery), nothing changed. One round trip.
pub async fn record_customer(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    message: &ChatMessage,
    keep_minutes: u32,
    now_ms: i64,
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
                now_ms,
                keep_minutes,
            ),
            Cond::None,
        ),
        put(latest, Cond::None),
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
/// the chat. `Ok(false)`: a redelivery.
pub async fn record_owner(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    message: &ChatMessage,
    action: OwnerAction,
    keep_minutes: u32,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let mut ops = vec![put(chat.seen_item(&message.id, now_ms), Cond::NotExists)];
    if let OwnerAction::TakeOver { .. } = action {
        ops.push(put(
            chat.message_item(
                &message.id,
                Role::Owner,
                &message.text,
                now_ms,
                keep_minutes,
            ),
            Cond::None,
        ));
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
        .query_last(&chat.pk(), &chat.prefix(), limit as usize + 2)
        .await?;
    let (state_sk, latest_sk) = (chat.state_sk(), chat.latest_sk());
    let oldest = now_ms - i64::from(context_minutes) * 60_000;
    let mut turn = Turn::default();
    for item in items {
        let sk = item.get("sk").and_then(Value::as_str).unwrap_or_default();
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
/// read. The reply joins the history. `Ok(None)`: lost the claim.
pub async fn claim_reply(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seen: Option<&ChatState>,
    latest_at: i64,
    chunks: Vec<String>,
    keep_minutes: u32,
    now_ms: i64,
) -> Result<Option<ChatState>, StoreError> {
    let before = seen.cloned().unwrap_or_default();
    let seq = before.reply_seq + 1;
    let state = ChatState {
        replied_through: latest_at,
        reply_seq: seq,
        last_reply: Some(PendingReply {
            seq,
            chunks: chunks.clone(),
        }),
        ..before.clone()
    };
    let cond = match seen {
        None => Cond::NotExists,
        Some(seen) => unchanged_since(seen),
    };
    let state_item = state_item(chat, &state)?;
    let text = chunks.join("\n\n");
    let ops = vec![
        put(state_item, cond),
        put(
            chat.message_item(
                &format!("reply{seq}"),
                Role::Bot,
                &text,
                now_ms,
                keep_minutes,
            ),
            Cond::None,
        ),
    ];
    Ok(applied(store.write(ops).await)?.then_some(state))
}

/// The last check before reply `seq` goes out: not delivered yet and the owner hasn't taken
/// over the chat. Marks it delivered; `Ok(false)`: don't send. One round trip.
pub async fn mark_delivering(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seq: i64,
    now_ms: i64,
) -> Result<bool, StoreError> {
    Ok(mark_delivered_below(store, chat, seq, seq, now_ms)
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
    let Some(state) = mark_delivered_below(store, chat, seq, seq + 1, now_ms).await? else {
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

/// Sets `deliveredSeq` to `seq` if it is below `ceiling` and the chat isn't paused;
/// returns the state as it left it (`None`: the condition failed).
async fn mark_delivered_below(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    seq: i64,
    ceiling: i64,
    now_ms: i64,
) -> Result<Option<Item>, StoreError> {
    let update = Update {
        set: vec![("deliveredSeq".into(), seq.into())],
        cond: Cond::All(vec![
            Cond::Below("deliveredSeq".into(), ceiling),
            Cond::Below("pausedUntil".into(), now_ms + 1),
        ]),
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

/// Records a delivery status of a message we sent through the Cloud API; a status never
/// goes back (a late `delivered` after `read` is ignored).
pub async fn record_status(
    store: &dyn Store,
    store_id: &str,
    line: &Line,
    message_id: &str,
    status: &str,
    error: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let rank = match status {
        "sent" => 1,
        "delivered" => 2,
        "read" | "played" => 3,
        "failed" => 4,
        _ => 0,
    };
    let mut attrs = json!({
        "status": status, "rank": rank, "at": now_ms,
        "expiresAt": now_ms / 1000 + SEEN_KEEP_SECS,
    });
    if let Some(error) = error {
        attrs["error"] = error.into();
    }
    let record = keys::item(store_pk(store_id), keys::status_sk(&line.key(), message_id))
        .attrs(attrs)
        .build();
    let cond = Cond::Any(vec![Cond::NotExists, Cond::Below("rank".into(), rank)]);
    // A failed condition: a later status is recorded already.
    applied(store.write(vec![put(record, cond)]).await)?;
    Ok(())
}
