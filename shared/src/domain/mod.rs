//! The domain: what an owner registers (user APIs), how their attendant behaves (bot
//! config) and the WhatsApp numbers linked to a connection (slots), with the validation
//! rules every entrypoint applies before anything is stored. Validation returns a
//! [`DomainError`](error::DomainError); nothing here depends on HTTP.

pub mod bot_config;
pub mod error;
pub mod slot;
pub mod user_api;
pub mod validate;
