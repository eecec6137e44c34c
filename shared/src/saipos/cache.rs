//! Report assembly with a cache of settled days. A day is settled once it is older than
//! yesterday (Saipos data may lag a day): its totals are stored under the Saipos account's
//! user API and never fetched again. Cached days are tagged with a fingerprint of the
//! account (base URL + token + time zone), so replacing the token or changing the zone
//! (which moves sales between days) starts a fresh cache: entries of two zones never mix.
//!
//! Layout: pk `REPORT#<apiId>`, sk `DAY#<YYYY-MM-DD>`, attributes `account`, `totals`,
//! `expiresAt` (epoch seconds, the DynamoDB TTL attribute: kept ~13 months).

use std::collections::HashMap;

use serde_json::json;
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};

use super::client::{SaiposClient, SaiposError};
use super::report::{aggregate, build, DayTotals, Report};
use crate::store::keys::{self, day_sk, report_pk, DAY_PREFIX};
use crate::store::{attr_str, Cond, Store, StoreError, WriteOp, MAX_BATCH};

const KEEP_SECS: i64 = 400 * 24 * 3600;

/// Today's date in `zone` (an IANA name, validated when the account was saved; an unknown
/// one falls back to the default zone).
pub fn today(zone: &str) -> Date {
    let today = jiff::Timestamp::now().to_zoned(time_zone(zone)).date();
    Date::from_calendar_date(
        today.year().into(),
        time::Month::try_from(today.month() as u8).expect("a month is 1–12"),
        today.day() as u8,
    )
    .expect("jiff's dates are valid dates")
}

/// The account's zone from jiff's bundled tz database.
pub fn time_zone(zone: &str) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(zone).unwrap_or_else(|_| {
        jiff::tz::TimeZone::get(crate::domain::validate::DEFAULT_TIMEZONE)
            .unwrap_or(jiff::tz::TimeZone::UTC)
    })
}

