//! Shared test fixtures: whatsapp-rust messages, message infos and ids shaped as the
//! library builds them, for the translation tests of this transport.

use std::sync::Arc;

use time::OffsetDateTime;
use whatsapp_rust::types::events::InboundMessage;
use whatsapp_rust::types::message::{MessageInfo, MessageSource};
use whatsapp_rust::waproto::buffa::MessageField;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::Jid;

pub fn jid(s: &str) -> Jid {
    s.parse().expect("jid")
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time")
}

pub fn text(t: &str) -> wa::Message {
    wa::Message {
        conversation: Some(t.into()),
        ..Default::default()
    }
}

pub fn extended(t: &str) -> wa::Message {
    wa::Message {
        extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
            text: Some(t.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn info(chat: &str, from_me: bool, is_group: bool) -> MessageInfo {
    MessageInfo {
        id: "3EB0AA".into(),
        source: MessageSource {
            chat: jid(chat),
            sender: jid(chat),
            is_from_me: from_me,
            is_group,
            ..Default::default()
        },
        timestamp: whatsapp_rust::chrono::DateTime::from_timestamp(1_700_000_123, 0)
            .expect("timestamp"),
        ..Default::default()
    }
}

pub fn inbound(message: wa::Message, info: MessageInfo) -> InboundMessage {
    InboundMessage::builder()
        .message(Arc::new(message))
        .info(Arc::new(info))
        .build()
}

pub fn from(chat: &str, id: &str) -> MessageInfo {
    MessageInfo {
        id: id.into(),
        ..info(chat, false, false)
    }
}
