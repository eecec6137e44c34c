//! The store's profile (`/api/client/{storeId}/profile`): address, opening hours, delivery
//! zones and payment methods — what customers ask besides the menu ("vocês estão
//! abertos?", "entrega na Vila Mariana?", "aceita pix?"). The attendant answers from it,
//! never from the model's guesses.
//!
//! Hours: each weekday has shifts (`{"open":"18:00","close":"23:30"}`); a shift whose
//! `close` is not after its `open` runs past midnight into the next day (Friday 18:00–02:00
//! keeps the store open on Saturday at 01:00; `close` equal to `open` is a 24-hour shift).
//! An exception replaces one date's own shifts (25/12 with no shifts: closed that day); a
//! shift of the day before that runs past midnight still ends as it would. Everything is
//! evaluated in the store's IANA zone (the bot config's `timezone`) with its DST rules: a
//! shift starting in a DST gap starts at the first instant after it.
//!
//! An empty profile (the default) is a store that is always closed, delivers nowhere and
//! takes no payment method: the attendant then says it doesn't know rather than inventing.

use std::collections::HashSet;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::menu::PRICE_MAX_CENTS;
use super::text::fold;
use super::validate;

pub const ADDRESS_MAX: usize = 300;
pub const CLOSED_MESSAGE_MAX: usize = 500;
pub const MAX_SHIFTS_PER_DAY: usize = 6;
pub const MAX_EXCEPTIONS: usize = 100;
pub const MAX_ZONES: usize = 50;
/// Neighbourhoods over all zones.
pub const MAX_NEIGHBORHOODS: usize = 500;
pub const NAME_MAX: usize = 80;
/// A delivery's longest promised time: one day.
pub const ETA_MAX_MINUTES: i64 = 1440;
/// How far ahead `opensAt` / `closesAt` are looked for.
pub const LOOKAHEAD_DAYS: i32 = 8;
/// The Pix BR Code's limits (EMV fields 59 and 60) and the DICT's e-mail key limit.
pub const PIX_MERCHANT_NAME_MAX: usize = 25;
pub const PIX_MERCHANT_CITY_MAX: usize = 15;
pub const PIX_EMAIL_MAX: usize = 77;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreProfile {
    /// The name customers know the store by ("Pizzaria Bella"): the attendant introduces
    /// itself as working there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default)]
    pub hours: Hours,
    /// Said to a customer who writes while the store is closed (instead of the default
    /// "abrimos …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_message: Option<String>,
    #[serde(default)]
    pub delivery: Delivery,
    #[serde(default)]
    pub payments: Payments,
    /// Who hears about the store's incidents (a number down, the attendant failing, the
    /// AI budget): e-mail addresses and WhatsApp numbers of the owner.
    #[serde(default, skip_serializing_if = "Alerts::is_empty")]
    pub alerts: Alerts,
    /// The store's monthly AI budget in micro-dollars (millionths of a US dollar); absent:
    /// the platform's default, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_budget_micros: Option<i64>,
    /// Numbers (`+55…`) told of each new order on WhatsApp.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify_phones: Vec<String>,
    /// Where each order is POSTed, signed with the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_webhook: Option<OrderWebhook>,
    /// The store's Saipos Order API credentials: each accepted order is sent to its POS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saipos_orders: Option<SaiposOrders>,
}

/// Where the store's alerts go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Alerts {
    #[serde(default)]
    pub emails: Vec<String>,
    /// `+55` numbers, as `valid_phone` takes them.
    #[serde(default)]
    pub phones: Vec<String>,
}

/// At most this many addresses and this many numbers receive a store's alerts.
pub const MAX_ALERT_CONTACTS: usize = 5;
/// The largest monthly AI budget: a million dollars.
pub const AI_BUDGET_MAX_MICROS: i64 = 1_000_000_000_000;

impl Alerts {
    pub fn is_empty(&self) -> bool {
        self.emails.is_empty() && self.phones.is_empty()
    }

    fn validate(&self) -> Result<(), DomainError> {
        for (field, list) in [
            ("alerts.emails", &self.emails),
            ("alerts.phones", &self.phones),
        ] {
            if list.len() > MAX_ALERT_CONTACTS {
                return Err(DomainError::invalid(
                    field,
                    format!("{field}: at most {MAX_ALERT_CONTACTS}"),
                ));
            }
        }
        for (i, email) in self.emails.iter().enumerate() {
            if !valid_email(email) {
                let path = format!("alerts.emails[{i}]");
                return Err(DomainError::invalid(
                    path.clone(),
                    format!("{path} must be an e-mail address"),
                ));
            }
        }
        for (i, phone) in self.phones.iter().enumerate() {
            if !valid_phone(phone) {
                let path = format!("alerts.phones[{i}]");
                return Err(DomainError::invalid(
                    path.clone(),
                    format!("{path} must be a Brazilian mobile number like +5511999990000"),
                ));
            }
        }
        Ok(())
    }
}

/// The most numbers in `notifyPhones`.
pub const MAX_NOTIFY_PHONES: usize = 5;
/// The webhook secret's length limits (it signs with HMAC-SHA256).
pub const WEBHOOK_SECRET_MIN: usize = 16;
pub const WEBHOOK_SECRET_MAX: usize = 256;

/// The order webhook. The secret is write-only: a PUT may carry `secret` (sealed before it
/// is stored, kept as `sealedSecret`); what the API shows carries neither, only
/// `secretSet`. A PUT without `secret` keeps the stored one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderWebhook {
    pub url: String,
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<String>,
    #[serde(default)]
    pub secret_set: bool,
}

