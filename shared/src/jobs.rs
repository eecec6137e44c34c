//! The jobs that cross the bot's queues, and what they carry: neutral ground between the
//! `bot` and `whatsapp` modules (the gateway produces chat messages and delivers replies,
//! the bot consumes messages and produces replies), so neither defines the other's inputs.
//!
//! - [`BotJob`]s travel on the inbound queue: the gateway and the Cloud API webhook
//!   produce `Message`s; the worker produces its own delayed `TurnDue`s; the webhook also
//!   forwards delivery `Status`es.
//! - [`OutboundJob`]s travel on the outbound queue to the gateway: the bot's
//!   [`OutboundReply`]s to customers, and [`OutboundNotice`]s (a text to the owner's own
//!   phone, see `notify`).
//!
//! Each job's `outgoing()` is the one place where its queue message is built: its ordering
//! group, its deduplication id and its delay. Every sender goes through it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::bot_config::BotConfig;
use crate::queue::Outgoing;

/// A message in a chat of a linked number, customer's or the owner's own (`from_me`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// WhatsApp's message id: the key for deduplication.
    pub id: String,
    /// The other party of the chat (phone number digits, or a WhatsApp id for hidden numbers).
    pub chat: String,
    /// Sent from the linked phone (the owner), not by the customer.
    pub from_me: bool,
    pub text: String,
    /// Seconds since the epoch, as WhatsApp stamped it.
    pub timestamp: i64,
    /// Group chats, broadcasts and status updates are not conversations with a customer.
    pub is_group: bool,
    /// The chat's disappearing-messages timer (seconds) as this message carried it
    /// (WhatsApp stamps every message of such a chat with it); `None`: the chat keeps its
    /// messages. Absent in jobs queued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_expiration: Option<u32>,
    /// What the message carries besides text (a voice note, picture, pin, reaction, edit,
    /// …): declared facts and a handle to fetch it, never the bytes. `None`: plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Box<crate::media::MediaPart>>,
    /// The customer's name as WhatsApp shows it (their push name; the Cloud API's
    /// `contacts[].profile.name`), on the customer's messages when the line tells it. Personal
    /// data: shown in the inbox and on orders, never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The customer's other id when the line reports both and `chat` is their phone: the
    /// hidden id (`…@lid`) a chat may have been filed under before the phone was known
    /// ([`crate::bot::identity`] keeps such a chat where it started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// When our side got it (ms since the epoch, [`crate::ids::monotonic_ms`]): stamped by
    /// the gateway's commit or the webhook before it is queued, so it survives redeliveries
    /// and two messages of the same second keep the order they arrived in. Absent in jobs
    /// queued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_ms: Option<i64>,
}

/// Which of a store's WhatsApp numbers a conversation happens on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "camelCase")]
pub enum Line {
    /// A number linked to the gateway by QR code (slot 1..3).
    Web { slot: u8 },
    /// A Meta Cloud API number.
    #[serde(rename_all = "camelCase")]
    Cloud { phone_number_id: String },
}

