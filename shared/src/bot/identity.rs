//! One customer, one chat: a linked number files a chat under the customer's phone when it
//! knows it and under their hidden id (LID) when it doesn't (`whatsapp_web/messages.rs`).
//! A customer whose first messages came with no phone, and whose phone was learned later,
//! would otherwise have two chats — history, takeover and inbox split in two. The rule: a
//! chat stays under the key it started with. A message filed under the phone that names
//! the customer's hidden id too (`ChatMessage::alias`) goes to the hidden id's chat when
//! that chat exists (its inbox summary does), and the phone becomes that chat's attribute.
//!
//! The Cloud API works the same way with Meta's business-scoped user id: a customer whose
//! phone Meta hides is keyed by that id (`from_user_id`), and a later message that carries
//! the phone too (`from`) names the id as its alias (`bot::cloud_api`). The other way
//! round — a chat that started under the phone, then a message with the id alone (the
//! customer hid their number) — the id must lead to the phone's chat: a message with both
//! ids that stays in the phone's chat leaves a pointer under the id (`~as`, kept like the
//! history and refreshed at half its life), and a message with the id alone follows it.
//!
//! Cost: one read per message that carries an alias (on the Cloud API that is every message
//! with both ids, plus one write per customer and half a retention period) and one per
//! Cloud API message with the business-scoped id alone; nothing for the others.

use serde_json::Value;

use crate::inbox::{self, At};
use crate::jobs::{ChatMessage, Line};
use crate::store::keys::{self, store_pk};
use crate::store::{attr_str, Store, StoreError, WriteOp};

/// `message` filed under the chat it belongs to: `None` when that is its own `chat`, else
/// the message re-keyed to its customer's existing chat (which learns the phone).
pub async fn rekeyed(
    store: &dyn Store,
    store_id: &str,
    line: &Line,
    message: &ChatMessage,
    keep_secs: i64,
    now_ms: i64,
) -> Result<Option<ChatMessage>, StoreError> {
    let cloud = matches!(line, Line::Cloud { .. });
    let line = line.key();
    let phone = crate::domain::inbox::phone_of(&message.chat);
    let Some(alias) = message.alias.as_deref().filter(|a| *a != message.chat) else {
        if !cloud || phone.is_some() {
            return Ok(None);
        }
        // The business-scoped id alone: its chat, or the phone's chat it points at.
        let head = Head::read(store, store_id, &line, &message.chat, now_ms).await?;
        return Ok(match head.pointer {
            Some(chat) if head.summary.is_none() => Some(ChatMessage {
                chat,
                ..message.clone()
            }),
            _ => None,
        });
    };
    let at = At {
        store_id,
        line: &line,
        chat: alias,
    };
    let head = if cloud {
        Head::read(store, store_id, &line, alias, now_ms).await?
    } else {
        Head {
            summary: inbox::summary(store, at).await?,
            ..Head::default()
        }
    };
    let Some(summary) = head.summary else {
        if cloud && head.pointer_fresh_until < now_ms / 1000 + keep_secs / 2 {
            // The phone's chat is the customer's: the id points at it from now on.
            let pointer = keys::item(store_pk(store_id), keys::chat_alias_sk(&line, alias))
                .set("chat", message.chat.as_str())
                .set("expiresAt", now_ms / 1000 + keep_secs)
                .build();
            store
                .write(vec![WriteOp::Put {
                    item: pointer,
                    cond: Default::default(),
                }])
                .await?;
        }
        return Ok(None);
    };
    if let (None, Some(phone)) = (&summary.phone, phone) {
        inbox::phone_known(store, at, phone, keep_secs, now_ms).await?;
    }
    Ok(Some(ChatMessage {
        chat: alias.to_owned(),
        ..message.clone()
    }))
}

/// What a customer id's chat is, from its `~` items (one query): its summary (when the chat
/// exists), and the chat its pointer names (unexpired), with when it expires.
#[derive(Default)]
struct Head {
    summary: Option<inbox::Summary>,
    pointer: Option<String>,
    pointer_fresh_until: i64,
}

impl Head {
    async fn read(
        store: &dyn Store,
        store_id: &str,
        line: &str,
        chat: &str,
        now_ms: i64,
    ) -> Result<Self, StoreError> {
        let items = store
            .query(&store_pk(store_id), &keys::chat_head_prefix(line, chat))
            .await?;
        let (summary_sk, alias_sk) = (
            keys::chat_summary_sk(line, chat),
            keys::chat_alias_sk(line, chat),
        );
        let mut head = Head::default();
        for item in items {
            let sk = attr_str(&item, "sk").unwrap_or_default();
            if sk == summary_sk {
                head.summary = Some(
                    serde_json::from_value(Value::Object(item))
                        .map_err(|e| StoreError::Data(e.to_string()))?,
                );
            } else if sk == alias_sk {
                let expires = item.get("expiresAt").and_then(Value::as_i64).unwrap_or(0);
                if expires > now_ms / 1000 {
                    head.pointer = attr_str(&item, "chat").map(str::to_owned);
                    head.pointer_fresh_until = expires;
                }
            }
        }
        Ok(head)
    }
}