/// The Saipos Order API credentials of the store (`saipos/orders.rs`): the partner id and
/// the store's code in Saipos, and the partner's secret, write-only like the webhook's (a
/// PUT may carry `secret`, sealed before it is stored as `sealedSecret`, bound to the
/// store; the API shows only `secretSet`; a PUT without `secret` keeps the stored one).
///
/// Kept on the profile, not on the Saipos user API record: the Data API token there is a
/// read-only reporting credential of whoever connected it, while sending orders is the
/// store's own setting, read with the profile by the step that queues the order (no
/// extra read), and owned by whoever may edit the profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SaiposOrders {
    /// Saipos's `idPartner`.
    pub partner_id: String,
    /// Saipos's `cod_store`: the store in Saipos the orders go to.
    pub store_code: String,
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<String>,
    #[serde(default)]
    pub secret_set: bool,
}

/// The length limits of the Saipos Order API credentials' fields.
pub const SAIPOS_FIELD_MAX: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hours {
    #[serde(default)]
    pub weekly: Weekly,
    #[serde(default)]
    pub exceptions: Vec<HoursException>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Weekly {
    #[serde(default)]
    pub mon: Vec<Interval>,
    #[serde(default)]
    pub tue: Vec<Interval>,
    #[serde(default)]
    pub wed: Vec<Interval>,
    #[serde(default)]
    pub thu: Vec<Interval>,
    #[serde(default)]
    pub fri: Vec<Interval>,
    #[serde(default)]
    pub sat: Vec<Interval>,
    #[serde(default)]
    pub sun: Vec<Interval>,
}

/// One shift, "HH:MM" to "HH:MM" local time; `close` ≤ `open` ends on the next day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Interval {
    pub open: String,
    pub close: String,
}