impl Line {
    /// The line named by [`Line::key`].
    pub fn from_key(key: &str) -> Option<Line> {
        if let Some(slot) = key.strip_prefix('w') {
            let slot: u8 = slot.parse().ok()?;
            return (1..=3).contains(&slot).then_some(Line::Web { slot });
        }
        let id = key.strip_prefix('c')?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| Line::Cloud {
            phone_number_id: id.to_owned(),
        })
    }

    /// A short, key-safe name of the line (`w1`, `c106540352242922`).
    pub fn key(&self) -> String {
        match self {
            Line::Web { slot } => format!("w{slot}"),
            Line::Cloud { phone_number_id } => format!("c{phone_number_id}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum BotJob {
    /// A message in a customer's chat: the customer's, or the owner's from the phone.
    #[serde(rename_all = "camelCase")]
    Message {
        store_id: String,
        #[serde(flatten)]
        line: Line,
        message: ChatMessage,
    },
    /// The debounce window of a chat's turn has passed: answer it if `message_id` is still
    /// the chat's latest message. Carries the configuration read when the turn began.
    #[serde(rename_all = "camelCase")]
    TurnDue {
        store_id: String,
        #[serde(flatten)]
        line: Line,
        chat: String,
        message_id: String,
        config: Box<BotConfig>,
    },
    /// What happened to a message we sent through the Cloud API.
    #[serde(rename_all = "camelCase")]
    Status {
        store_id: String,
        #[serde(flatten)]
        line: Line,
        message_id: String,
        recipient: String,
        status: String,
        timestamp: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// An alert for the store's owner (an incident opened or closed): sent by e-mail and
    /// WhatsApp by the worker, retried like any job.
    Alert(crate::health::incidents::AlertJob),
    /// A text to one of the owner's own phones (see `notify`), from `line`: the worker
    /// sends it through the Graph API from a Cloud API number, or hands it to the gateway
    /// (an [`OutboundNotice`]) for a linked number. `id` names it (deduplication, and the
    /// WhatsApp id on a linked number).
    #[serde(rename_all = "camelCase")]
    OwnerNotice {
        store_id: String,
        #[serde(flatten)]
        line: Line,
        to: String,
        text: String,
        id: String,
    },
    /// One attempt to POST an order event to a store's webhook (see `order_webhook`).
    Webhook(crate::order_webhook::Delivery),
    /// One attempt to send an accepted order to the store's Saipos POS (`saipos::orders`).
    SaiposOrder(crate::saipos::orders::SaiposJob),
    /// A message our code sends the customer unasked (an order's status changed): sent
    /// like a reply, once per `key`.
    #[serde(rename_all = "camelCase")]
    Notice {
        store_id: String,
        #[serde(flatten)]
        line: Line,
        chat: String,
        /// What makes it once (the order and its history step).
        key: String,
        text: String,
    },
}

impl BotJob {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("jobs serialize")
    }

    /// The queue message of this job: group the chat (applied where the queue has groups),
    /// deduplication id [`dedup_id`](Self::dedup_id) (a redelivered webhook or event is the
    /// same job); a `TurnDue` waits out the debounce window it carries.
    ///
    /// The inbound queue is standard in AWS and locally, so today only the delay applies;
    /// groups and ids are kept for a FIFO queue, which would refuse the delay.
    pub fn outgoing(&self) -> Outgoing {
        let outgoing = Outgoing::new(self.to_json()).in_group(self.group(), self.dedup_id());
        match self {
            BotJob::TurnDue { config, .. } => {
                outgoing.delayed(Duration::from_secs(config.debounce_seconds.into()))
            }
            _ => outgoing,
        }
    }

    /// What makes two deliveries the same job: the WhatsApp message id for a `Message`, the
    /// message and its status for a `Status`, the message for a `TurnDue`.
    pub fn dedup_id(&self) -> String {
        match self {
            BotJob::Message { message, .. } => message.id.clone(),
            BotJob::TurnDue { message_id, .. } => format!("{message_id}#due"),
            BotJob::Status {
                message_id, status, ..
            } => format!("{message_id}#{status}"),
            BotJob::Alert(alert) => format!("alert#{}", alert.alert_id),
            BotJob::OwnerNotice { id, .. } => id.clone(),
            BotJob::Webhook(delivery) => format!("{}#{}", delivery.key, delivery.attempt),
            BotJob::SaiposOrder(job) => format!("saipos#{}#{}", job.order_id, job.attempt),
            BotJob::Notice { key, .. } => format!("notice#{key}"),
        }
    }

    /// The FIFO ordering group of this job (a chat), where the queue has groups.
    pub fn group(&self) -> String {
        match self {
            BotJob::Message {
                store_id,
                line,
                message,
            } => format!("{store_id}#{}#{}", line.key(), message.chat),
            BotJob::TurnDue {
                store_id,
                line,
                chat,
                ..
            } => format!("{store_id}#{}#{chat}", line.key()),
            BotJob::Status {
                store_id,
                line,
                recipient,
                ..
            } => format!("{store_id}#{}#{recipient}", line.key()),
            BotJob::Alert(alert) => format!("{}#alerts", alert.store_id),
            BotJob::OwnerNotice {
                store_id, line, to, ..
            } => format!("{store_id}#{}#{to}", line.key()),
            BotJob::Webhook(delivery) => format!("{}#webhook", delivery.store_id),
            BotJob::SaiposOrder(job) => format!("{}#saipos", job.store_id),
            BotJob::Notice {
                store_id,
                line,
                chat,
                ..
            } => format!("{store_id}#{}#{chat}", line.key()),
        }
    }
}

/// A claimed reply for the gateway to deliver from a linked number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundReply {
    pub store_id: String,
    pub slot: u8,
    pub chat: String,
    /// The chat's reply sequence number: delivery is checked and marked by it.
    pub seq: i64,
    pub chunks: Vec<String>,
    /// The chat's disappearing-messages timer (seconds), learnt from the customer's latest
    /// message: every part is sent with it. Absent in replies queued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_expiration: Option<u32>,
    /// The owner's own message, sent from the console: delivered whatever the pause it
    /// caused (absent: the attendant's reply).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub owner: bool,
    /// When the message joined the chat's history (ms), so its delivery shows there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// An image sent after the text parts, as one more part (same exactly-once rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ReplyImage>,
}

/// An image part of a reply: the QR code of a text (a Pix "copia e cola"), drawn when it is
/// sent, so the queue carries the text, not the PNG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyImage {
    /// What the QR code encodes.
    pub qr: String,
    /// The image's caption.
    pub caption: String,
}