/// A short hash of `parts`, one per line (identifies without revealing: never the token).
pub fn fingerprint(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Identifies the Saipos account and zone a cache entry was computed from.
pub fn account_fingerprint(base_url: &str, token: &str, zone: &str) -> String {
    fingerprint(&[base_url, token, zone])
}

/// Where a report's days came from.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub cached_days: usize,
    pub fetched_days: usize,
    pub saipos_requests: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Saipos(#[from] SaiposError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Consecutive runs of days, as inclusive ranges.
fn runs(days: &[Date]) -> Vec<(Date, Date)> {
    let mut out: Vec<(Date, Date)> = Vec::new();
    for &day in days {
        match out.last_mut() {
            Some((_, end)) if end.next_day() == Some(day) => *end = day,
            _ => out.push((day, day)),
        }
    }
    out
}

/// Whose report it is: the Saipos user API, its [`account_fingerprint`] and its zone.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    pub api_id: &'a str,
    pub fingerprint: &'a str,
    pub zone: &'a str,
}

pub async fn sales_report(
    store: &dyn Store,
    client: &SaiposClient,
    account: Account<'_>,
    from: Date,
    to: Date,
    today: Date,
) -> Result<(Report, Source), ReportError> {
    let tz = time_zone(account.zone);
    let pk = report_pk(account.api_id);
    let account = account.fingerprint;
    let mut cached = cached_days(store, &pk, account).await?;
    let all_days = days_between(from, to);
    let missing: Vec<Date> = all_days
        .iter()
        .copied()
        .filter(|d| !cached.contains_key(&d.to_string()))
        .collect();
    let mut fetched: HashMap<String, DayTotals> = HashMap::new();
    for (start, end) in runs(&missing) {
        let sales = client.search_sales(start, end).await?;
        let items = client.sales_items(start, end).await?;
        fetched.extend(aggregate(&sales, &items, &tz));
    }
    cache_settled_days(store, &pk, account, &missing, &fetched, today).await;
    let source = Source {
        cached_days: all_days.len() - missing.len(),
        fetched_days: missing.len(),
        saipos_requests: client.requests(),
    };
    let days = all_days
        .into_iter()
        .map(|d| {
            let key = d.to_string();
            let totals = cached
                .remove(&key)
                .or_else(|| fetched.remove(&key))
                .unwrap_or_default();
            (key, totals)
        })
        .collect();
    Ok((build(&from.to_string(), &to.to_string(), days), source))
}

/// The days cached under `pk` for this account (entries of another account are ignored).
async fn cached_days(
    store: &dyn Store,
    pk: &str,
    account: &str,
) -> Result<HashMap<String, DayTotals>, StoreError> {
    let mut cached = HashMap::new();
    for item in store.query(pk, DAY_PREFIX).await? {
        if attr_str(&item, "account") != Some(account) {
            continue;
        }
        let (Some(day), Some(totals)) = (attr_str(&item, "day"), item.get("totals")) else {
            continue;
        };
        if let Ok(totals) = serde_json::from_value::<DayTotals>(totals.clone()) {
            cached.insert(day.to_owned(), totals);
        }
    }
    Ok(cached)
}

/// Every day from `from` to `to`, both included.
fn days_between(from: Date, to: Date) -> Vec<Date> {
    let mut all_days = Vec::new();
    let mut day = from;
    while day <= to {
        all_days.push(day);
        day = match day.next_day() {
            Some(next) => next,
            None => break,
        };
    }
    all_days
}

/// Caches the fetched days that are settled, including days without sales (so they aren't
/// asked again). A failed cache write only costs a refetch later; the report is still right.
async fn cache_settled_days(
    store: &dyn Store,
    pk: &str,
    account: &str,
    fetched_days: &[Date],
    fetched: &HashMap<String, DayTotals>,
    today: Date,
) {
    let settled_before = today.previous_day().unwrap_or(today);
    let expires = OffsetDateTime::now_utc().unix_timestamp() + KEEP_SECS;
    let writes: Vec<WriteOp> = fetched_days
        .iter()
        .filter(|d| **d < settled_before)
        .map(|d| {
            let day = d.to_string();
            let totals = fetched.get(&day).cloned().unwrap_or_default();
            let item = keys::item(pk, day_sk(&day))
                .attrs(json!({ "day": day, "account": account, "totals": totals, "expiresAt": expires }))
                .build();
            WriteOp::Put {
                item,
                cond: Cond::None,
            }
        })
        .collect();
    for chunk in writes.chunks(MAX_BATCH / 4) {
        if let Err(err) = store.write(chunk.to_vec()).await {
            tracing::warn!(error = %err, "could not cache Saipos report days");
            break;
        }
    }
}

/// Removes a user API's cached report days (after the API itself is deleted).
pub async fn forget(store: &dyn Store, api_id: &str) -> Result<(), StoreError> {
    let pk = report_pk(api_id);
    let keys: Vec<WriteOp> = store
        .query(&pk, DAY_PREFIX)
        .await?
        .iter()
        .filter_map(|item| {
            attr_str(item, "sk").map(|sk| WriteOp::Delete {
                pk: pk.clone(),
                sk: sk.to_owned(),
                cond: Cond::None,
            })
        })
        .collect();
    for chunk in keys.chunks(MAX_BATCH / 4) {
        store.write(chunk.to_vec()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn missing_days_group_into_runs() {
        let days = [
            date!(2026 - 01 - 01),
            date!(2026 - 01 - 02),
            date!(2026 - 01 - 05),
            date!(2026 - 01 - 06),
            date!(2026 - 01 - 09),
        ];
        assert_eq!(
            runs(&days),
            [
                (date!(2026 - 01 - 01), date!(2026 - 01 - 02)),
                (date!(2026 - 01 - 05), date!(2026 - 01 - 06)),
                (date!(2026 - 01 - 09), date!(2026 - 01 - 09)),
            ]
        );
    }

    #[test]
    fn fingerprints_differ_by_token_and_hide_it() {
        let zone = "America/Sao_Paulo";
        let a = account_fingerprint("https://data.saipos.io/v1", "token-a", zone);
        assert_ne!(
            a,
            account_fingerprint("https://data.saipos.io/v1", "token-b", zone)
        );
        assert_ne!(
            a,
            account_fingerprint("https://data.saipos.io/v1", "token-a", "America/Manaus"),
            "another zone groups other days: its cache entries never mix with these"
        );
        assert!(!a.contains("token"));
        assert_eq!(a.len(), 24);
    }
}
