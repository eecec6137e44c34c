//! The inbox's rules, free of storage and HTTP: how a chat is named in the API (`chatId`),
//! who answers a chat (the bot's mode), what the owner may send or set, and how long
//! conversations are kept (`historyDays`, apart from what the model sees).
//!
//! A chat is keyed by the customer's stable id as the line reports it (a phone number's
//! digits, a LID such as `123@lid`, or a business-scoped id); the phone, where known, is an
//! attribute of the chat, never part of its key, so one customer is one chat.

use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::validate;

/// Conversations are kept this many days unless the store says otherwise.
pub const DEFAULT_HISTORY_DAYS: u32 = 30;
pub const HISTORY_DAYS_MAX: i64 = 365;
/// The longest message an owner may send from the console (WhatsApp's text limit).
pub const OWNER_TEXT_MAX: usize = 4096;
/// Page sizes of the chat list and of a conversation.
pub const PAGE_DEFAULT: usize = 50;
pub const PAGE_MAX: usize = 200;
/// A Cloud API number may send free text only this long after the customer's last message.
pub const CLOUD_WINDOW_MS: i64 = 24 * 3_600_000;

/// One chat of a store: the line it runs on (`w1`, `c<phoneNumberId>`) and the customer's
/// stable id. Written `<line>:<chat>` in the API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatId {
    pub line: String,
    pub chat: String,
}

impl ChatId {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::invalid(
                "chatId",
                "chatId must be <line>:<customer id>, as the chat list gives it (e.g. w1:5511988887777)",
            )
        };
        let (line, chat) = raw.split_once(':').ok_or_else(bad)?;
        let line_ok = match line.as_bytes() {
            [b'w', b'1'..=b'3'] => true,
            [b'c', rest @ ..] => {
                !rest.is_empty() && rest.len() <= 32 && rest.iter().all(u8::is_ascii_digit)
            }
            _ => false,
        };
        let chat_ok = !chat.is_empty()
            && chat.len() <= 128
            && chat
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_' | '+'));
        if !line_ok || !chat_ok {
            return Err(bad());
        }
        Ok(Self {
            line: line.to_owned(),
            chat: chat.to_owned(),
        })
    }

    pub fn render(line: &str, chat: &str) -> String {
        format!("{line}:{chat}")
    }
}

/// The phone number of a customer id, when the id is one (digits only); a LID or a
/// business-scoped id has none.
pub fn phone_of(chat: &str) -> Option<&str> {
    (chat.len() >= 8 && chat.len() <= 15 && chat.bytes().all(|b| b.is_ascii_digit()))
        .then_some(chat)
}

/// Who answers a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BotMode {
    /// The attendant answers.
    Active,
    /// The attendant is quiet until `pausedUntil` (the owner took over).
    Paused,
    /// The attendant is quiet in this chat until switched back on (or off store-wide).
    Off,
}

/// `pausedUntil` of a chat switched off (until switched on again).
pub const PAUSED_FOREVER_MS: i64 = 8_000_000_000_000;

impl BotMode {
    pub fn of(paused_until: i64, bot_enabled: bool, now_ms: i64) -> Self {
        if !bot_enabled || paused_until >= PAUSED_FOREVER_MS {
            BotMode::Off
        } else if paused_until > now_ms {
            BotMode::Paused
        } else {
            BotMode::Active
        }
    }
}

/// Body of `POST …/chats/{chatId}/bot`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BotModeRequest {
    pub mode: BotMode,
    pub minutes: Option<i64>,
}

impl BotModeRequest {
    /// The chat's new `pausedUntil`; `default_minutes` (the takeover time) when a pause
    /// doesn't say how long.
    pub fn paused_until(&self, default_minutes: u32, now_ms: i64) -> Result<i64, DomainError> {
        match (self.mode, self.minutes) {
            (BotMode::Paused, minutes) => {
                let minutes = match minutes {
                    Some(m) => validate::range("minutes", m, 1, 10_080, " minutes")?,
                    None => default_minutes,
                };
                Ok(now_ms + i64::from(minutes) * 60_000)
            }
            (_, Some(_)) => Err(DomainError::invalid(
                "minutes",
                "minutes applies only to mode \"paused\"",
            )),
            (BotMode::Active, None) => Ok(0),
            (BotMode::Off, None) => Ok(PAUSED_FOREVER_MS),
        }
    }
}

/// Body of `POST …/chats/{chatId}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub text: String,
}

impl SendRequest {
    pub fn validate(&self) -> Result<String, DomainError> {
        validate::text("text", &self.text, 1, OWNER_TEXT_MAX, true)
    }
}

