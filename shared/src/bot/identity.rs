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
//! the phone too (`from`) names the id as its alias (`bot::cloud_api`).
//!
//! Cost: one read per message that carries an alias; nothing for the others. On the Cloud
//! API that is every message with both ids.

use crate::inbox::{self, At};
use crate::jobs::{ChatMessage, Line};
use crate::store::{Store, StoreError};

/// `message` filed under the chat it belongs to: `None` when that is its own `chat`, else
/// the message re-keyed to the hidden id's existing chat (whose summary learns the phone).
pub async fn rekeyed(
    store: &dyn Store,
    store_id: &str,
    line: &Line,
    message: &ChatMessage,
    keep_secs: i64,
    now_ms: i64,
) -> Result<Option<ChatMessage>, StoreError> {
    let Some(alias) = message.alias.as_deref().filter(|a| *a != message.chat) else {
        return Ok(None);
    };
    let line = line.key();
    let at = At {
        store_id,
        line: &line,
        chat: alias,
    };
    let Some(summary) = inbox::summary(store, at).await? else {
        return Ok(None);
    };
    let phone = crate::domain::inbox::phone_of(&message.chat);
    if let (None, Some(phone)) = (&summary.phone, phone) {
        inbox::phone_known(store, at, phone, keep_secs, now_ms).await?;
    }
    Ok(Some(ChatMessage {
        chat: alias.to_owned(),
        ..message.clone()
    }))
}
