//! The bot worker's health and usage settings (issue 17), from the environment, for
//! bot-reply and the local stack alike: token prices for responses without a cost, the
//! platform's default monthly AI budget, how long the model may fail before the owner is
//! alerted, and Resend's API (its key is a platform secret: bot-reply's secret's
//! `resendApiKey`, or `RESEND_API_KEY` locally; never logged).

use std::time::Duration;

use super::env::{optional, parse};
use super::ConfigError;
use crate::health::resend::{Resend, DEFAULT_BASE_URL, DEFAULT_FROM};
use crate::health::usage::Prices;
use crate::health::HealthSettings;

pub fn health_settings(resend_api_key: Option<&str>) -> Result<HealthSettings, ConfigError> {
    let price = |name: &'static str| -> Result<f64, ConfigError> {
        let value: f64 = parse(name, 0.0, "US dollars per million tokens, e.g. 0.15")?;
        if value.is_finite() && value >= 0.0 {
            Ok(value)
        } else {
            Err(ConfigError::Invalid(format!("{name} must be at least 0")))
        }
    };
    let budget: i64 = parse(
        "PLATEFULL_AI_BUDGET_MICROS",
        -1,
        "micro-dollars, e.g. 20000000",
    )?;
    let failing_secs: u64 = parse("PLATEFULL_ATTENDANT_ALERT_SECS", 300, "seconds")?;
    let resend = resend_api_key.filter(|k| !k.is_empty()).map(|key| {
        let base = optional("RESEND_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into());
        let from = optional("RESEND_FROM").unwrap_or_else(|| DEFAULT_FROM.into());
        Resend::new(&base, key, &from)
    });
    Ok(HealthSettings {
        prices: Prices {
            prompt_per_million: price("OPENROUTER_PROMPT_PRICE")?,
            completion_per_million: price("OPENROUTER_COMPLETION_PRICE")?,
        },
        default_budget_micros: (budget >= 0).then_some(budget),
        failing_after: Duration::from_secs(failing_secs),
        resend,
    })
}

/// The platform's default monthly AI budget (`PLATEFULL_AI_BUDGET_MICROS`), for the usage
/// route (client-config) and the worker alike; unset or unreadable: none.
pub fn default_budget_micros() -> Option<i64> {
    optional("PLATEFULL_AI_BUDGET_MICROS")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v >= 0)
}
