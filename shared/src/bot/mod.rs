//! The bot: turns customers' WhatsApp messages into the attendant's replies.
//!
//! Messages arrive on the inbound queue as [`BotJob`](crate::jobs::BotJob)s (from the
//! gateway's WhatsApp Web connections and from Meta's Cloud API webhook). The [`worker`] records each one
//! exactly once, gathers a burst of messages into one turn (a delayed "turn due" job on the
//! same queue, so no timer lives only in memory), asks the [`llm`] for a reply shaped by
//! the store's [`prompt`] — the model reads the store's menu, hours, delivery zones and
//! payment methods through the read [`tools`] ([`converse`] runs the rounds) and the price
//! [`guard`] keeps every amount of money to the store's data ([`money`]); the store's
//! [`status`] adds the "we're closed" notice; without a model, [`offline`] answers from the
//! data — claims the turn with a conditional write and hands the reply to the outbound side:
//! the gateway's outbound queue, or the Cloud API directly.
//! Everything a turn needs to survive a crash or a redelivery is in the store ([`chat`]).
//!
//! Dependencies point one way: the bot never imports `whatsapp`. The jobs it exchanges with
//! the gateway live in [`crate::jobs`]; the gateway uses the bot's chat state (delivery
//! marks) and reply pacing.

pub mod cart_tools;
pub mod chat;
pub mod cloud_api;
pub mod converse;
pub mod guard;
pub mod identity;
pub mod llm;
mod media;
pub mod money;
pub mod offline;
pub mod order_text;
pub mod prompt;
pub mod receipts;
pub mod reply;
pub mod status;
pub mod tools;
pub mod worker;
