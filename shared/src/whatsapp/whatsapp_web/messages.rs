//! whatsapp-rust's messages and JIDs as ours: which messages reach the bot, which chat
//! (phone number or hidden id) a message belongs to, and how a reply becomes a message.
//!
//! What whatsapp-rust 0.7.0 fills in, which the choices below rely on:
//!
//! - wacore `messages.rs` (`parse_message_info`), for a one-to-one message:
//!   - from the other party (a customer): `source.chat` is the sender without device;
//!     `source.sender_alt` is the stanza's `sender_pn` when the sender is a hidden id
//!     (`@lid`), its `sender_lid` when a phone number;
//!   - from our own account (the owner typing on the phone, delivered to this linked
//!     device too): `is_from_me`, `source.chat` is the stanza's `recipient` (the customer),
//!     `source.sender_alt` is *our own* other id (never the customer's), and
//!     `source.recipient_alt` stays empty (0.7.0 sets it nowhere). The customer's phone
//!     number, when the chat is a hidden id, is the envelope's `peer_recipient_pn`
//!     (`MessageInfo::peer_recipient_pn`, wacore `types/message.rs`: "present on
//!     companion-device self-synced DM stanzas to identify the peer's PN").
//! - whatsapp-rust `message/receive.rs` (`cache_lid_pn_from_message`) stores the sender ↔
//!   `sender_alt` pair in the client's LID↔phone mapping *before* the message is
//!   decrypted and handed on, so a customer's hidden id is known once one of their
//!   messages carried `sender_pn`. `Client::get_lid_pn_entry` (`client/lid_pn.rs`) reads
//!   that mapping (its cache, then the store's `lid#…` record), `Ok(None)` for "not known"
//!   and `Err` for a failed lookup; `Client::add_lid_pn_mapping` adds a pair.
//! - whatsapp-rust `message/dispatch.rs` sets `MessageInfo::ephemeral_expiration` from
//!   the message's `contextInfo.expiration` (wacore `proto_helpers.rs`,
//!   `get_ephemeral_expiration`: only a timer above zero) before the durability hook sees
//!   the message: that is how a chat's disappearing-messages timer shows up. Sending,
//!   `SendOptions::with_ephemeral_expiration` (`send/mod.rs`) sets `contextInfo.expiration`
//!   on the message (a bare `conversation` text is promoted to an extended text for it).
//! - wacore-binary `jid.rs` (`JidExt::is_bot`): a bot is a `@bot` id, or a phone number
//!   starting 1313555 or 131655500 (Meta AI's numbers) on device 0.
//!
//! So a chat is keyed, one way for both sides of a conversation (else the owner's
//! takeover would pause a chat the customer doesn't write in): by phone digits when the
//! message carries the customer's number (`sender_alt` / `peer_recipient_pn`) or the
//! client's mapping knows it, by the hidden id only when neither does. The owner's
//! `peer_recipient_pn` is added to the mapping, so the customer's later messages in that
//! chat resolve to the same digits even if they come without `sender_pn`.

use async_trait::async_trait;
use whatsapp_rust::types::events::InboundMessage;
use whatsapp_rust::types::message::{MessageInfo, MessageSource};
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::wacore_binary::JidExt;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Client, Jid, SendOptions, Server};

use crate::whatsapp::events::ChatMessage;
use crate::whatsapp::transport::{InboundError, TransportError};

/// A message as ours: its text, or its media part ([`super::media::media_of`]; protocol
/// messages other than edits and deletions are skipped), and nothing to or from a bot anything to or from a bot (Meta AI answers in its own chat; answering it
/// would have two bots talk to each other).
pub(super) fn message_to_ours(message: &wa::Message, info: &MessageInfo) -> Option<ChatMessage> {
    let (text, media) = match message.text_content() {
        Some(text) => (text.to_owned(), None),
        None => {
            let (media, text) = super::media::media_of(message)?;
            // Key shares, history syncs and the like are not the customer's doing.
            if media.kind == crate::media::MediaKind::Protocol {
                return None;
            }
            (text, Some(Box::new(media)))
        }
    };
    let source = &info.source;
    if is_bot(source) {
        return None;
    }
    Some(ChatMessage {
        id: info.id.clone(),
        chat: chat_of(info),
        from_me: source.is_from_me,
        text,
        timestamp: info.timestamp.timestamp(),
        is_group: source.is_group || is_group_like(&source.chat),
        ephemeral_expiration: info
            .ephemeral_expiration
            .or_else(|| message.get_base_message().get_ephemeral_expiration())
            .filter(|seconds| *seconds > 0),
        media,
        // The sender's push name: the customer's on their messages; on the owner's it is
        // the owner's own, never the customer's.
        name: Some(info.push_name.trim())
            .filter(|n| !source.is_from_me && !n.is_empty())
            .map(str::to_owned),
        alias: alias_of(info),
        received_ms: None,
    })
}

