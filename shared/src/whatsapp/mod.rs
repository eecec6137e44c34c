//! WhatsApp sessions: the event enum that is the only seam between a connection and the
//! rest of the system, the transport port (real WhatsApp Web or the local simulator), the
//! gateway that supervises one connection per slot, and QR rendering.

pub mod commands;
pub mod events;
pub mod gateway;
pub mod qr;
pub mod simulator;
pub mod slots;
pub mod transport;
#[cfg(feature = "whatsapp-web")]
pub mod wa_store;
#[cfg(feature = "whatsapp-web")]
pub mod whatsapp_web;
