//! The attendant's configuration for one WhatsApp connection (the seed's `Client`): who the
//! bot says it is, what store it serves, the owner's base prompt, topics it must refuse,
//! how much conversation it remembers, and whether it answers at all.
//!
//! `PUT /api/client/{storeId}/config` is a partial update: fields that are absent keep
//! their value, `null` (or an empty string) clears an optional text. The read-only fields
//! that `GET` returns (`storeId`, `updatedAt`) are accepted back, so a client can `GET`,
//! edit and `PUT` the same object.

use serde::{Deserialize, Deserializer, Serialize};

use super::error::DomainError;
use super::validate;

pub const DEFAULT_MESSAGE_LIMIT: u32 = 30;
pub const DEFAULT_CONTEXT_TIME: u32 = 60;
pub const BOT_NAME_MAX: usize = 60;
pub const STORE_TYPE_MAX: usize = 40;
pub const BASE_PROMPT_MAX: usize = 8000;
pub const FORBIDDEN_MAX: usize = 4000;
pub const DEFAULT_DEBOUNCE_SECONDS: u32 = 3;
pub use super::validate::DEFAULT_TIMEZONE;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotConfig {
    pub store_id: String,
    pub bot_name: Option<String>,
    pub store_type: Option<String>,
    pub base_prompt: Option<String>,
    pub forbidden: Option<String>,
    pub message_limit: u32,
    pub context_time: u32,
    pub bot_enabled: bool,
    /// Messages of one chat that arrive within this many seconds of each other form one
    /// turn and get one reply (0: answer every message at once).
    #[serde(default = "default_debounce")]
    pub debounce_seconds: u32,
    /// How long the bot stays quiet in a chat after the owner writes in it from the phone;
    /// `None`: `contextTime`.
    #[serde(default)]
    pub takeover_minutes: Option<u32>,
    /// The store's IANA time zone: the bot is told the local date and time.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// How many days conversations are kept for the inbox (1-365); what the model sees is
    /// still `contextTime`/`messageLimit`.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    pub updated_at: String,
}

fn default_debounce() -> u32 {
    DEFAULT_DEBOUNCE_SECONDS
}

fn default_history_days() -> u32 {
    super::inbox::DEFAULT_HISTORY_DAYS
}

fn default_timezone() -> String {
    DEFAULT_TIMEZONE.to_owned()
}

impl BotConfig {
    /// The configuration a new WhatsApp connection starts with (the seed's defaults).
    pub fn new_default(store_id: &str, now: &str) -> Self {
        Self {
            store_id: store_id.to_owned(),
            bot_name: None,
            store_type: None,
            base_prompt: None,
            forbidden: None,
            message_limit: DEFAULT_MESSAGE_LIMIT,
            context_time: DEFAULT_CONTEXT_TIME,
            bot_enabled: true,
            debounce_seconds: DEFAULT_DEBOUNCE_SECONDS,
            takeover_minutes: None,
            timezone: DEFAULT_TIMEZONE.to_owned(),
            history_days: super::inbox::DEFAULT_HISTORY_DAYS,
            updated_at: now.to_owned(),
        }
    }

    /// How long a chat's history items live (minutes): `historyDays`, and never less than
    /// the context time the model reads.
    pub fn history_keep_minutes(&self) -> u32 {
        (self.history_days.saturating_mul(1440)).max(self.context_time)
    }
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Body of `PUT /api/client/{storeId}/config`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigPatchRequest {
    #[serde(default, deserialize_with = "nullable")]
    pub bot_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub store_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub base_prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub forbidden: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub message_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub context_time: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub bot_enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "nullable")]
    pub debounce_seconds: Option<Option<i64>>,
    /// `null` goes back to the default (the context time).
    #[serde(default, deserialize_with = "nullable")]
    pub takeover_minutes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub history_days: Option<Option<i64>>,
    /// Read-only; accepted so a fetched config can be sent back. Must match the path.
    pub store_id: Option<String>,
    /// Read-only; accepted and ignored.
    #[serde(default, rename = "updatedAt")]
    pub _updated_at: Option<serde::de::IgnoredAny>,
}

/// A validated change: attributes to set and optional texts to clear.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigChange {
    pub set: Vec<(&'static str, serde_json::Value)>,
    pub clear: Vec<&'static str>,
}

impl ConfigPatchRequest {
    pub fn validate(self, store_id: &str) -> Result<ConfigChange, DomainError> {
        if let Some(given) = &self.store_id {
            if given != store_id {
                return Err(DomainError::invalid(
                    "storeId",
                    "storeId in the body does not match the URL",
                ));
            }
        }
        let mut change = ConfigChange::default();
        change.texts([
            ("botName", self.bot_name, BOT_NAME_MAX, false),
            ("storeType", self.store_type, STORE_TYPE_MAX, false),
            ("basePrompt", self.base_prompt, BASE_PROMPT_MAX, true),
            ("forbidden", self.forbidden, FORBIDDEN_MAX, true),
        ])?;
        change.numbers([
            ("messageLimit", self.message_limit, 1, 200, " messages"),
            ("contextTime", self.context_time, 1, 1440, " minutes"),
            (
                "historyDays",
                self.history_days,
                1,
                super::inbox::HISTORY_DAYS_MAX,
                " days",
            ),
        ])?;
        match self.bot_enabled {
            None => {}
            Some(None) => return Err(not_null("botEnabled")),
            Some(Some(on)) => change.set.push(("botEnabled", on.into())),
        }
        change.numbers([("debounceSeconds", self.debounce_seconds, 0, 30, " seconds")])?;
        match self.takeover_minutes {
            None => {}
            Some(None) => change.clear.push("takeoverMinutes"),
            Some(Some(n)) => change.set.push((
                "takeoverMinutes",
                validate::range("takeoverMinutes", n, 1, 1440, " minutes")?.into(),
            )),
        }
        change.timezone(self.timezone)?;
        Ok(change)
    }
}