/// A chat with a bot, or a message a bot wrote (Meta AI, `@bot` ids).
pub(super) fn is_bot(source: &MessageSource) -> bool {
    source.chat.is_bot()
        || (!source.is_from_me && source.sender.is_bot())
        || source
            .sender_alt
            .as_ref()
            .is_some_and(|alt| !source.is_from_me && alt.is_bot())
}

/// Groups, broadcast lists, status updates and channels are not customer conversations.
pub(super) fn is_group_like(jid: &Jid) -> bool {
    matches!(
        jid.server,
        Server::Group | Server::Broadcast | Server::Newsletter
    )
}

/// The chat of a message, by phone number when the message carries one: a chat addressed
/// by hidden id (LID) takes the customer's number the server sent along (`sender_pn` on a
/// customer's message, `peer_recipient_pn` on the owner's), if any.
pub(super) fn chat_of(info: &MessageInfo) -> String {
    match peer_phone(info) {
        Some(phone) => jid_to_chat(phone),
        None => jid_to_chat(&info.source.chat),
    }
}

/// The customer's hidden id when the message files the chat under their phone and names
/// both: a hidden-id chat with the number along, or a customer's message in a phone chat
/// with their `sender_lid` (`sender_alt`; on the owner's it is the owner's own).
fn alias_of(info: &MessageInfo) -> Option<String> {
    let source = &info.source;
    if source.chat.server == Server::Lid {
        return peer_phone(info).map(|_| jid_to_chat(&source.chat));
    }
    let alt = source.sender_alt.as_ref().filter(|_| !source.is_from_me)?;
    (is_phone(&source.chat) && alt.server == Server::Lid).then(|| jid_to_chat(alt))
}

/// The customer's phone number a message in a hidden-id chat carries, if any.
fn peer_phone(info: &MessageInfo) -> Option<&Jid> {
    let source = &info.source;
    if source.chat.server != Server::Lid {
        return None;
    }
    let alt = if source.is_from_me {
        // `sender_alt` is our own number here, never the customer's.
        info.peer_recipient_pn.as_ref()
    } else {
        source.sender_alt.as_ref()
    };
    alt.filter(|alt| is_phone(alt))
}

/// Where the phone numbers behind hidden ids are known: the client's LID↔phone mapping.
#[async_trait]
pub(super) trait LidPhones: Send + Sync {
    /// The phone digits behind `lid`; `Ok(None)` when not known.
    async fn phone_of(&self, lid: &Jid) -> Result<Option<String>, String>;
    /// Remembers that `lid` is `phone` (digits), as a message told us.
    async fn learn(&self, lid: &Jid, phone: &Jid) -> Result<(), String>;
    /// The hidden id (its user part) behind the phone number `phone`; `Ok(None)` when not
    /// known.
    async fn lid_of(&self, phone: &Jid) -> Result<Option<String>, String>;
}

#[async_trait]
impl LidPhones for Client {
    async fn phone_of(&self, lid: &Jid) -> Result<Option<String>, String> {
        self.get_lid_pn_entry(lid)
            .await
            .map(|entry| entry.map(|e| e.phone_number.to_string()))
            .map_err(|e| e.to_string())
    }

    async fn learn(&self, lid: &Jid, phone: &Jid) -> Result<(), String> {
        use whatsapp_rust::lid_pn_cache::LearningSource;
        self.add_lid_pn_mapping(&lid.user, &phone.user, LearningSource::Other)
            .await
            .map_err(|e| e.to_string())
    }

    async fn lid_of(&self, phone: &Jid) -> Result<Option<String>, String> {
        self.get_lid_pn_entry(phone)
            .await
            .map(|entry| entry.map(|e| e.lid.to_string()))
            .map_err(|e| e.to_string())
    }
}

