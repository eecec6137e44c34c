//! Owner notices: a short text to the owner's own phones (a new order, an alert), sent from
//! one of the store's connected lines, because the owner's phone is not a chat the bot
//! answers and the owner wants it on WhatsApp, not only in the console.
//!
//! [`notify_owner_phones`] picks the line when it is called: the lowest connected WhatsApp
//! Web slot, else the store's Cloud API number; and queues one [`BotJob::OwnerNotice`] per
//! phone on the bot's inbound queue (the one queue every caller can reach: the API, the
//! bot, the gateway). The bot worker sends a Cloud API notice through the Graph API and
//! hands a linked number's to the gateway's outbound queue (an `OutboundNotice`). Each is
//! retried by its queue's consumer and ends in its dead letters; each notice has a
//! deterministic WhatsApp id per `(store, key, phone)`, so a retry or a second call with
//! the same `key` is one message on the phone (WhatsApp Web and the simulator keep a
//! message once per id). The Cloud API has no such id: the worker marks the notice's id in
//! the store before sending it ([`mark_cloud_notice`], put if absent) and skips a notice
//! already marked, so a retry after a lost answer or a second call with the same `key` is
//! still one message; a failed send removes the mark for the retry. As with Cloud API
//! replies, a crash between the mark and the send loses that one notice rather than
//! sending it twice. With no line connected it sends nothing and says so
//! ([`Notified::NoLine`]), for the caller to log and show.
//!
//! A Cloud API number can send free text only inside a 24-hour window opened by the
//! recipient: a notice outside it is dropped by the worker (logged), as Meta refuses it.

use crate::jobs::{BotJob, Line};
use crate::queue::{Queue, QueueError};
use crate::store::keys::{self, store_pk, SLOT_PREFIX};
use crate::store::{attr_str, Cond, Store, StoreError, WriteOp};

/// How long a Cloud API notice's mark is kept (its retries end well within it).
const MARK_KEEP_SECS: i64 = 2 * 86_400;

