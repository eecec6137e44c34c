//! The transport port: how the gateway opens a WhatsApp connection for a slot. Adapters:
//! `simulator` (local, default) and the WhatsApp Web client. A connection reports
//! everything through [`ConnectionEvent`]s on the channel it is given.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::events::{ConnectionEvent, SlotKey};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("not connected")]
    NotConnected,
    #[error("transport failure: {0}")]
    Failed(String),
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
    /// the connection is closed.
    async fn open(
        &self,
        slot: &SlotKey,
        credentials: Option<Vec<u8>>,
        pair_phone: Option<&str>,
        events: mpsc::Sender<ConnectionEvent>,
    ) -> Result<Box<dyn Connection>, TransportError>;
}

#[async_trait]
pub trait Connection: Send + Sync {
    /// Sends a text to `to` (phone digits or WhatsApp id); returns the message id.
    async fn send_text(&self, to: &str, text: &str) -> Result<String, TransportError>;

    /// Shows "typing…" in the chat with `to` (until a message is sent or it times out).
    async fn typing(&self, _to: &str) -> Result<(), TransportError> {
        Ok(())
    }

    /// Unlinks the device from the phone; the credentials become void.
    async fn logout(&self) -> Result<(), TransportError>;

    /// Closes the stream, keeping the link (credentials stay valid).
    async fn close(&self);
}
