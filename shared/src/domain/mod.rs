//! The domain: what an owner registers (user APIs), how their attendant behaves (bot
//! config), the WhatsApp numbers linked to a connection (slots), what the attendant knows
//! about the restaurant (menu, profile: hours, delivery, payments), with the validation
//! rules every entrypoint applies before anything is stored. Validation returns a
//! [`DomainError`](error::DomainError); nothing here depends on HTTP.

pub mod borrowed;
pub mod bot_config;
pub mod error;
pub mod inbox;
pub mod menu;
pub mod menu_csv;
pub mod order;
pub mod pix;
pub mod profile;
pub mod slot;
pub mod text;
pub mod user_api;
pub mod validate;
