//! Session commands: what the session routes ask the gateway to do, through the command
//! queue. Handling is idempotent (start on a running slot, logout on a logged-out one are
//! no-ops), because a queue may deliver a command twice.

use serde::{Deserialize, Serialize};

use super::events::SlotKey;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SessionCommand {
    /// Connect the slot: reconnect with stored credentials, or start pairing (QR, and with
    /// `pairPhone` also a code to type on that phone).
    #[serde(rename_all = "camelCase")]
    Start {
        slot: SlotKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pair_phone: Option<String>,
    },
    /// Unlink the slot's number and forget its credentials.
    Logout { slot: SlotKey },
}

impl SessionCommand {
    pub fn slot(&self) -> &SlotKey {
        match self {
            SessionCommand::Start { slot, .. } | SessionCommand::Logout { slot } => slot,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("commands serialize")
    }
}
