//! Session commands: what the session routes ask the gateway to do, through the command
//! queue. Handling is idempotent (start on a running slot, logout on a logged-out one are
//! no-ops), because a queue may deliver a command twice.

use serde::{Deserialize, Serialize};

use super::events::SlotKey;
use crate::queue::Outgoing;

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

    /// The queue message of this command on the (FIFO) command queue: ordering group the
    /// slot, so one slot's commands apply in order; a fresh deduplication id per command,
    /// so pressing "start" again is a new command, not a duplicate to drop.
    pub fn outgoing(&self) -> Outgoing {
        Outgoing::new(self.to_json()).in_group(self.slot().to_string(), crate::ids::new_id("cmd"))
    }
}
