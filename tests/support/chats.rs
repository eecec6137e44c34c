//! Conversations written straight into a store, as the bot worker records them (the
//! history through `bot::chat`, the inbox's summary through `inbox`), for tests and benches
//! that need many messages or chats without a pipeline to run them through.

use platefull::bot::chat::{self, ChatRef, Role};
use platefull::inbox::{self, At, Noted};
use platefull::jobs::{ChatMessage, Line};
use platefull::store::Store;

/// Writes `n` customer messages into chat `chat` of slot 1, one a millisecond from
/// `start_ms`, kept a month.
pub async fn seed_chat(store: &dyn Store, store_id: &str, chat: &str, n: usize, start_ms: i64) {
    let line = Line::Web { slot: 1 };
    let chat_ref = ChatRef {
        store_id,
        line: &line,
        chat,
    };
    for i in 0..n {
        let at = start_ms + i as i64;
        let message = ChatMessage {
            id: format!("M{i}"),
            chat: chat.into(),
            text: format!("mensagem {i}"),
            ..ChatMessage::default()
        };
        chat::record_customer(store, &chat_ref, &message, 43_200, at, vec![])
            .await
            .expect("record a message");
        let noted = Noted {
            role: Role::Customer,
            text: &message.text,
            at_ms: at,
            name: None,
        };
        let at_chat = At {
            store_id,
            line: "w1",
            chat,
        };
        inbox::noted(store, at_chat, noted, 30 * 86_400, at)
            .await
            .expect("note a message");
    }
}
