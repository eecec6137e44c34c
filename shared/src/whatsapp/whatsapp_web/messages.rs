//! whatsapp-rust's messages and JIDs as ours: which messages reach the bot, which chat
//! (phone number or hidden id) a message belongs to, and how a destination becomes a JID.

use whatsapp_rust::types::message::{MessageInfo, MessageSource};
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Jid, Server};

use crate::whatsapp::events::ChatMessage;
use crate::whatsapp::transport::TransportError;

/// A text message as ours; other kinds (media, reactions, protocol messages) are skipped.
pub(super) fn message_to_ours(message: &wa::Message, info: &MessageInfo) -> Option<ChatMessage> {
    let text = message.text_content()?.to_owned();
    let source = &info.source;
    Some(ChatMessage {
        id: info.id.clone(),
        chat: chat_of(source),
        from_me: source.is_from_me,
        text,
        timestamp: info.timestamp.timestamp(),
        is_group: source.is_group || is_group_like(&source.chat),
    })
}

/// Groups, broadcast lists, status updates and channels are not customer conversations.
pub(super) fn is_group_like(jid: &Jid) -> bool {
    matches!(
        jid.server,
        Server::Group | Server::Broadcast | Server::Newsletter
    )
}

/// The chat of a message, by phone number when one is known: a chat addressed by hidden id
/// (LID) falls back to the phone number the server sent along, if any.
pub(super) fn chat_of(source: &MessageSource) -> String {
    if source.chat.server == Server::Lid {
        let alt = if source.is_from_me {
            source.recipient_alt.as_ref()
        } else {
            source.sender_alt.as_ref()
        };
        if let Some(alt) = alt.filter(|alt| is_phone(alt)) {
            return jid_to_chat(alt);
        }
    }
    jid_to_chat(&source.chat)
}

pub(super) fn is_phone(jid: &Jid) -> bool {
    matches!(jid.server, Server::Pn | Server::Legacy)
}

/// A chat as we name it: phone digits for numbers, the full id (without device) otherwise.
pub(super) fn jid_to_chat(jid: &Jid) -> String {
    if is_phone(jid) {
        jid.user.to_string()
    } else {
        jid.to_non_ad_string()
    }
}

/// A destination as a JID: phone digits (a leading `+` allowed) become a user JID, a full
/// JID passes through.
pub(super) fn to_jid(to: &str) -> Result<Jid, TransportError> {
    let to = to.trim();
    let bad = || TransportError::Failed(format!("not a WhatsApp destination: {to:?}"));
    if to.contains('@') {
        return to.parse().map_err(|_| bad());
    }
    let digits = to.strip_prefix('+').unwrap_or(to);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    Ok(Jid::pn(digits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whatsapp::whatsapp_web::fixtures::*;
    use whatsapp_rust::waproto::buffa::MessageField;

    #[test]
    fn customer_text_message() {
        let m = message_to_ours(
            &text("quero uma pizza"),
            &info("5511900000001:3@s.whatsapp.net", false, false),
        )
        .expect("text");
        assert_eq!(
            m,
            ChatMessage {
                id: "3EB0AA".into(),
                chat: "5511900000001".into(),
                from_me: false,
                text: "quero uma pizza".into(),
                timestamp: 1_700_000_123,
                is_group: false,
            }
        );
    }

    #[test]
    fn extended_text_and_from_me() {
        let m = message_to_ours(
            &extended("já sai"),
            &info("5511900000001@s.whatsapp.net", true, false),
        )
        .expect("text");
        assert_eq!(m.text, "já sai");
        assert!(m.from_me);
        assert!(!m.is_group);
    }

    #[test]
    fn wrapped_text_is_unwrapped() {
        let ephemeral = wa::Message {
            ephemeral_message: MessageField::some(wa::message::FutureProofMessage {
                message: MessageField::some(text("some")),
            }),
            ..Default::default()
        };
        let m = message_to_ours(
            &ephemeral,
            &info("5511900000001@s.whatsapp.net", false, false),
        );
        assert_eq!(m.map(|m| m.text), Some("some".to_string()));
    }

    #[test]
    fn non_text_messages_are_skipped() {
        assert!(message_to_ours(
            &wa::Message::default(),
            &info("5511900000001@s.whatsapp.net", false, false)
        )
        .is_none());
    }

    #[test]
    fn groups_broadcasts_status_and_channels_are_groups() {
        for chat in [
            "120363000000000001@g.us",
            "1700000000@broadcast",
            "status@broadcast",
            "120363000000000002@newsletter",
        ] {
            let m = message_to_ours(&text("x"), &info(chat, false, false)).expect("text");
            assert!(m.is_group, "{chat}");
        }
        // The flag the client computed counts too.
        let m = message_to_ours(
            &text("x"),
            &info("5511900000001@s.whatsapp.net", false, true),
        )
        .expect("text");
        assert!(m.is_group);
        let m = message_to_ours(&text("x"), &info("120363000000000001@g.us", false, true))
            .expect("text");
        assert_eq!(m.chat, "120363000000000001@g.us");
    }

    #[test]
    fn hidden_numbers_use_the_phone_number_when_known() {
        let mut incoming = info("100000000000001@lid", false, false);
        incoming.source.sender_alt = Some(jid("5511900000001@s.whatsapp.net"));
        assert_eq!(chat_of(&incoming.source), "5511900000001");

        let mut outgoing = info("100000000000001@lid", true, false);
        outgoing.source.recipient_alt = Some(jid("5511900000002@s.whatsapp.net"));
        outgoing.source.sender_alt = Some(jid("5511900000009@s.whatsapp.net"));
        assert_eq!(chat_of(&outgoing.source), "5511900000002");

        let unknown = info("100000000000001@lid", false, false);
        assert_eq!(chat_of(&unknown.source), "100000000000001@lid");
    }

    #[test]
    fn chats_are_named_by_digits_or_full_id() {
        assert_eq!(
            jid_to_chat(&jid("5511900000001@s.whatsapp.net")),
            "5511900000001"
        );
        assert_eq!(
            jid_to_chat(&jid("5511900000001:7@s.whatsapp.net")),
            "5511900000001"
        );
        assert_eq!(jid_to_chat(&jid("5511900000001@c.us")), "5511900000001");
        assert_eq!(
            jid_to_chat(&jid("100000000000001:2@lid")),
            "100000000000001@lid"
        );
        assert_eq!(
            jid_to_chat(&jid("120363000000000001@g.us")),
            "120363000000000001@g.us"
        );
    }

    #[test]
    fn destinations_parse() {
        let pn = to_jid("5511900000001").expect("digits");
        assert_eq!(pn.to_string(), "5511900000001@s.whatsapp.net");
        assert_eq!(
            to_jid(" +5511900000001 ").expect("plus").to_string(),
            "5511900000001@s.whatsapp.net"
        );
        assert_eq!(
            to_jid("100000000000001@lid").expect("jid").to_string(),
            "100000000000001@lid"
        );
        assert_eq!(
            to_jid("120363000000000001@g.us").expect("group").server,
            Server::Group
        );
        for bad in ["", "+", "55 11 9", "abc", "55-11"] {
            assert!(to_jid(bad).is_err(), "{bad:?}");
        }
        // Round trip: a chat we report is a destination we accept.
        for chat in ["5511900000001", "100000000000001@lid"] {
            assert_eq!(jid_to_chat(&to_jid(chat).expect("dest")), chat);
        }
    }
}