impl ReplyImage {
    /// The PNG bytes of the image.
    pub fn png(&self) -> Result<Vec<u8>, crate::whatsapp::qr::QrError> {
        crate::whatsapp::qr::png(&self.qr)
    }
}

/// A text for the gateway to send from a linked number to one of the owner's own phones
/// (a new order, an alert): no chat state, sent once per `id` (the phone keeps a message
/// once per id, so a retry after a crash is harmless).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundNotice {
    pub store_id: String,
    pub slot: u8,
    /// The owner's phone (digits).
    pub to: String,
    pub text: String,
    /// The WhatsApp message id, deterministic per notice.
    pub id: String,
}

impl OutboundNotice {
    /// Its queue message: group the owner's chat on that line, deduplicated by its id.
    pub fn outgoing(&self) -> Outgoing {
        let group = format!("{}#w{}#{}", self.store_id, self.slot, self.to);
        let body = serde_json::to_string(self).expect("notices serialize");
        Outgoing::new(body).in_group(group, self.id.clone())
    }
}

/// What the outbound queue carries (told apart by their fields: a reply has `seq` and
/// `chunks`, a notice `to`, `text` and `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OutboundJob {
    Notice(OutboundNotice),
    Reply(OutboundReply),
}

impl OutboundReply {
    /// The id of this message in the chat's history (`bot/chat.rs`).
    pub fn history_id(&self) -> String {
        if self.owner {
            format!("owner{}", self.seq)
        } else {
            format!("reply{}", self.seq)
        }
    }

    /// The queue message of this reply on the (FIFO) outbound queue: ordering group one chat,
    /// deduplication id one reply (the chat and the reply's sequence number).
    pub fn outgoing(&self) -> Outgoing {
        let group = format!("{}#w{}#{}", self.store_id, self.slot, self.chat);
        let dedup = format!("{group}#{}", self.seq);
        let body = serde_json::to_string(self).expect("replies serialize");
        Outgoing::new(body).in_group(group, dedup)
    }

    /// How many parts it is sent as: its texts, then its image if any.
    pub fn parts(&self) -> usize {
        self.chunks.len() + usize::from(self.image.is_some())
    }