/// Marks notice `id` of `store_id` as sent from a Cloud API number, before it is sent:
/// `false` when it was marked already (sent, or being sent). One conditional put.
pub async fn mark_cloud_notice(
    store: &dyn Store,
    store_id: &str,
    id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let item = keys::item(store_pk(store_id), keys::notice_sk(id))
        .set("at", now_ms)
        .set("expiresAt", now_ms / 1000 + MARK_KEEP_SECS)
        .build();
    match store
        .write(vec![WriteOp::Put {
            item,
            cond: Cond::NotExists,
        }])
        .await
    {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Removes the mark of a notice whose send failed, so its retry sends it.
pub async fn unmark_cloud_notice(
    store: &dyn Store,
    store_id: &str,
    id: &str,
) -> Result<(), StoreError> {
    store
        .write(vec![WriteOp::Delete {
            pk: store_pk(store_id),
            sk: keys::notice_sk(id),
            cond: Cond::None,
        }])
        .await
}

/// What became of a notice.
#[derive(Debug, Clone, PartialEq)]
pub enum Notified {
    /// Queued for `phones` numbers, to be sent from `line`.
    Queued { line: Line, phones: usize },
    /// Nothing sent: the store has no connected line.
    NoLine,
    /// Nothing to do: no phone to notify.
    NoPhones,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// The WhatsApp id of notice `key` to `phone`: "3EB0" + 18 upper-case hex digits (the
/// shape of WhatsApp Web's own ids) from a SHA-256 of the notice's identity.
pub fn notice_id(store_id: &str, key: &str, phone: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"notice\0")
        .chain_update(store_id.as_bytes())
        .chain_update([0])
        .chain_update(key.as_bytes())
        .chain_update([0])
        .chain_update(phone.as_bytes())
        .finalize();
    let hex: String = digest[..9].iter().map(|b| format!("{b:02X}")).collect();
    format!("3EB0{hex}")
}

/// The line a notice goes out from: the lowest connected linked slot, else the attached
/// Cloud API number. Two reads at most.
pub async fn notice_line(store: &dyn Store, store_id: &str) -> Result<Option<Line>, StoreError> {
    if let Some(slot) = connected_slot(store, store_id).await? {
        return Ok(Some(Line::Web { slot }));
    }
    Ok(crate::bot::cloud_api::attached(store, store_id)
        .await?
        .map(|(phone_number_id, _)| Line::Cloud { phone_number_id }))
}

/// The lowest connected linked slot. One query.
pub async fn connected_slot(store: &dyn Store, store_id: &str) -> Result<Option<u8>, StoreError> {
    let slots = store.query(&store_pk(store_id), SLOT_PREFIX).await?;
    Ok(slots
        .iter()
        .filter(|item| attr_str(item, "status") == Some("connected"))
        .filter_map(|item| item.get("slot").and_then(|v| v.as_u64()))
        .filter_map(|slot| u8::try_from(slot).ok())
        .min())
}

/// The phone numbers of `phones` as digits (a leading `+` dropped; anything else skipped).
fn digits(phones: &[String]) -> Vec<&str> {
    phones
        .iter()
        .map(|p| p.trim().trim_start_matches('+'))
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

/// Queues one notice per phone from `line`.
async fn queue_notices(
    inbound: &dyn Queue,
    store_id: &str,
    line: Line,
    phones: &[&str],
    text: &str,
    key: &str,
) -> Result<Notified, NotifyError> {
    for phone in phones {
        let job = BotJob::OwnerNotice {
            store_id: store_id.to_owned(),
            line: line.clone(),
            to: (*phone).to_owned(),
            text: text.to_owned(),
            id: notice_id(store_id, key, phone),
        };
        inbound.send(job.outgoing()).await?;
    }
    tracing::info!(store = %store_id, line = %line.key(), phones = phones.len(), "owner notice queued");
    Ok(Notified::Queued {
        line,
        phones: phones.len(),
    })
}

/// Sends `text` to each of `phones` (digits, a leading `+` allowed; others are skipped)
/// through `inbound` (the bot's inbound queue), from `came_in` when the notice is about a
/// customer's message (a new order, a Pix receipt): the line that message came in on, which
/// has just carried it — no read, so an order's notice stays within the order turn's
/// round-trip budget (the worker sends a Cloud API notice from a connected linked slot when
/// the store has one, as a Cloud notice needs the owner's own 24-hour window). Otherwise
/// from one of the store's connected lines ([`notice_line`]: two reads at most). `key`
/// names the notice (an order id, an alert name and time): the same key is the same
/// message on each phone. One queue send per phone.
pub async fn notify_owner_phones(
    store: &dyn Store,
    inbound: &dyn Queue,
    store_id: &str,
    came_in: Option<&Line>,
    phones: &[String],
    text: &str,
    key: &str,
) -> Result<Notified, NotifyError> {
    let phones = digits(phones);
    if phones.is_empty() {
        return Ok(Notified::NoPhones);
    }
    let line = match came_in {
        Some(line) => line.clone(),
        None => match notice_line(store, store_id).await? {
            Some(line) => line,
            None => {
                tracing::warn!(store = %store_id, "no connected WhatsApp line: the owner's phones were not notified");
                return Ok(Notified::NoLine);
            }
        },
    };
    queue_notices(inbound, store_id, line, &phones, text, key).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_ids_are_stable_per_notice_and_phone_and_shaped_like_whatsapp_web_ids() {
        let id = notice_id("st_1", "order#ord_1", "5511999990000");
        assert_eq!(id, notice_id("st_1", "order#ord_1", "5511999990000"));
        assert_ne!(id, notice_id("st_1", "order#ord_1", "5511999990001"));
        assert_ne!(id, notice_id("st_1", "order#ord_2", "5511999990000"));
        assert_ne!(id, notice_id("st_2", "order#ord_1", "5511999990000"));
        assert!(id.starts_with("3EB0") && id.len() == 22, "{id}");
        assert!(id[4..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase()));
    }
}
