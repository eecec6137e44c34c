//! Number health and usage (issue 17): what a store's owner must hear about and what each
//! store costs. `usage` counts messages, replies, orders, voice and the AI's tokens and
//! cost per store per day; `budget` caps the month's AI cost; `incidents` opens and closes
//! what went wrong (a number down, the attendant failing, the budget) and decides which
//! transitions alert; `alerts` words those alerts in pt-BR and sends them (e-mail through
//! `resend`, WhatsApp from another connected number of the store); `liveness` keeps
//! every slot's state in this process for `/health` and the gateway's metrics.

pub mod alerts;
pub mod budget;
pub mod incidents;
pub mod liveness;
pub mod resend;
pub mod usage;

use serde_json::Value;

use crate::store::Item;

/// The store's `CONFIG#HEALTH` item as a turn's `CONFIG` query returned it: the AI spend
/// per month and, while the model fails, since when.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreHealth(pub Item);

impl StoreHealth {
    /// Micro-dollars spent on the AI in `month` (`YYYY-MM`).
    pub fn spend(&self, month: &str) -> i64 {
        self.0
            .get(&usage::spend_attr(month))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    /// Since when (epoch ms) customers' messages have been going to the dead letters, if
    /// no turn was answered since.
    pub fn dead_letters_since(&self) -> Option<i64> {
        self.0.get(DEAD_LETTERS).and_then(Value::as_i64)
    }

    /// Since when (epoch ms) the attendant's model has been failing, if it is.
    pub fn attendant_failing_since(&self) -> Option<i64> {
        self.0.get(ATTENDANT_FAILING).and_then(Value::as_i64)
    }
}

/// The attribute of `CONFIG#HEALTH` set at the model's first failure, removed when it
/// answers again.
pub const ATTENDANT_FAILING: &str = "attendantFailingSince";

/// The attribute of `CONFIG#HEALTH` set when a customer's message goes to the dead
/// letters, removed by the next answered turn.
pub const DEAD_LETTERS: &str = "deadLettersSince";

/// What the bot worker needs of this module: prices, the platform's budget, the attendant's
/// grace period, and the e-mail sender.
#[derive(Clone)]
pub struct HealthSettings {
    /// Token prices for responses that carry no cost.
    pub prices: usage::Prices,
    /// The monthly AI budget of stores without their own (`PLATEFULL_AI_BUDGET_MICROS`).
    pub default_budget_micros: Option<i64>,
    /// How long the model may fail before the owner is alerted
    /// (`PLATEFULL_ATTENDANT_ALERT_SECS`, 5 minutes).
    pub failing_after: std::time::Duration,
    /// Resend's API, when `RESEND_API_KEY` is set (else alerts go by WhatsApp only).
    pub resend: Option<resend::Resend>,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            prices: usage::Prices::default(),
            default_budget_micros: None,
            failing_after: std::time::Duration::from_secs(300),
            resend: None,
        }
    }
}