/// The messages of a batch as ours ([`message_to_ours`]), each hidden-id chat resolved
/// to the customer's phone number through `phones` when the message doesn't carry it. A
/// failed lookup fails the batch (it is not acknowledged; WhatsApp delivers it again),
/// rather than filing the message under the wrong chat; the owner's messages in a phone
/// chat name the customer's hidden id, when known, as their alias. Cost: one mapping lookup
/// per message in a hidden-id chat without a number and per owner's message in a phone chat
/// (the client's cache, else one store read).
pub(super) async fn batch_to_ours(
    batch: &[InboundMessage],
    phones: &dyn LidPhones,
) -> Result<Vec<ChatMessage>, InboundError> {
    let mut ours = Vec::with_capacity(batch.len());
    for inbound in batch {
        let info = &inbound.info;
        let Some(mut message) = message_to_ours(&inbound.message, info) else {
            continue;
        };
        let chat = &info.source.chat;
        if chat.server == Server::Lid {
            match peer_phone(info) {
                // The customer's messages from now on resolve to these digits too.
                Some(phone) if info.source.is_from_me => {
                    if let Err(err) = phones.learn(&chat.to_non_ad(), phone).await {
                        tracing::debug!(error = %err, "could not remember a hidden id's number");
                    }
                }
                Some(_) => {}
                None => {
                    let known = phones
                        .phone_of(&chat.to_non_ad())
                        .await
                        .map_err(|e| InboundError(format!("looking up a hidden id: {e}")))?;
                    if let Some(phone) = known.filter(|p| is_digits(p)) {
                        message.chat = phone;
                        message.alias = Some(jid_to_chat(chat));
                    }
                }
            }
        } else if info.source.is_from_me && is_phone(chat) && message.alias.is_none() {
            // The owner writing in the customer's phone chat: their own `sender_alt` names
            // no customer, so the hidden id comes from the mapping — the chat may have
            // started under it, and the takeover must pause that chat.
            let lid = phones
                .lid_of(&chat.to_non_ad())
                .await
                .map_err(|e| InboundError(format!("looking up a number's hidden id: {e}")))?;
            if let Some(lid) = lid.filter(|l| is_digits(l)) {
                message.alias = Some(format!("{lid}@lid"));
            }
        }
        ours.push(message);
    }
    Ok(ours)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
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

/// A reply part as the client sends it: the text under our own id ("for resending … with
/// the same ID or idempotency", as the library puts it: a part sent again after a crash is
/// the same message to WhatsApp), with the chat's disappearing-messages timer if it has
/// one.
pub(super) fn outgoing_text(
    text: &str,
    id: &str,
    ephemeral_expiration: Option<u32>,
) -> (wa::Message, SendOptions) {
    use whatsapp_rust::wacore::proto_helpers::MessageBuilderExt;
    (
        wa::Message::text(text),
        send_options(id, ephemeral_expiration),
    )
}

/// How a message of ours goes out: under our id, with the chat's disappearing-messages
/// timer if it has one.
pub(super) fn send_options(id: &str, ephemeral_expiration: Option<u32>) -> SendOptions {
    let mut options = SendOptions::default().with_message_id(id);
    if let Some(seconds) = ephemeral_expiration.filter(|s| *s > 0) {
        options = options.with_ephemeral_expiration(seconds);
    }
    options
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
                ephemeral_expiration: None,
                media: None,
                name: None,
                alias: None,
                received_ms: None,
            }
        );
    }

    #[test]
    fn the_customers_push_name_is_their_name_never_the_owners() {
        // `parse_message_info` fills `push_name` from the stanza's `notify`.
        let mut incoming = info("5511900000001@s.whatsapp.net", false, false);
        incoming.push_name = " Ana Souza ".into();
        let m = message_to_ours(&text("oi"), &incoming).expect("text");
        assert_eq!(m.name.as_deref(), Some("Ana Souza"));
        incoming.push_name = "  ".into();
        assert_eq!(message_to_ours(&text("oi"), &incoming).unwrap().name, None);
        // The owner's message carries the owner's own push name: not the customer's.
        let mut outgoing = info("5511900000001@s.whatsapp.net", true, false);
        outgoing.push_name = "Pizzaria X".into();
        assert_eq!(message_to_ours(&text("oi"), &outgoing).unwrap().name, None);
    }

    #[test]
    fn a_message_filed_under_the_phone_names_the_hidden_id_it_carries() {
        let alias = |info: &MessageInfo| message_to_ours(&text("oi"), info).unwrap().alias;
        // A hidden-id chat with `sender_pn`: filed under the phone, the hidden id along.
        let lid_chat = customer_in_lid_chat("100000000000001@lid", Some("5511900000001"), "A");
        assert_eq!(chat_of(&lid_chat), "5511900000001");
        assert_eq!(alias(&lid_chat).as_deref(), Some("100000000000001@lid"));
        // A phone chat with the customer's `sender_lid` (as `sender_alt`).
        let mut pn_chat = info("5511900000001@s.whatsapp.net", false, false);
        pn_chat.source.sender_alt = Some(jid("100000000000001:4@lid"));
        assert_eq!(alias(&pn_chat).as_deref(), Some("100000000000001@lid"));
        // The owner's in a phone chat: `sender_alt` is the owner's own hidden id.
        let mut owner = info("5511900000001@s.whatsapp.net", true, false);
        owner.source.sender_alt = Some(jid("100000000000099@lid"));
        assert_eq!(alias(&owner), None);
        // Neither id known besides the chat's: nothing.
        assert_eq!(alias(&info("100000000000001@lid", false, false)), None);
        assert_eq!(
            alias(&info("5511900000001@s.whatsapp.net", false, false)),
            None
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
    fn hidden_numbers_use_the_phone_number_the_message_carries() {
        // A customer's message in a hidden-id chat: `sender_pn` arrives as `sender_alt`.
        let mut incoming = info("100000000000001@lid", false, false);
        incoming.source.sender_alt = Some(jid("5511900000001@s.whatsapp.net"));
        assert_eq!(chat_of(&incoming), "5511900000001");

        // The owner's, from the phone: the customer's number is `peer_recipient_pn`;
        // `sender_alt` is the owner's own number and `recipient_alt` is never filled.
        let mut outgoing = owner_in_lid_chat("100000000000001@lid", "5511988887777");
        outgoing.peer_recipient_pn = Some(jid("5511900000001@s.whatsapp.net"));
        assert_eq!(chat_of(&outgoing), "5511900000001");
        outgoing.peer_recipient_pn = None;
        outgoing.source.recipient_alt = Some(jid("5511900000002@s.whatsapp.net"));
        assert_eq!(
            chat_of(&outgoing),
            "100000000000001@lid",
            "neither the owner's own number nor recipient_alt names the customer"
        );

        let unknown = info("100000000000001@lid", false, false);
        assert_eq!(chat_of(&unknown), "100000000000001@lid");
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

    #[test]
    fn meta_ai_and_other_bots_are_never_answered() {
        // Meta AI's numbers and `@bot` ids, as chats or as senders (a bot writing to us).
        for chat in [
            "13135550002@s.whatsapp.net",
            "13165550001@s.whatsapp.net",
            "867051314767696@bot",
        ] {
            assert!(
                message_to_ours(&text("oi"), &info(chat, false, false)).is_none(),
                "{chat}"
            );
            assert!(
                message_to_ours(&text("oi"), &info(chat, true, false)).is_none(),
                "the owner talking to {chat}"
            );
        }
        let mut bot_in_lid_chat = info("100000000000001@lid", false, false);
        bot_in_lid_chat.source.sender_alt = Some(jid("13135550002@s.whatsapp.net"));
        assert!(message_to_ours(&text("oi"), &bot_in_lid_chat).is_none());
        // A customer whose number merely contains those digits later on is a customer.
        let m = message_to_ours(
            &text("oi"),
            &info("5513135550002@s.whatsapp.net", false, false),
        );
        assert_eq!(m.map(|m| m.chat), Some("5513135550002".to_string()));
    }

    #[test]
    fn a_chats_disappearing_timer_comes_from_the_message() {
        // As the client's dispatch filled it from `contextInfo.expiration`.
        let mut timed = info("5511900000001@s.whatsapp.net", false, false);
        timed.ephemeral_expiration = Some(604_800);
        let m = message_to_ours(&text("oi"), &timed).expect("text");
        assert_eq!(m.ephemeral_expiration, Some(604_800));
        // Or read from the message itself, wrapped as WhatsApp wraps disappearing ones.
        let mut inner = extended("oi");
        assert!(inner.set_ephemeral_expiration(86_400));
        let wrapped = wa::Message {
            ephemeral_message: MessageField::some(wa::message::FutureProofMessage {
                message: MessageField::some(inner),
            }),
            ..Default::default()
        };
        let plain = info("5511900000001@s.whatsapp.net", false, false);
        assert_eq!(
            message_to_ours(&wrapped, &plain).and_then(|m| m.ephemeral_expiration),
            Some(86_400)
        );
        // A chat without the timer: none.
        assert_eq!(
            message_to_ours(&text("oi"), &plain).and_then(|m| m.ephemeral_expiration),
            None
        );
    }

    #[test]
    fn replies_carry_our_id_and_the_chats_timer() {
        let (message, options) = outgoing_text("Sua pizza saiu!", "3EB0ABC", Some(86_400));
        assert_eq!(options.message_id.as_deref(), Some("3EB0ABC"));
        assert_eq!(options.ephemeral_expiration, Some(86_400));
        // What the client's send does with the option (`send/mod.rs`): the bare text
        // becomes an extended text with `contextInfo.expiration`.
        let mut sent = message;
        assert!(sent.set_ephemeral_expiration(options.ephemeral_expiration.unwrap()));
        assert_eq!(sent.get_ephemeral_expiration(), Some(86_400));
        assert_eq!(sent.text_content(), Some("Sua pizza saiu!"));
        // No timer (or a zero one): a plain text, no expiration asked for.
        for none in [None, Some(0)] {
            let (message, options) = outgoing_text("Oi", "3EB0ABD", none);
            assert_eq!(options.ephemeral_expiration, None);
            assert_eq!(message.get_ephemeral_expiration(), None);
        }
    }
}
