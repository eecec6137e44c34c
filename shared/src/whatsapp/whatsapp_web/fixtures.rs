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

/// The owner's own message typed on the phone in the chat with `chat` (a hidden id), as
/// wacore's `parse_message_info` builds it for this linked device: from our own LID, the
/// chat is the stanza's `recipient`, `sender_alt` our own phone number (`own_phone`), no
/// `recipient_alt`; `peer_recipient_pn` is left for the test to set.
pub fn owner_in_lid_chat(chat: &str, own_phone: &str) -> MessageInfo {
    let mut info = info(chat, true, false);
    info.id = "3EB0OWNER".into();
    info.source.sender = jid("100000000000099@lid");
    info.source.recipient = Some(jid(chat));
    info.source.sender_alt = Some(jid(&format!("{own_phone}@s.whatsapp.net")));
    info
}

/// A customer's message from the hidden id `lid`, with `sender_pn` when given, as
/// `parse_message_info` builds it (`sender_alt` = `sender_pn`).
pub fn customer_in_lid_chat(lid: &str, sender_pn: Option<&str>, id: &str) -> MessageInfo {
    let mut info = from(lid, id);
    info.source.sender_alt = sender_pn.map(|pn| jid(&format!("{pn}@s.whatsapp.net")));
    info
}