/// A page size from the query string: absent → the default; 1..=max.
pub fn page_limit(raw: Option<&str>) -> Result<usize, DomainError> {
    match raw {
        None => Ok(PAGE_DEFAULT),
        Some(raw) => {
            let n: i64 = raw.parse().map_err(|_| {
                DomainError::invalid(
                    "limit",
                    format!("limit must be a whole number from 1 to {PAGE_MAX}"),
                )
            })?;
            Ok(validate::range("limit", n, 1, PAGE_MAX as i64, "")? as usize)
        }
    }
}

/// A page's cursor as clients see it: opaque and URL-safe (hex of the key it stands for).
pub fn encode_cursor(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

/// A cursor from the query string: what a previous page returned.
pub fn cursor(field: &'static str, raw: Option<&str>) -> Result<Option<String>, DomainError> {
    let bad = || {
        DomainError::invalid(
            field,
            format!("{field} must be a cursor returned by a previous page"),
        )
    };
    match raw {
        None | Some("") => Ok(None),
        Some(raw) if raw.len() <= 600 && raw.len() % 2 == 0 => {
            let bytes = (0..raw.len())
                .step_by(2)
                .map(|i| {
                    u8::from_str_radix(raw.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())
                })
                .collect::<Result<Vec<u8>, _>>()?;
            String::from_utf8(bytes).map(Some).map_err(|_| bad())
        }
        Some(_) => Err(bad()),
    }
}

/// A search from the query string: digits of a number or part of a name, case-insensitive.
pub fn search(raw: Option<&str>) -> Result<Option<String>, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(q) => Ok(Some(validate::text("q", q, 1, 100, false)?.to_lowercase())),
    }
}

/// Does a chat match search `q` (already lower-case)? By its name, or by its number
/// (digits only, so `+55 (11) 9…` finds `5511 9…`).
pub fn matches(q: &str, chat: &str, phone: Option<&str>, name: Option<&str>) -> bool {
    if name.is_some_and(|n| n.to_lowercase().contains(q)) || chat.to_lowercase().contains(q) {
        return true;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    !digits.is_empty() && (chat.contains(&digits) || phone.is_some_and(|p| p.contains(&digits)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_ids_name_a_line_and_a_stable_customer_id() {
        let id = ChatId::parse("w2:5511988887777").unwrap();
        assert_eq!(
            (id.line.as_str(), id.chat.as_str()),
            ("w2", "5511988887777")
        );
        assert_eq!(ChatId::parse("c1065:12345@lid").unwrap().chat, "12345@lid");
        for bad in [
            "", "w1", "w4:55", "x1:55", "w1:", "c:55", "w1:55#1", "w1:a b",
        ] {
            assert!(ChatId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(phone_of("5511988887777"), Some("5511988887777"));
        assert_eq!(phone_of("12345@lid"), None);
    }

    #[test]
    fn the_mode_follows_the_pause_and_the_store_switch() {
        assert_eq!(BotMode::of(0, true, 10), BotMode::Active);
        assert_eq!(BotMode::of(11, true, 10), BotMode::Paused);
        assert_eq!(BotMode::of(PAUSED_FOREVER_MS, true, 10), BotMode::Off);
        assert_eq!(BotMode::of(0, false, 10), BotMode::Off);
        let pause = BotModeRequest {
            mode: BotMode::Paused,
            minutes: None,
        };
        assert_eq!(pause.paused_until(5, 0).unwrap(), 300_000);
        let bad = BotModeRequest {
            mode: BotMode::Active,
            minutes: Some(3),
        };
        assert!(bad.paused_until(5, 0).is_err());
        let long = BotModeRequest {
            mode: BotMode::Paused,
            minutes: Some(0),
        };
        assert!(long.paused_until(5, 0).is_err());
    }

    #[test]
    fn search_by_name_or_digits() {
        assert!(matches("ana", "5511", None, Some("Ana Souza")));
        assert!(matches("+55 (11) 98888", "5511988887777", None, None));
        assert!(matches("98888", "1@lid", Some("5511988887777"), None));
        assert!(!matches("joão", "5511", None, Some("Ana")));
        let key = "0001#w1#55#wamid.A+/=";
        assert_eq!(
            cursor("c", Some(&encode_cursor(key))).unwrap().as_deref(),
            Some(key)
        );
        assert!(cursor("c", Some("zz")).is_err() && cursor("c", Some("abc")).is_err());
        assert_eq!(
            page_limit(Some("0")).map_err(|e| e.field().map(str::to_owned)),
            Err(Some("limit".into()))
        );
    }
}
