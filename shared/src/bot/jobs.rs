//! The messages of the inbound queue: what the bot worker is asked to do. The gateway and
//! the Cloud API webhook produce `Message`s; the worker produces its own delayed
//! `TurnDue`s; the webhook also forwards delivery `Status`es.

use serde::{Deserialize, Serialize};

use crate::domain::bot_config::BotConfig;
use crate::whatsapp::events::ChatMessage;

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
}

impl BotJob {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("jobs serialize")
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            },
        };
        let json: serde_json::Value = serde_json::from_str(&job.to_json()).unwrap();
        assert_eq!(json["type"], "message");
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
}