    /// The WhatsApp message id of part `part` of this reply: the same on every attempt, so
    /// a part sent again after a crash is one message to the customer. Shaped like WhatsApp
    /// Web's own ids ("3EB0" + 18 upper-case hex digits), from a SHA-256 of the reply's
    /// identity (store, slot, chat, sequence, part).
    pub fn part_id(&self, part: usize) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(self.store_id.as_bytes())
            .chain_update([0, self.slot])
            .chain_update(self.chat.as_bytes())
            .chain_update(self.seq.to_be_bytes())
            .chain_update((part as u64).to_be_bytes())
            .finalize();
        let hex: String = digest[..9].iter().map(|b| format!("{b:02X}")).collect();
        format!("3EB0{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_queued_before_disappearing_messages_are_still_read_and_new_ones_carry_the_timer() {
        // As queued by the previous release: no `ephemeralExpiration` anywhere.
        let old_reply = r#"{"storeId":"st_1","slot":1,"chat":"5511","seq":2,"chunks":["Oi"]}"#;
        let reply: OutboundReply = serde_json::from_str(old_reply).unwrap();
        assert_eq!(reply.ephemeral_expiration, None);
        assert_eq!(reply.chunks, ["Oi"]);
        let old_job = r#"{"type":"message","storeId":"st_1","via":"web","slot":1,
            "message":{"id":"M1","chat":"5511","fromMe":false,"text":"Oi","timestamp":1,"isGroup":false}}"#;
        let BotJob::Message { message, .. } = serde_json::from_str::<BotJob>(old_job).unwrap()
        else {
            panic!("a message job");
        };
        assert_eq!(message.ephemeral_expiration, None);
        // Without a timer nothing new is written (the old shape exactly); with one it
        // round-trips.
        assert_eq!(serde_json::to_string(&reply).unwrap(), old_reply);
        let timed = OutboundReply {
            ephemeral_expiration: Some(86_400),
            ..reply
        };
        let json = serde_json::to_string(&timed).unwrap();
        assert!(json.contains(r#""ephemeralExpiration":86400"#), "{json}");
        assert_eq!(serde_json::from_str::<OutboundReply>(&json).unwrap(), timed);
        let message = ChatMessage {
            ephemeral_expiration: Some(604_800),
            ..message
        };
        let back: ChatMessage =
            serde_json::from_str(&serde_json::to_string(&message).unwrap()).unwrap();
        assert_eq!(back.ephemeral_expiration, Some(604_800));
    }

    #[test]
    fn the_outbound_queue_tells_replies_from_owner_notices_and_reads_old_replies() {
        let old_reply = r#"{"storeId":"st_1","slot":1,"chat":"5511","seq":2,"chunks":["Oi"]}"#;
        let OutboundJob::Reply(reply) = serde_json::from_str(old_reply).unwrap() else {
            panic!("a reply");
        };
        assert_eq!((reply.image.clone(), reply.parts()), (None, 1));
        let notice = OutboundNotice {
            store_id: "st_1".into(),
            slot: 2,
            to: "5511988887777".into(),
            text: "Novo pedido #0001".into(),
            id: "3EB0AA".into(),
        };
        let out = notice.outgoing();
        assert_eq!(out.group.as_deref(), Some("st_1#w2#5511988887777"));
        assert_eq!(
            serde_json::from_str::<OutboundJob>(&out.body).unwrap(),
            OutboundJob::Notice(notice)
        );
        let with_image = OutboundReply {
            image: Some(ReplyImage {
                qr: "000201".into(),
                caption: "Pix".into(),
            }),
            ..reply
        };
        assert_eq!(with_image.parts(), 2);
        let json = serde_json::to_string(&with_image).unwrap();
        assert_eq!(
            serde_json::from_str::<OutboundJob>(&json).unwrap(),
            OutboundJob::Reply(with_image)
        );
    }

    #[test]
    fn jobs_round_trip_with_their_line_inline() {
        let job = BotJob::Message {
            store_id: "st_1".into(),
            line: Line::Web { slot: 2 },
            message: ChatMessage {
                id: "M1".into(),
                chat: "5511999990000".into(),
                from_me: false,
                text: "Oi".into(),
                timestamp: 1_700_000_000,
                is_group: false,
                ephemeral_expiration: None,
                media: None,
                name: Some("Ana".into()),
                alias: None,
                received_ms: None,
            },
        };
        let json: serde_json::Value = serde_json::from_str(&job.to_json()).unwrap();
        assert_eq!(json["type"], "message");
        assert_eq!(json["message"]["name"], "Ana");
        assert_eq!(json["via"], "web");
        assert_eq!(json["slot"], 2);
        assert_eq!(serde_json::from_value::<BotJob>(json).unwrap(), job);
        let cloud = BotJob::Status {
            store_id: "st_1".into(),
            line: Line::Cloud {
                phone_number_id: "106".into(),
            },
            message_id: "wamid.X".into(),
            recipient: "5511".into(),
            status: "read".into(),
            timestamp: 1,
            error: None,
        };
        let json: serde_json::Value = serde_json::from_str(&cloud.to_json()).unwrap();
        assert_eq!(json["phoneNumberId"], "106");
        assert_eq!(serde_json::from_value::<BotJob>(json).unwrap(), cloud);
        assert_eq!(cloud.group(), "st_1#c106#5511");
    }

    #[test]
    fn each_job_names_its_group_dedup_id_and_delay_once() {
        let message = ChatMessage {
            id: "M1".into(),
            chat: "5511".into(),
            from_me: false,
            text: "Oi".into(),
            timestamp: 1,
            is_group: false,
            ephemeral_expiration: None,
            media: None,
            name: None,
            alias: None,
            received_ms: None,
        };
        let job = BotJob::Message {
            store_id: "st_1".into(),
            line: Line::Web { slot: 2 },
            message,
        };
        let out = job.outgoing();
        assert_eq!(out.body, job.to_json());
        assert_eq!(
            (out.group.as_deref(), out.dedup_id.as_deref(), out.delay),
            (Some("st_1#w2#5511"), Some("M1"), None)
        );
        let config = BotConfig {
            debounce_seconds: 7,
            ..BotConfig::new_default("st_1", "2026-01-01T00:00:00.000000Z")
        };
        let due = BotJob::TurnDue {
            store_id: "st_1".into(),
            line: Line::Web { slot: 2 },
            chat: "5511".into(),
            message_id: "M1".into(),
            config: Box::new(config),
        };
        let out = due.outgoing();
        assert_eq!(out.group.as_deref(), Some("st_1#w2#5511"));
        assert_eq!(out.delay, Some(Duration::from_secs(7)));
        let reply = OutboundReply {
            store_id: "st_1".into(),
            slot: 2,
            chat: "5511".into(),
            seq: 3,
            chunks: vec!["Olá".into()],
            ephemeral_expiration: None,
            image: None,
            owner: false,
            at: None,
        };
        let out = reply.outgoing();
        assert_eq!(
            (out.group.as_deref(), out.dedup_id.as_deref(), out.delay),
            (Some("st_1#w2#5511"), Some("st_1#w2#5511#3"), None)
        );
        assert_eq!(
            serde_json::from_str::<OutboundReply>(&out.body).unwrap(),
            reply
        );
    }
}
