//! The one seam between a WhatsApp connection and the rest of Platefull. A transport (real
//! WhatsApp Web, the simulator) turns everything its connection does into these events; the
//! gateway turns them into slot states, stored credentials and queued messages. Nothing
//! outside a transport adapter sees a protocol type.

use serde::{Deserialize, Serialize};

/// A chat message, as a transport reports it; defined beside the jobs that carry it to the
/// bot ([`crate::jobs`]).
pub use crate::jobs::ChatMessage;

/// Identifies a slot: one WhatsApp number of one store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotKey {
    pub store_id: String,
    pub slot: u8,
}

impl std::fmt::Display for SlotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.store_id, self.slot)
    }
}

/// Why a connection dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum DisconnectReason {
    /// Network trouble or a server-side close: reconnect with backoff.
    Network { detail: String },
    /// Another client took over this session (WhatsApp allows one stream per device).
    Replaced,
    /// WhatsApp banned the number for a while; don't reconnect before `until` (RFC 3339).
    TemporaryBan { code: i32, until: String },
    /// The device was unlinked (from the phone, or refused): credentials are void.
    LoggedOut { detail: String },
}

impl DisconnectReason {
    /// How the reason is shown on the slot (`lastError`).
    pub fn describe(&self) -> String {
        match self {
            DisconnectReason::Network { detail } => format!("connection lost: {detail}"),
            DisconnectReason::Replaced => {
                "replaced: this number was opened by another connection".into()
            }
            DisconnectReason::TemporaryBan { code, until } => {
                format!("temporarily banned by WhatsApp (code {code}) until {until}")
            }
            DisconnectReason::LoggedOut { detail } => format!("logged out: {detail}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ConnectionEvent {
    /// A QR code to scan (it rotates: a new one replaces the last).
    Qr {
        code: String,
        expires_in_secs: u64,
    },
    /// A pairing code to type on the phone (alternative to the QR).
    PairingCode {
        code: String,
    },
    /// Linked: persist these credentials to reconnect later without scanning again.
    Paired {
        phone: String,
        credentials: Vec<u8>,
    },
    /// The stream is open and messages flow.
    Connected {
        phone: String,
    },
    Disconnected {
        reason: DisconnectReason,
    },
    /// Something failed that the owner should know about, without the connection closing
    /// (e.g. WhatsApp refused to issue a pairing code): shown as the slot's `lastError`.
    Problem {
        detail: String,
    },
    Message(ChatMessage),
}