/// A text field of the request: name, value (absent / `null` / text), most characters,
/// whether line breaks are allowed.
type TextField = (&'static str, Option<Option<String>>, usize, bool);
/// A number field of the request: name, value (absent / `null` / number), min, max, unit.
type NumberField = (&'static str, Option<Option<i64>>, i64, i64, &'static str);

/// A field that may be left out but not sent as `null`.
fn not_null(field: &'static str) -> DomainError {
    DomainError::invalid(field, format!("{field} can't be null"))
}

/// The steps of [`ConfigPatchRequest::validate`], one per kind of field.
impl ConfigChange {
    /// Free texts: `null` or empty clears the field.
    fn texts<const N: usize>(&mut self, fields: [TextField; N]) -> Result<(), DomainError> {
        for (field, value, max, multiline) in fields {
            match value {
                None => {}
                Some(None) => self.clear.push(field),
                Some(Some(text)) => {
                    let text = validate::text(field, &text, 0, max, multiline)?;
                    if text.is_empty() {
                        self.clear.push(field);
                    } else {
                        self.set.push((field, text.into()));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whole numbers within a range; `null` is refused (they have defaults).
    fn numbers<const N: usize>(&mut self, fields: [NumberField; N]) -> Result<(), DomainError> {
        for (field, value, min, max, unit) in fields {
            match value {
                None => {}
                Some(None) => return Err(not_null(field)),
                Some(Some(n)) => self
                    .set
                    .push((field, validate::range(field, n, min, max, unit)?.into())),
            }
        }
        Ok(())
    }

    /// An IANA zone from jiff's bundled database; `null` goes back to the default.
    fn timezone(&mut self, value: Option<Option<String>>) -> Result<(), DomainError> {
        match value {
            None => {}
            Some(None) => self.set.push(("timezone", DEFAULT_TIMEZONE.into())),
            Some(Some(zone)) => self
                .set
                .push(("timezone", validate::time_zone("timezone", &zone)?.into())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(json: &str) -> Result<ConfigChange, DomainError> {
        serde_json::from_str::<ConfigPatchRequest>(json)
            .map_err(|e| DomainError::refused("invalid_body", e.to_string()))?
            .validate("st_1")
    }

    #[test]
    fn absent_fields_are_untouched_and_null_clears() {
        let c = change(r#"{"botName":"Maria","storeType":null,"basePrompt":""}"#).unwrap();
        assert_eq!(c.set, vec![("botName", serde_json::json!("Maria"))]);
        assert_eq!(c.clear, vec!["storeType", "basePrompt"]);
    }

    #[test]
    fn limits_are_enforced_with_clear_messages() {
        let err = change(r#"{"messageLimit":0}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "messageLimit must be between 1 and 200 messages (got 0)"
        );
        assert!(change(r#"{"contextTime":1441}"#).is_err());
        assert!(change(r#"{"contextTime":1440}"#).is_ok());
        assert!(change(r#"{"messageLimit":null}"#).is_err());
        assert!(change(&format!(r#"{{"botName":"{}"}}"#, "b".repeat(61))).is_err());
        assert!(change(&format!(r#"{{"basePrompt":"{}"}}"#, "p".repeat(8000))).is_ok());
        assert!(change(&format!(r#"{{"forbidden":"{}"}}"#, "f".repeat(4001))).is_err());
    }

    #[test]
    fn reply_settings_are_checked() {
        let c = change(r#"{"debounceSeconds":0,"takeoverMinutes":30,"timezone":"America/Manaus"}"#)
            .unwrap();
        assert_eq!(c.set.len(), 3);
        assert!(change(r#"{"debounceSeconds":31}"#).is_err());
        assert!(change(r#"{"takeoverMinutes":0}"#).is_err());
        assert_eq!(
            change(r#"{"takeoverMinutes":null}"#).unwrap().clear,
            vec!["takeoverMinutes"]
        );
        let err = change(r#"{"timezone":"Mars/Olympus"}"#).unwrap_err();
        assert!(err.to_string().contains("IANA"), "{err}");
        // Stored configs from before these settings existed read with the defaults.
        let old: BotConfig = serde_json::from_value(serde_json::json!({
            "storeId": "st_1", "messageLimit": 30, "contextTime": 60, "botEnabled": true,
            "updatedAt": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            (old.debounce_seconds, old.timezone.as_str()),
            (3, DEFAULT_TIMEZONE)
        );
    }

    #[test]
    fn wrong_types_and_unknown_fields_fail_to_parse() {
        assert!(serde_json::from_str::<ConfigPatchRequest>(r#"{"messageLimit":"30"}"#).is_err());
        assert!(serde_json::from_str::<ConfigPatchRequest>(r#"{"botEnabled":"yes"}"#).is_err());
        assert!(serde_json::from_str::<ConfigPatchRequest>(r#"{"temperature":1}"#).is_err());
    }

    #[test]
    fn a_fetched_config_can_be_sent_back() {
        let fetched =
            serde_json::to_string(&BotConfig::new_default("st_1", "2026-01-01T00:00:00Z")).unwrap();
        assert!(change(&fetched).is_ok());
        let other =
            serde_json::to_string(&BotConfig::new_default("st_2", "2026-01-01T00:00:00Z")).unwrap();
        assert!(change(&other).is_err());
    }
}
