//! The one seam between a WhatsApp connection and the rest of Platefull. A transport (real
//! WhatsApp Web, the simulator) turns everything its connection does into these events; the
//! gateway turns them into slot states, stored credentials and queued messages. Nothing
//! outside a transport adapter sees a protocol type.

use serde::{Deserialize, Serialize};

/// How often a transport reports a live connection at most ([`ConnectionEvent::Alive`]):
/// each report is one write of the slot record, so `lastSeenAt` is at most this stale.
pub const ALIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

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

/// Why a connection dropped, and so what the gateway does next: `Network` is transient (the
/// connection is or will be reopened), `TemporaryBan` waits for its end, and the others are
/// final for this connection (the slot stops until the owner starts it again; only
/// `LoggedOut` also voids the link).
///
/// `lastError` shows [`DisconnectReason::describe`] on the console as it is, so the wording
/// is Brazilian Portuguese and stable (tests and owners read it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum DisconnectReason {
    /// Network trouble or a server-side close: reconnect with backoff (a transport that
    /// reconnects by itself is already doing so).
    Network { detail: String },
    /// Another client took over this session (WhatsApp allows one stream per device): the
    /// slot stops and is not wanted any more, so no gateway task fights the other stream.
    Replaced,
    /// WhatsApp banned the number for a while; don't reconnect before `until` (RFC 3339).
    TemporaryBan { code: i32, until: String },
    /// The device was unlinked (from the phone, or refused): credentials are void.
    LoggedOut { detail: String },
    /// Pairing ran out of time: no phone scanned any QR code (or typed the code) before
    /// WhatsApp stopped issuing them. The slot goes back to `disconnected`; the next start
    /// opens a new connection with new codes.
    PairingExpired,
    /// WhatsApp refused the connection for good (a final connect failure, an outdated
    /// client): the slot stops with the reason; the link is kept for a later start.
    Refused { detail: String },
    /// Another gateway task took the slot's lease: this connection's key-store writes are
    /// refused by the lease fence. This task closes the connection and leaves the slot
    /// (and its record) to the new holder.
    LeaseLost,
}

impl DisconnectReason {
    /// How the reason is shown on the slot (`lastError`), in the console's language.
    pub fn describe(&self) -> String {
        match self {
            DisconnectReason::Network { detail } => {
                format!("conexão perdida ({detail}); reconectando")
            }
            DisconnectReason::Replaced => "substituída: este número foi aberto em outra conexão; \
                 toque em Conectar para voltar a usá-lo aqui"
                .into(),
            DisconnectReason::TemporaryBan { code, until } => format!(
                "banido temporariamente pelo WhatsApp (código {code}) até {until}; \
                 reconecta sozinho ao fim do banimento"
            ),
            DisconnectReason::LoggedOut { detail } => {
                format!("desvinculado do celular: {detail}")
            }
            DisconnectReason::PairingExpired => "QR expirado: nenhum celular foi pareado a tempo; \
                 toque em Conectar para gerar um novo QR"
                .into(),
            DisconnectReason::Refused { detail } => format!(
                "o WhatsApp recusou a conexão ({detail}); toque em Conectar para tentar de novo"
            ),
            DisconnectReason::LeaseLost => "outra instância do gateway assumiu esta conexão".into(),
        }
    }

    /// Does this ending stop the slot for good (until the owner starts it again)?
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            DisconnectReason::Network { .. } | DisconnectReason::TemporaryBan { .. }
        )
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
    /// The connection proved alive just now (data received since the last report):
    /// recorded as the slot's `lastSeenAt`. A transport sends it at most about once a
    /// minute per connection (each costs one write of the slot record).
    Alive,
    /// The pairing code on screen was retired by WhatsApp; the transport is asking for a
    /// new one (a `PairingCode` follows, or a `Problem` if WhatsApp refuses).
    PairingCodeRetired,
    /// Something failed that the owner should know about, without the connection closing
    /// (e.g. WhatsApp refused to issue a pairing code): shown as the slot's `lastError`.
    Problem {
        detail: String,
    },
    Message(ChatMessage),
}
