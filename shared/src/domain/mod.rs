//! The domain: what an owner registers (user APIs), how their attendant behaves (bot
//! config) and the WhatsApp numbers linked to a connection (slots), with the validation
//! rules every entrypoint applies before anything is stored.

pub mod bot_config;
pub mod slot;
pub mod user_api;
pub mod validate;