/// A date (`YYYY-MM-DD`) whose shifts replace its weekday's (none: closed all day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoursException {
    pub date: String,
    #[serde(default)]
    pub intervals: Vec<Interval>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delivery {
    /// Customers may pick their order up at the store.
    #[serde(default)]
    pub pickup: bool,
    #[serde(default)]
    pub zones: Vec<Zone>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Zone {
    pub name: String,
    pub neighborhoods: Vec<String>,
    pub fee_cents: i64,
    #[serde(default)]
    pub min_order_cents: i64,
    pub eta_minutes: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Payments {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pix: Option<Pix>,
    /// Cash on delivery (with change).
    #[serde(default)]
    pub cash: bool,
    /// Card on delivery (the courier's machine).
    #[serde(default)]
    pub card: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pix {
    pub key: String,
    pub key_type: PixKeyType,
    pub merchant_name: String,
    pub merchant_city: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixKeyType {
    Cpf,
    Cnpj,
    Email,
    Phone,
    Random,
}

/// Whether the store is open at an instant, and when that changes (within
/// [`LOOKAHEAD_DAYS`]): `closes_at` when open (absent if it stays open through the whole
/// look-ahead), `opens_at` when closed (absent if it doesn't open within it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenStatus {
    pub open: bool,
    pub closes_at: Option<Timestamp>,
    pub opens_at: Option<Timestamp>,
}

impl Weekly {
    pub fn day(&self, weekday: Weekday) -> &Vec<Interval> {
        match weekday {
            Weekday::Monday => &self.mon,
            Weekday::Tuesday => &self.tue,
            Weekday::Wednesday => &self.wed,
            Weekday::Thursday => &self.thu,
            Weekday::Friday => &self.fri,
            Weekday::Saturday => &self.sat,
            Weekday::Sunday => &self.sun,
        }
    }

    fn days(&self) -> [(&'static str, &Vec<Interval>); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// "HH:MM", 00:00 to 23:59.
pub fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    Time::new(h, m, 0, 0).ok()
}

/// "YYYY-MM-DD", a real date.
pub fn parse_date(s: &str) -> Option<Date> {
    if s.len() != 10 {
        return None;
    }
    s.parse::<Date>().ok()
}

impl Interval {
    /// Opening and closing time of day (validated intervals always parse).
    fn times(&self) -> Option<(Time, Time)> {
        Some((parse_hhmm(&self.open)?, parse_hhmm(&self.close)?))
    }

    fn validate(&self, at: &str) -> Result<(), DomainError> {
        for (name, value) in [("open", &self.open), ("close", &self.close)] {
            if parse_hhmm(value).is_none() {
                let path = format!("{at}.{name}");
                let message =
                    format!("{path} must be a time HH:MM from 00:00 to 23:59 (got {value:?})");
                return Err(DomainError::invalid(path, message));
            }
        }
        Ok(())
    }
}

fn check_shifts(at: &str, shifts: &[Interval]) -> Result<(), DomainError> {
    if shifts.len() > MAX_SHIFTS_PER_DAY {
        return Err(DomainError::invalid(
            at.to_owned(),
            format!(
                "{at}: at most {MAX_SHIFTS_PER_DAY} shifts a day (got {})",
                shifts.len()
            ),
        ));
    }
    for (i, shift) in shifts.iter().enumerate() {
        shift.validate(&format!("{at}[{i}]"))?;
    }
    Ok(())
}

fn money(path: String, cents: i64) -> Result<(), DomainError> {
    validate::range(path, cents, 0, PRICE_MAX_CENTS, " centavos").map(|_| ())
}

impl StoreProfile {
    /// Trims texts, drops empty optional ones, and writes Pix keys in their canonical
    /// form (CPF/CNPJ and phone without punctuation, e-mail and random keys lowercase).
    pub fn normalize(&mut self) {
        let tidy = |s: &mut Option<String>| {
            if let Some(text) = s {
                *text = text.trim().to_owned();
            }
            if s.as_deref() == Some("") {
                *s = None;
            }
        };
        tidy(&mut self.name);
        tidy(&mut self.address);
        tidy(&mut self.closed_message);
        for phone in &mut self.notify_phones {
            *phone = phone
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
                .collect();
        }
        if let Some(hook) = &mut self.order_webhook {
            hook.url = hook.url.trim().to_owned();
            // Only the server seals; whatever a request says about it is ignored.
            hook.sealed_secret = None;
            hook.secret_set = false;
        }
        if let Some(saipos) = &mut self.saipos_orders {
            saipos.partner_id = saipos.partner_id.trim().to_owned();
            saipos.store_code = saipos.store_code.trim().to_owned();
            saipos.sealed_secret = None;
            saipos.secret_set = false;
        }
        for zone in &mut self.delivery.zones {
            zone.name = zone.name.trim().to_owned();
            for n in &mut zone.neighborhoods {
                *n = n.trim().to_owned();
            }
        }
        if let Some(pix) = &mut self.payments.pix {
            pix.merchant_name = pix.merchant_name.trim().to_owned();
            pix.merchant_city = pix.merchant_city.trim().to_owned();
            let key = pix.key.trim();
            pix.key = match pix.key_type {
                PixKeyType::Cpf | PixKeyType::Cnpj => key
                    .chars()
                    .filter(|c| !matches!(c, '.' | '-' | '/' | ' '))
                    .collect(),
                PixKeyType::Phone => key
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
                    .collect(),
                PixKeyType::Email | PixKeyType::Random => key.to_lowercase(),
            };
        }
    }

    /// Every rule of the contract; the error names the path of the first bad field.
    pub fn validate(&self) -> Result<(), DomainError> {
        if let Some(name) = &self.name {
            validate::text("name", name, 1, NAME_MAX, false)?;
        }
        if let Some(address) = &self.address {
            validate::text("address", address, 0, ADDRESS_MAX, true)?;
        }
        if let Some(message) = &self.closed_message {
            validate::text("closedMessage", message, 0, CLOSED_MESSAGE_MAX, true)?;
        }
        for (day, shifts) in self.hours.weekly.days() {
            check_shifts(&format!("hours.weekly.{day}"), shifts)?;
        }
        if self.hours.exceptions.len() > MAX_EXCEPTIONS {
            return Err(DomainError::invalid(
                "hours.exceptions",
                format!("hours.exceptions: at most {MAX_EXCEPTIONS} dates"),
            ));
        }
        let mut dates = HashSet::new();
        for (i, exception) in self.hours.exceptions.iter().enumerate() {
            let at = format!("hours.exceptions[{i}]");
            if parse_date(&exception.date).is_none() {
                let path = format!("{at}.date");
                let message = format!(
                    "{path} must be a date YYYY-MM-DD (got {:?})",
                    exception.date
                );
                return Err(DomainError::invalid(path, message));
            }
            if !dates.insert(exception.date.as_str()) {
                let path = format!("{at}.date");
                let message = format!("{path}: {} has two exceptions", exception.date);
                return Err(DomainError::invalid(path, message));
            }
            check_shifts(&format!("{at}.intervals"), &exception.intervals)?;
        }
        self.delivery.validate()?;
        if let Some(pix) = &self.payments.pix {
            pix.validate()?;
        }
        if self.notify_phones.len() > MAX_NOTIFY_PHONES {
            return Err(DomainError::invalid(
                "notifyPhones",
                format!("notifyPhones: at most {MAX_NOTIFY_PHONES} numbers"),
            ));
        }
        for (i, phone) in self.notify_phones.iter().enumerate() {
            if !valid_phone(phone) {
                let path = format!("notifyPhones[{i}]");
                let message =
                    format!("{path} must be a mobile number as +55, area code and 9 digits");
                return Err(DomainError::invalid(path, message));
            }
        }
        if let Some(secret) = self.order_webhook.as_ref().and_then(|h| h.secret.as_ref()) {
            let n = secret.chars().count();
            if !(WEBHOOK_SECRET_MIN..=WEBHOOK_SECRET_MAX).contains(&n) {
                return Err(DomainError::invalid(
                    "orderWebhook.secret",
                    format!(
                        "orderWebhook.secret: {WEBHOOK_SECRET_MIN} to {WEBHOOK_SECRET_MAX} characters"
                    ),
                ));
            }
        }
        if let Some(saipos) = &self.saipos_orders {
            let fields = [
                ("saiposOrders.partnerId", Some(saipos.partner_id.as_str())),
                ("saiposOrders.storeCode", Some(saipos.store_code.as_str())),
                ("saiposOrders.secret", saipos.secret.as_deref()),
            ];
            for (path, value) in fields {
                let Some(value) = value else { continue };
                validate::text(path, value, 1, SAIPOS_FIELD_MAX, false)?;
                if value.contains(char::is_whitespace) {
                    return Err(DomainError::invalid(
                        path,
                        format!("{path} must not contain spaces"),
                    ));
                }
            }
        }
        self.alerts.validate()?;
        if let Some(budget) = self.ai_budget_micros {
            if !(0..=AI_BUDGET_MAX_MICROS).contains(&budget) {
                return Err(DomainError::invalid(
                    "aiBudgetMicros",
                    format!("aiBudgetMicros must be 0 to {AI_BUDGET_MAX_MICROS}"),
                ));
            }
        }
        Ok(())
    }

    /// The profile as the API shows it: the webhook's secret reduced to `secretSet`.
    pub fn public(mut self) -> Self {
        if let Some(hook) = &mut self.order_webhook {
            hook.secret_set = hook.sealed_secret.is_some();
            hook.sealed_secret = None;
            hook.secret = None;
        }
        if let Some(saipos) = &mut self.saipos_orders {
            saipos.secret_set = saipos.sealed_secret.is_some();
            saipos.sealed_secret = None;
            saipos.secret = None;
        }
        self
    }

    /// That date's own shifts: its exception's if it has one, else its weekday's.
    pub fn intervals_on(&self, date: Date) -> Vec<Interval> {
        let key = date.to_string();
        match self.hours.exceptions.iter().find(|e| e.date == key) {
            Some(exception) => exception.intervals.clone(),
            None => self.hours.weekly.day(date.weekday()).clone(),
        }
    }

    /// Open or closed at `now` in the store's zone, and when that changes.
    pub fn status_at(&self, tz: &TimeZone, now: Timestamp) -> OpenStatus {
        let today = now.to_zoned(tz.clone()).date();
        let horizon = today
            .checked_add((LOOKAHEAD_DAYS + 1).days())
            .ok()
            .and_then(|d| d.to_zoned(tz.clone()).ok())
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX);
        let windows = self.windows(tz, today);
        match windows
            .iter()
            .find(|(start, end)| *start <= now && now < *end)
        {
            Some((_, end)) => OpenStatus {
                open: true,
                closes_at: (*end < horizon).then_some(*end),
                opens_at: None,
            },
            None => OpenStatus {
                open: false,
                closes_at: None,
                opens_at: windows
                    .iter()
                    .map(|(start, _)| *start)
                    .find(|start| *start > now),
            },
        }
    }

    /// The open periods from the day before `today` through the look-ahead, as instants,
    /// sorted and with touching or overlapping periods merged.
    fn windows(&self, tz: &TimeZone, today: Date) -> Vec<(Timestamp, Timestamp)> {
        let mut windows = Vec::new();
        for offset in -1..=LOOKAHEAD_DAYS {
            let Ok(date) = today.checked_add(offset.days()) else {
                continue;
            };
            for shift in self.intervals_on(date) {
                let Some((open, close)) = shift.times() else {
                    continue;
                };
                let close_date = if close <= open {
                    match date.tomorrow() {
                        Ok(d) => d,
                        Err(_) => continue,
                    }
                } else {
                    date
                };
                let start = date.to_datetime(open).to_zoned(tz.clone());
                let end = close_date.to_datetime(close).to_zoned(tz.clone());
                if let (Ok(start), Ok(end)) = (start, end) {
                    if start.timestamp() < end.timestamp() {
                        windows.push((start.timestamp(), end.timestamp()));
                    }
                }
            }
        }
        windows.sort();
        let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(windows.len());
        for (start, end) in windows {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }
}

impl Delivery {
    /// The zone serving this neighbourhood, ignoring case, accents and extra spaces.
    pub fn zone_for(&self, neighborhood: &str) -> Option<&Zone> {
        let wanted = fold(neighborhood);
        if wanted.is_empty() {
            return None;
        }
        self.zones
            .iter()
            .find(|zone| zone.neighborhoods.iter().any(|n| fold(n) == wanted))
    }

    fn validate(&self) -> Result<(), DomainError> {
        if self.zones.len() > MAX_ZONES {
            return Err(DomainError::invalid(
                "delivery.zones",
                format!(
                    "delivery.zones: at most {MAX_ZONES} zones (got {})",
                    self.zones.len()
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (z, zone) in self.zones.iter().enumerate() {
            let at = format!("delivery.zones[{z}]");
            validate::text(format!("{at}.name"), &zone.name, 1, NAME_MAX, false)?;
            if zone.neighborhoods.is_empty() {
                let path = format!("{at}.neighborhoods");
                let message = format!("{path} must list at least one neighbourhood");
                return Err(DomainError::invalid(path, message));
            }
            for (n, neighborhood) in zone.neighborhoods.iter().enumerate() {
                let path = format!("{at}.neighborhoods[{n}]");
                if seen.len() == MAX_NEIGHBORHOODS {
                    let message =
                        format!("{path}: at most {MAX_NEIGHBORHOODS} neighbourhoods in all zones");
                    return Err(DomainError::invalid(path, message));
                }
                validate::text(path.clone(), neighborhood, 1, NAME_MAX, false)?;
                if !seen.insert(fold(neighborhood)) {
                    let message = format!(
                        "{path}: {neighborhood:?} is listed twice (a neighbourhood belongs to one zone)"
                    );
                    return Err(DomainError::invalid(path, message));
                }
            }
            money(format!("{at}.feeCents"), zone.fee_cents)?;
            money(format!("{at}.minOrderCents"), zone.min_order_cents)?;
            validate::range(
                format!("{at}.etaMinutes"),
                zone.eta_minutes.into(),
                1,
                ETA_MAX_MINUTES,
                " minutes",
            )?;
        }
        Ok(())
    }
}

impl Pix {
    fn validate(&self) -> Result<(), DomainError> {
        validate::text(
            "payments.pix.merchantName",
            &self.merchant_name,
            1,
            PIX_MERCHANT_NAME_MAX,
            false,
        )?;
        validate::text(
            "payments.pix.merchantCity",
            &self.merchant_city,
            1,
            PIX_MERCHANT_CITY_MAX,
            false,
        )?;
        let key = self.key.as_str();
        let (ok, expected) = match self.key_type {
            PixKeyType::Cpf => (valid_cpf(key), "a CPF with valid check digits (11 digits)"),
            PixKeyType::Cnpj => (
                valid_cnpj(key),
                "a CNPJ with valid check digits (14 digits)",
            ),
            PixKeyType::Email => (valid_email(key), "an e-mail address"),
            PixKeyType::Phone => (
                valid_phone(key),
                "a mobile number as +55, area code and 9 digits (+5511987654321)",
            ),
            PixKeyType::Random => (valid_uuid(key), "a random key (a UUID)"),
        };
        if ok {
            Ok(())
        } else {
            Err(DomainError::invalid(
                "payments.pix.key",
                format!("payments.pix.key must be {expected}"),
            ))
        }
    }
}

fn digits(s: &str) -> Option<Vec<u32>> {
    s.chars().map(|c| c.to_digit(10)).collect()
}

/// The mod-11 check digit over `digits` with these weights.
fn check_digit(digits: &[u32], weights: impl Iterator<Item = u32>) -> u32 {
    let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
    match sum % 11 {
        0 | 1 => 0,
        r => 11 - r,
    }
}

/// 11 digits, not all equal, with both check digits right.
pub fn valid_cpf(s: &str) -> bool {
    let Some(d) = digits(s).filter(|d| d.len() == 11) else {
        return false;
    };
    if d.iter().all(|x| *x == d[0]) {
        return false;
    }
    check_digit(&d[..9], (2..=10).rev()) == d[9] && check_digit(&d[..10], (2..=11).rev()) == d[10]
}

/// 14 digits, not all equal, with both check digits right.
pub fn valid_cnpj(s: &str) -> bool {
    let Some(d) = digits(s).filter(|d| d.len() == 14) else {
        return false;
    };
    if d.iter().all(|x| *x == d[0]) {
        return false;
    }
    const W1: [u32; 12] = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    const W2: [u32; 13] = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    check_digit(&d[..12], W1.into_iter()) == d[12] && check_digit(&d[..13], W2.into_iter()) == d[13]
}

/// One `@` between a non-empty local part and a dotted domain, no spaces, ≤ 77 characters.
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= PIX_EMAIL_MAX
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `+55`, a two-digit area code (11–99) and a 9-digit mobile number starting with 9.
pub fn valid_phone(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("+55") else {
        return false;
    };
    rest.len() == 11
        && rest.bytes().all(|b| b.is_ascii_digit())
        && rest.as_bytes()[0] != b'0'
        && rest.as_bytes()[1] != b'0'
        && rest.as_bytes()[2] == b'9'
}

/// A UUID: 8-4-4-4-12 hexadecimal digits.
pub fn valid_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn profile(value: serde_json::Value) -> StoreProfile {
        serde_json::from_value(value).unwrap()
    }

    fn shift(open: &str, close: &str) -> Interval {
        Interval {
            open: open.into(),
            close: close.into(),
        }
    }

    /// A pizzeria: Tue–Thu 18:00–23:30, Fri and Sat 18:00–02:00, Sun lunch and dinner,
    /// closed on Christmas; open on Monday 2026-12-28 (normally closed) for lunch.
    fn pizzeria() -> StoreProfile {
        profile(json!({
            "address": "Rua Domingos de Morais, 100 - Vila Mariana, São Paulo",
            "hours": {"weekly": {
                "mon": [],
                "tue": [{"open": "18:00", "close": "23:30"}],
                "wed": [{"open": "18:00", "close": "23:30"}],
                "thu": [{"open": "18:00", "close": "23:30"}],
                "fri": [{"open": "18:00", "close": "02:00"}],
                "sat": [{"open": "18:00", "close": "02:00"}],
                "sun": [{"open": "11:00", "close": "15:00"}, {"open": "18:00", "close": "23:00"}]},
              "exceptions": [
                {"date": "2026-12-25", "intervals": []},
                {"date": "2026-12-28", "intervals": [{"open": "11:00", "close": "14:00"}]}]},
            "delivery": {"pickup": true, "zones": [
                {"name": "Perto", "neighborhoods": ["Vila Mariana", "Paraíso"], "feeCents": 500,
                 "minOrderCents": 3000, "etaMinutes": 40},
                {"name": "Longe", "neighborhoods": ["Santo Amaro"], "feeCents": 1200,
                 "minOrderCents": 5000, "etaMinutes": 70}]},
            "payments": {"pix": {"key": "123.456.789-09", "keyType": "cpf",
                                  "merchantName": "Pizzaria Bella", "merchantCity": "Sao Paulo"},
                         "cash": true, "card": true}
        }))
    }

    fn at(tz: &TimeZone, local: &str) -> Timestamp {
        local
            .parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(tz.clone())
            .unwrap()
            .timestamp()
    }

    fn local(tz: &TimeZone, ts: Option<Timestamp>) -> String {
        ts.map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M %:z")
                .to_string()
        })
        .unwrap_or_default()
    }

    fn field_of(p: &StoreProfile) -> String {
        p.validate().unwrap_err().field().unwrap().to_owned()
    }

    #[test]
    fn the_empty_profile_is_valid_and_always_closed() {
        let p = StoreProfile::default();
        p.validate().unwrap();
        let tz = TimeZone::get("America/Sao_Paulo").unwrap();
        let status = p.status_at(&tz, at(&tz, "2026-12-04T20:00"));
        assert_eq!(
            status,
            OpenStatus {
                open: false,
                closes_at: None,
                opens_at: None
            }
        );
        assert!(p.delivery.zone_for("Centro").is_none());
        // Everything has a default: `{}` is the empty profile.
        assert_eq!(profile(json!({})), p);
    }

    #[test]
    fn shifts_past_midnight_belong_to_the_day_they_start() {
        let mut p = pizzeria();
        p.normalize();
        p.validate().unwrap();
        let tz = TimeZone::get("America/Sao_Paulo").unwrap(); // no DST since 2019
                                                              // Friday 2026-12-04, 20:00: open until Saturday 02:00.
        let s = p.status_at(&tz, at(&tz, "2026-12-04T20:00"));
        assert!(s.open);
        assert_eq!(local(&tz, s.closes_at), "2026-12-05 02:00 -03:00");
        // Saturday 01:00: still Friday's shift.
        let s = p.status_at(&tz, at(&tz, "2026-12-05T01:00"));
        assert!(s.open);
        assert_eq!(local(&tz, s.closes_at), "2026-12-05 02:00 -03:00");
        // Saturday 02:00 sharp: closed, opens at 18:00.
        let s = p.status_at(&tz, at(&tz, "2026-12-05T02:00"));
        assert!(!s.open);
        assert_eq!(local(&tz, s.opens_at), "2026-12-05 18:00 -03:00");
        // Sunday 01:30: Saturday's shift; Sunday 15:30: between lunch and dinner.
        assert!(p.status_at(&tz, at(&tz, "2026-12-06T01:30")).open);
        let s = p.status_at(&tz, at(&tz, "2026-12-06T15:30"));
        assert!(!s.open);
        assert_eq!(local(&tz, s.opens_at), "2026-12-06 18:00 -03:00");
        // Monday: closed all day, opens Tuesday 18:00.
        let s = p.status_at(&tz, at(&tz, "2026-12-07T12:00"));
        assert!(!s.open);
        assert_eq!(local(&tz, s.opens_at), "2026-12-08 18:00 -03:00");
        // Thursday 23:29 open, 23:30 closed.
        assert!(p.status_at(&tz, at(&tz, "2026-12-10T23:29")).open);
        assert!(!p.status_at(&tz, at(&tz, "2026-12-10T23:30")).open);
    }

    #[test]
    fn exceptions_replace_their_date_only() {
        let p = pizzeria();
        let tz = TimeZone::get("America/Sao_Paulo").unwrap();
        // Christmas is a Friday: closed; Thursday 24th's shift ends 23:30 as usual.
        let date: Date = "2026-12-25".parse().unwrap();
        assert!(p.intervals_on(date).is_empty());
        assert_eq!(
            p.intervals_on("2026-12-18".parse().unwrap()),
            vec![shift("18:00", "02:00")]
        );
        let s = p.status_at(&tz, at(&tz, "2026-12-25T20:00"));
        assert!(!s.open);
        assert_eq!(local(&tz, s.opens_at), "2026-12-26 18:00 -03:00");
        // Monday the 28th opens for lunch by exception.
        let s = p.status_at(&tz, at(&tz, "2026-12-28T09:00"));
        assert_eq!(local(&tz, s.opens_at), "2026-12-28 11:00 -03:00");
        assert!(p.status_at(&tz, at(&tz, "2026-12-28T12:00")).open);
        // A shift of the day before an exception still runs past midnight into it.
        let mut p2 = pizzeria();
        p2.hours.exceptions = vec![HoursException {
            date: "2026-12-05".into(),
            intervals: vec![],
        }];
        let s = p2.status_at(&tz, at(&tz, "2026-12-05T01:00"));
        assert!(s.open);
        assert_eq!(local(&tz, s.closes_at), "2026-12-05 02:00 -03:00");
        assert!(!p2.status_at(&tz, at(&tz, "2026-12-05T20:00")).open);
    }

    #[test]
    fn zones_without_dst_use_their_own_offset() {
        let p = pizzeria();
        for (zone, offset) in [
            ("America/Manaus", "-04:00"),
            ("America/Noronha", "-02:00"),
            ("UTC", "+00:00"),
        ] {
            let tz = TimeZone::get(zone).unwrap();
            let s = p.status_at(&tz, at(&tz, "2026-12-04T17:00"));
            assert!(!s.open, "{zone}");
            assert_eq!(
                local(&tz, s.opens_at),
                format!("2026-12-04 18:00 {offset}"),
                "{zone}"
            );
        }
        // The same instant is open in one zone and closed in another.
        let tz_sp = TimeZone::get("America/Sao_Paulo").unwrap();
        let tz_ma = TimeZone::get("America/Manaus").unwrap();
        let instant = at(&tz_sp, "2026-12-04T18:30"); // 17:30 in Manaus
        assert!(p.status_at(&tz_sp, instant).open);
        assert!(!p.status_at(&tz_ma, instant).open);
    }

    #[test]
    fn dst_transitions_keep_local_hours() {
        let p = pizzeria();
        // New York, 2026-11-01: clocks go back at 02:00 EDT. Saturday 18:00–02:00 closes at
        // 02:00 EST, which is 6 h after 21:00 EDT (01:00–02:00 happens twice).
        let ny = TimeZone::get("America/New_York").unwrap();
        let s = p.status_at(&ny, at(&ny, "2026-10-31T21:00"));
        assert!(s.open);
        assert_eq!(local(&ny, s.closes_at), "2026-11-01 02:00 -05:00");
        assert_eq!(
            s.closes_at.unwrap().as_second() - at(&ny, "2026-10-31T21:00").as_second(),
            6 * 3600
        );
        // And 2026-03-08 (spring forward at 02:00): Saturday's shift ends 02:00 local,
        // which doesn't exist: the first instant after the gap (03:00 EDT).
        let s = p.status_at(&ny, at(&ny, "2026-03-07T23:00"));
        assert!(s.open);
        assert_eq!(local(&ny, s.closes_at), "2026-03-08 03:00 -04:00");
        // Brazil's last DST start, 2018-11-04: 00:00 jumped to 01:00 in São Paulo. Saturday
        // 18:00–02:00 then lasted 7 hours, closing at 02:00 -02:00.
        let sp = TimeZone::get("America/Sao_Paulo").unwrap();
        let open = at(&sp, "2018-11-03T18:00");
        let s = p.status_at(&sp, open);
        assert!(s.open);
        assert_eq!(local(&sp, s.closes_at), "2018-11-04 02:00 -02:00");
        assert_eq!(
            s.closes_at.unwrap().as_second() - open.as_second(),
            7 * 3600
        );
        // Sunday lunch that week opens at 11:00 -02:00.
        let s = p.status_at(&sp, at(&sp, "2018-11-04T09:00"));
        assert_eq!(local(&sp, s.opens_at), "2018-11-04 11:00 -02:00");
    }

    #[test]
    fn always_open_has_no_closing_within_the_lookahead() {
        let mut p = StoreProfile::default();
        let all_day = vec![shift("00:00", "00:00")];
        p.hours.weekly = Weekly {
            mon: all_day.clone(),
            tue: all_day.clone(),
            wed: all_day.clone(),
            thu: all_day.clone(),
            fri: all_day.clone(),
            sat: all_day.clone(),
            sun: all_day,
        };
        let tz = TimeZone::get("America/Sao_Paulo").unwrap();
        let s = p.status_at(&tz, at(&tz, "2026-12-04T03:00"));
        assert_eq!((s.open, s.closes_at, s.opens_at), (true, None, None));
        // With a closed date 3 days ahead it closes at that date's midnight.
        p.hours.exceptions.push(HoursException {
            date: "2026-12-07".into(),
            intervals: vec![],
        });
        let s = p.status_at(&tz, at(&tz, "2026-12-04T03:00"));
        assert_eq!(local(&tz, s.closes_at), "2026-12-07 00:00 -03:00");
    }

    #[test]
    fn neighbourhoods_match_ignoring_case_and_accents() {
        let p = pizzeria();
        assert_eq!(p.delivery.zone_for("vila mariana").unwrap().name, "Perto");
        assert_eq!(
            p.delivery.zone_for("  VILA   MARIANA ").unwrap().fee_cents,
            500
        );
        assert_eq!(p.delivery.zone_for("paraiso").unwrap().name, "Perto");
        assert_eq!(p.delivery.zone_for("Santo Amaro").unwrap().eta_minutes, 70);
        assert!(p.delivery.zone_for("Vila").is_none());
        assert!(p.delivery.zone_for("").is_none());
        assert!(p.delivery.zone_for("Moema").is_none());
    }

    #[test]
    fn every_field_is_checked_with_its_path() {
        type Case = (Box<dyn Fn(&mut StoreProfile)>, &'static str);
        let cases: Vec<Case> = vec![
            (Box::new(|p| p.address = Some("a".repeat(301))), "address"),
            (Box::new(|p| p.name = Some("n".repeat(81))), "name"),
            (
                Box::new(|p| p.closed_message = Some("m".repeat(501))),
                "closedMessage",
            ),
            (
                Box::new(|p| p.hours.weekly.tue[0].open = "24:00".into()),
                "hours.weekly.tue[0].open",
            ),
            (
                Box::new(|p| p.hours.weekly.sun[1].close = "9:00".into()),
                "hours.weekly.sun[1].close",
            ),
            (
                Box::new(|p| p.hours.weekly.mon = vec![shift("10:00", "11:00"); 7]),
                "hours.weekly.mon",
            ),
            (
                Box::new(|p| p.hours.exceptions[0].date = "2026-02-30".into()),
                "hours.exceptions[0].date",
            ),
            (
                Box::new(|p| p.hours.exceptions[1].date = "2026-12-25".into()),
                "hours.exceptions[1].date",
            ),
            (
                Box::new(|p| p.hours.exceptions[1].intervals[0].open = "11h".into()),
                "hours.exceptions[1].intervals[0].open",
            ),
            (
                Box::new(|p| p.delivery.zones[0].name = String::new()),
                "delivery.zones[0].name",
            ),
            (
                Box::new(|p| p.delivery.zones[1].neighborhoods.clear()),
                "delivery.zones[1].neighborhoods",
            ),
            (
                Box::new(|p| p.delivery.zones[1].neighborhoods.push(" ".into())),
                "delivery.zones[1].neighborhoods[1]",
            ),
            (
                Box::new(|p| p.delivery.zones[1].neighborhoods.push("paraiso".into())),
                "delivery.zones[1].neighborhoods[1]",
            ),
            (
                Box::new(|p| p.delivery.zones[1].fee_cents = -1),
                "delivery.zones[1].feeCents",
            ),
            (
                Box::new(|p| p.delivery.zones[1].min_order_cents = 10_000_001),
                "delivery.zones[1].minOrderCents",
            ),
            (
                Box::new(|p| p.delivery.zones[1].eta_minutes = 0),
                "delivery.zones[1].etaMinutes",
            ),
            (
                Box::new(|p| p.delivery.zones[1].eta_minutes = 1441),
                "delivery.zones[1].etaMinutes",
            ),
            (
                Box::new(|p| p.payments.pix.as_mut().unwrap().key = "12345678900".into()),
                "payments.pix.key",
            ),
            (
                Box::new(|p| p.payments.pix.as_mut().unwrap().merchant_name = "n".repeat(26)),
                "payments.pix.merchantName",
            ),
            (
                Box::new(|p| p.payments.pix.as_mut().unwrap().merchant_city = "c".repeat(16)),
                "payments.pix.merchantCity",
            ),
            (
                Box::new(|p| p.payments.pix.as_mut().unwrap().merchant_city = String::new()),
                "payments.pix.merchantCity",
            ),
        ];
        for (i, (change, path)) in cases.into_iter().enumerate() {
            let mut p = pizzeria();
            p.normalize();
            change(&mut p);
            assert_eq!(field_of(&p), path, "case {i}");
        }
        let mut p = pizzeria();
        p.delivery.zones = (0..51)
            .map(|z| Zone {
                name: format!("Z{z}"),
                neighborhoods: vec![format!("N{z}")],
                fee_cents: 0,
                min_order_cents: 0,
                eta_minutes: 30,
            })
            .collect();
        assert_eq!(field_of(&p), "delivery.zones");
        p.delivery.zones.truncate(50);
        p.normalize();
        p.validate().unwrap();
        p.delivery.zones[0].neighborhoods = (0..501).map(|n| format!("Bairro {n}")).collect();
        assert_eq!(field_of(&p), "delivery.zones[0].neighborhoods[500]");
        let mut p = pizzeria();
        p.hours.exceptions = (0..101)
            .map(|d| HoursException {
                date: format!("2027-{:02}-{:02}", d / 28 + 1, d % 28 + 1),
                intervals: vec![],
            })
            .collect();
        assert_eq!(field_of(&p), "hours.exceptions");
        // Unknown fields are refused, at any depth.
        assert!(serde_json::from_value::<StoreProfile>(json!({"phone": "1"})).is_err());
        assert!(serde_json::from_value::<StoreProfile>(
            json!({"payments": {"pix": {"key": "a@b.co", "keyType": "email", "merchantName": "A",
                                         "merchantCity": "B", "extra": 1}}})
        )
        .is_err());
        assert!(serde_json::from_value::<StoreProfile>(
            json!({"payments": {"pix": {"key": "a@b.co", "keyType": "evp", "merchantName": "A",
                                         "merchantCity": "B"}}})
        )
        .is_err());
    }

    #[test]
    fn pix_keys_are_checked_by_type() {
        assert!(valid_cpf("12345678909"));
        assert!(!valid_cpf("12345678900"));
        assert!(!valid_cpf("11111111111"));
        assert!(!valid_cpf("1234567890"));
        assert!(valid_cnpj("11222333000181"));
        assert!(!valid_cnpj("11222333000180"));
        assert!(!valid_cnpj("00000000000000"));
        assert!(valid_email("pizzaria@exemplo.com.br"));
        assert!(!valid_email("pizzaria@exemplo"));
        assert!(!valid_email("pizza ria@exemplo.com"));
        assert!(!valid_email(&format!("{}@exemplo.com", "a".repeat(70))));
        assert!(valid_phone("+5511987654321"));
        assert!(!valid_phone("11987654321"));
        assert!(!valid_phone("+551187654321"));
        assert!(!valid_phone("+5511887654321"));
        assert!(valid_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!valid_uuid("123e4567e89b12d3a456426614174000"));
        // Normalization gives the canonical form before validation.
        for (key_type, given, stored) in [
            (PixKeyType::Cpf, " 123.456.789-09 ", "12345678909"),
            (PixKeyType::Cnpj, "11.222.333/0001-81", "11222333000181"),
            (PixKeyType::Phone, "+55 (11) 98765-4321", "+5511987654321"),
            (
                PixKeyType::Email,
                "Pizzaria@Exemplo.com",
                "pizzaria@exemplo.com",
            ),
            (
                PixKeyType::Random,
                "123E4567-E89B-12D3-A456-426614174000",
                "123e4567-e89b-12d3-a456-426614174000",
            ),
        ] {
            let mut p = StoreProfile::default();
            p.payments.pix = Some(Pix {
                key: given.into(),
                key_type,
                merchant_name: "Bella".into(),
                merchant_city: "Sao Paulo".into(),
            });
            p.normalize();
            p.validate().unwrap();
            assert_eq!(p.payments.pix.unwrap().key, stored);
        }
    }
}
