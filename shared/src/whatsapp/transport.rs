//! The transport port: how the gateway opens a WhatsApp connection for a slot. Adapters:
//! `simulator` (local, default) and the WhatsApp Web client. A connection reports
//! everything through [`ConnectionEvent`]s on the channel it is given, except the chat
//! messages it can hold back from acknowledging: those it hands to the [`Inbound`] it is
//! given, and acknowledges (tells WhatsApp to drop) only once that commit succeeded — so a
//! gateway killed between receipt and the inbound queue loses nothing: WhatsApp delivers
//! the unacknowledged messages again on the next connect.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::events::{ChatMessage, ConnectionEvent, SlotKey};

/// Why a batch of chat messages could not be committed: the transport must not acknowledge
/// it, so that WhatsApp delivers it again.
#[derive(Debug, thiserror::Error)]
#[error("chat messages not queued: {0}")]
pub struct InboundError(pub String);

/// Where a connection commits the chat messages it receives (the gateway's side of the
/// at-least-once handover: they go to the inbound queue).
#[async_trait]
pub trait Inbound: Send + Sync {
    /// Commits a batch, all or nothing as far as the transport can tell: `Ok` once every
    /// message is queued (or rightly dropped: groups, echoes of our own replies, one already
    /// queued); `Err` and the transport acknowledges none of them. Idempotent: committing a
    /// batch again (a redelivery, a retry after a partial failure) queues no message twice.
    async fn commit(&self, batch: Vec<ChatMessage>) -> Result<(), InboundError>;
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("not connected")]
    NotConnected,
    #[error("transport failure: {0}")]
    Failed(String),
    /// This transport can't send that kind of message.
    #[error("this transport can't send {0}")]
    Unsupported(&'static str),
}

#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Short name (`simulator`, `whatsapp-web`).
    fn kind(&self) -> &'static str;

    /// Does a connection recover from network drops by itself? Then the gateway records the
    /// drop and keeps following the connection instead of closing and reopening it.
    fn reconnects_itself(&self) -> bool {
        false
    }

    /// Forgets everything the transport keeps for `slot` (after a logout or an unlink).
    async fn forget(&self, _slot: &SlotKey) -> Result<(), TransportError> {
        Ok(())
    }

    /// Opens a connection for `slot`: with `credentials` from an earlier pairing it
    /// reconnects silently, without them it starts pairing (QR events, and with
    /// `pair_phone` also a pairing code to type on that phone). Events go to `events` until
    /// the connection is closed; chat messages are committed to `inbound` before they are
    /// acknowledged (a transport that can't hold back acknowledgements sends them as
    /// [`ConnectionEvent::Message`] instead). `fence` is the slot's lease fence, claimed
    /// when this task took the lease: a transport that keeps state in the store fences its
    /// writes with it and, once they are refused (another task took the slot), reports
    /// [`DisconnectReason::LeaseLost`](super::events::DisconnectReason::LeaseLost).
    async fn open(
        &self,
        slot: &SlotKey,
        fence: &super::slots::Fence,
        credentials: Option<Vec<u8>>,
        pair_phone: Option<&str>,
        events: mpsc::Sender<ConnectionEvent>,
        inbound: std::sync::Arc<dyn Inbound>,
    ) -> Result<Box<dyn Connection>, TransportError>;
}

#[async_trait]
pub trait Connection: Send + Sync {
    /// Sends a text to `to` (phone digits or WhatsApp id) as message `id` and returns the
    /// id. The id is ours and deterministic per reply part, so a part sent again after a
    /// crash carries the same id and the receiving side keeps it once.
    async fn send_text(&self, to: &str, text: &str, id: &str) -> Result<String, TransportError>;

    /// Like [`send_text`](Self::send_text), in a chat with disappearing messages: the
    /// message disappears after `ephemeral_expiration` seconds, like the chat's others (a
    /// message without the chat's timer would stay, and show the customer a notice). A
    /// transport without disappearing messages sends the text as is.
    async fn send_text_expiring(
        &self,
        to: &str,
        text: &str,
        id: &str,
        ephemeral_expiration: Option<u32>,
    ) -> Result<String, TransportError> {
        let _ = ephemeral_expiration;
        self.send_text(to, text, id).await
    }

    /// Sends a PNG image with a caption to `to` as message `id` (deterministic per reply
    /// part, like a text's), in a chat with disappearing messages when
    /// `ephemeral_expiration` is set; returns the id. A transport that can't send images
    /// says so (the caller falls back to the caption as text).
    async fn send_image(
        &self,
        to: &str,
        png: &[u8],
        caption: &str,
        id: &str,
        ephemeral_expiration: Option<u32>,
    ) -> Result<String, TransportError> {
        let _ = (to, png, caption, id, ephemeral_expiration);
        Err(TransportError::Unsupported("images"))
    }

    /// Can a message go out now? `false` while the connection is (re)connecting: the stream
    /// is down but the connection is not over (WhatsApp Web reconnects by itself), so a
    /// reply waits for it rather than failing.
    fn is_connected(&self) -> bool {
        true
    }

    /// Shows "typing…" in the chat with `to` (until a message is sent or it times out).
    async fn typing(&self, _to: &str) -> Result<(), TransportError> {
        Ok(())
    }

    /// Clears "typing…" in the chat with `to` (a send failed: the customer shouldn't watch
    /// a reply being typed that won't come yet).
    async fn paused(&self, _to: &str) -> Result<(), TransportError> {
        Ok(())
    }

    /// Unlinks the device from the phone; the credentials become void.
    async fn logout(&self) -> Result<(), TransportError>;

    /// Closes the stream, keeping the link (credentials stay valid).
    async fn close(&self);
}
