//! The Saipos Data API client. What Saipos asks of clients, and what we do:
//! - a query window of at most 15 days: longer ranges are split into 15-day windows;
//! - `p_limit` ≤ 1000 with `p_offset`: we page at 1000 until a short page, and stop a
//!   report that would need more than [`Settings::max_pages`] pages (a year of a busy store
//!   fits; a server that never sends a short page doesn't keep us paging forever);
//! - ~500 requests per 5 minutes per IP: a process-wide token bucket keeps us under 450,
//!   handed to accounts in turn ([`RateLimiter`]);
//! - transient 429/500/502/503/504 and timeouts at peak: retried with capped exponential
//!   backoff and jitter ([`crate::backoff`]), honouring `Retry-After` (seconds or an
//!   HTTP-date, at most 30 s);
//! - 401/403: the token is wrong or revoked, reported as such and never retried.
//!
//! Every request goes through the guarded client ([`crate::outbound`]): the base URL is
//! the owner's, so it may only reach public https hosts (loopback too on the local stack),
//! no redirect is followed, and an unexpected answer is reported by its status code alone
//! (its body, which could be an internal service's, is never read into a message).
//!
//! Bodies are read in chunks up to [`Settings::max_body_bytes`] (20 MiB: a full page of
//! 1000 sales is ~1–2 MiB), so an answer of any size costs at most that in memory.
//!
//! Responses are bare JSON arrays (some deployments answer 404 for "no rows", which we read
//! as an empty page). Numbers sometimes arrive as strings, so amounts are parsed leniently.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use time::Date;

use crate::backoff::Backoff;
use crate::outbound::{self, OutboundClient, Policy};
use crate::upstream::{self, BodyError};

pub const MAX_WINDOW_DAYS: i64 = 15;
pub const PAGE_LIMIT: usize = 1000;
/// The longest `Retry-After` we wait out inside a request; longer ones fail the request.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SaiposError {
    #[error("Saipos refused the token (HTTP {0}): check the store's Saipos Data API token")]
    InvalidToken(u16),
    #[error("Saipos is unavailable right now ({0}); try again in a few minutes")]
    Unavailable(String),
    #[error("could not reach Saipos: {0}")]
    Network(String),
    #[error("unexpected answer from Saipos: {0}")]
    Unexpected(String),
    /// The base URL points where the outbound policy doesn't call (never retried).
    #[error("Platefull does not call this Saipos address: {0}")]
    NotAllowed(String),
    /// The report needs more pages than one report may read.
    #[error("this period needs more than {0} pages of Saipos data; ask for a shorter period")]
    TooManyPages(u64),
}

/// One token bucket: `capacity` tokens, refilled at `per_second`.
struct Bucket {
    capacity: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(per_second: f64, capacity: f64) -> Self {
        Self {
            capacity,
            per_second,
            state: Mutex::new((capacity, Instant::now())),
        }
    }

    async fn take(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock().expect("rate limiter lock");
                let (tokens, last) = &mut *state;
                let now = Instant::now();
                *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second)
                    .min(self.capacity);
                *last = now;
                if *tokens >= 1.0 {
                    *tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - *tokens) / self.per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Who waits for a token: accounts in turn, each with its waiters in arrival order.
#[derive(Default)]
struct Waiting {
    turn: VecDeque<String>,
    waiters: HashMap<String, VecDeque<oneshot::Sender<()>>>,
}

impl Waiting {
    fn join(&mut self, account: &str, waiter: oneshot::Sender<()>) {
        let queue = self.waiters.entry(account.to_owned()).or_default();
        if queue.is_empty() {
            self.turn.push_back(account.to_owned());
        }
        queue.push_back(waiter);
    }

    /// Hands a token to the next account in turn (round robin), skipping waiters that gave
    /// up (their request was dropped).
    fn grant(&mut self) {
        while let Some(account) = self.turn.pop_front() {
            let Some(queue) = self.waiters.get_mut(&account) else {
                continue;
            };
            let granted = loop {
                match queue.pop_front() {
                    Some(waiter) => {
                        if waiter.send(()).is_ok() {
                            break true;
                        }
                    }
                    None => break false,
                }
            };
            if queue.is_empty() {
                self.waiters.remove(&account);
            } else {
                self.turn.push_back(account);
            }
            if granted {
                return;
            }
        }
    }
}

/// A token bucket shared by every Saipos client of the process, fair across accounts.
///
/// Tokens go to accounts in turn (round robin), each account's requests in arrival order:
/// an owner's eight long reports at once queue behind each other, and another owner's
/// `test` gets the next token but one, however many of the first owner's requests wait.
/// An account alone gets the whole rate. Whoever holds `dispatch` (a FIFO lock) waits for
/// the next token and hands it to the next account in turn — possibly itself — so no task
/// runs in the background and a dropped request only gives up its place.
pub struct RateLimiter {
    global: Bucket,
    dispatch: tokio::sync::Mutex<()>,
    waiting: Mutex<Waiting>,
}

impl RateLimiter {
    /// `requests` per `period`, with bursts of up to `burst`.
    pub fn new(requests: u32, period: Duration, burst: u32) -> Self {
        Self {
            global: Bucket::new(requests as f64 / period.as_secs_f64(), burst as f64),
            dispatch: tokio::sync::Mutex::new(()),
            waiting: Mutex::new(Waiting::default()),
        }
    }

    /// Waits until `account` may send one request.
    pub async fn acquire(&self, account: &str) {
        let (tx, mut granted) = oneshot::channel();
        self.waiting
            .lock()
            .expect("rate limiter lock")
            .join(account, tx);
        loop {
            tokio::select! {
                biased;
                _ = &mut granted => return,
                _guard = self.dispatch.lock() => {
                    self.global.take().await;
                    self.waiting.lock().expect("rate limiter lock").grant();
                }
            }
        }
    }
}

/// How the client talks to Saipos. Shared by every client of a process.
#[derive(Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff: Duration,
    pub limiter: Arc<RateLimiter>,
    /// The largest answer read (bigger ones fail the request, unread).
    pub max_body_bytes: usize,
    /// The most pages one client (one report) reads: 25 windows × 2 endpoints × 12 pages,
    /// a year of a store with ~800 sales a day.
    pub max_pages: u64,
    /// Who the base URL may point at ([`Policy::Strict`] unless a builder chooses the
    /// local stack's).
    pub policy: Policy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            max_attempts: 4,
            backoff: Duration::from_millis(500),
            // Under Saipos's ~500 requests / 5 minutes per IP.
            limiter: Arc::new(RateLimiter::new(450, Duration::from_secs(300), 60)),
            max_body_bytes: 20 * 1024 * 1024,
            max_pages: 600,
            policy: Policy::Strict,
        }
    }
}

fn lenient_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        N(f64),
        S(String),
        Null,
    }
    Ok(match Num::deserialize(deserializer)? {
        Num::N(n) => n,
        Num::S(s) => s.trim().replace(',', ".").parse().unwrap_or(0.0),
        Num::Null => 0.0,
    })
}

/// A sale from `/search_sales` (only the fields reports use).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Sale {
    pub id_sale: i64,
    #[serde(default)]
    pub id_sale_type: Option<i64>,
    #[serde(default)]
    pub shift_date: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub total_amount: f64,
    #[serde(default)]
    pub canceled: Option<String>,
    #[serde(default)]
    pub payments: Option<Vec<Payment>>,
    #[serde(default)]
    pub partner_sale: Option<PartnerSale>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Payment {
    #[serde(default)]
    pub desc_store_payment_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub payment_amount: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PartnerSale {
    #[serde(default)]
    pub desc_partner_sale: Option<String>,
}

/// A sale's items from `/sales_items` (one row per sale, items nested).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SaleItems {
    pub id_sale: i64,
    #[serde(default)]
    pub shift_date: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub items: Option<Vec<SaleItem>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SaleItem {
    #[serde(default)]
    pub desc_sale_item: Option<String>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub quantity: f64,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub unit_price: f64,
    #[serde(default)]
    pub deleted: Option<String>,
}

pub struct SaiposClient {
    http: OutboundClient,
    base_url: String,
    token: String,
    settings: Settings,
    /// Who this client counts as for the rate limiter (a hash of base URL and token).
    account: String,
    requests: AtomicU64,
    pages: AtomicU64,
}

impl std::fmt::Debug for SaiposClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaiposClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Splits `[from, to]` into consecutive windows of at most 15 days.
pub fn windows(from: Date, to: Date) -> Vec<(Date, Date)> {
    let mut out = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + time::Duration::days(MAX_WINDOW_DAYS - 1)).min(to);
        out.push((start, end));
        match end.next_day() {
            Some(next) => start = next,
            None => break,
        }
    }
    out
}

enum Attempt {
    Retry(String, Option<Duration>),
    Fail(SaiposError),
}

impl SaiposClient {
    pub fn new(base_url: &str, token: &str, settings: Settings) -> Self {
        let token = token
            .strip_prefix("Bearer ")
            .unwrap_or(token)
            .trim()
            .to_owned();
        let base_url = base_url.trim_end_matches('/').to_owned();
        Self {
            account: super::cache::fingerprint(&[&base_url, &token]),
            http: OutboundClient::new(
                settings.policy,
                settings.timeout,
                settings.timeout.min(Duration::from_secs(5)),
            ),
            base_url,
            token,
            settings,
            requests: AtomicU64::new(0),
            pages: AtomicU64::new(0),
        }
    }

    /// How many HTTP requests this client has sent (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Proves the token works with the smallest request Saipos serves.
    pub async fn check(&self, today: Date) -> Result<(), SaiposError> {
        self.page::<serde_json::Value>("search_sales", today, today, 1, 0)
            .await
            .map(|_| ())
    }

    /// Every sale whose shift falls in `[from, to]`.
    pub async fn search_sales(&self, from: Date, to: Date) -> Result<Vec<Sale>, SaiposError> {
        self.all("search_sales", from, to).await
    }

    /// The items of every sale whose shift falls in `[from, to]`.
    pub async fn sales_items(&self, from: Date, to: Date) -> Result<Vec<SaleItems>, SaiposError> {
        self.all("sales_items", from, to).await
    }

    async fn all<T: DeserializeOwned>(
        &self,
        path: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<T>, SaiposError> {
        let mut rows = Vec::new();
        for (start, end) in windows(from, to) {
            let mut offset = 0;
            loop {
                let page: Vec<T> = self.page(path, start, end, PAGE_LIMIT, offset).await?;
                let full = page.len() >= PAGE_LIMIT;
                offset += page.len();
                rows.extend(page);
                if !full {
                    break;
                }
            }
        }
        Ok(rows)
    }

    async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        start: Date,
        end: Date,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<T>, SaiposError> {
        let url = format!("{}/{path}", self.base_url);
        let query = [
            ("p_date_column_filter", "shift_date".to_owned()),
            ("p_filter_date_start", format!("{start} 00:00:00")),
            ("p_filter_date_end", format!("{end} 23:59:59")),
            ("p_limit", limit.to_string()),
            ("p_offset", offset.to_string()),
        ];
        let pages = self.pages.fetch_add(1, Ordering::Relaxed) + 1;
        if pages > self.settings.max_pages {
            return Err(SaiposError::TooManyPages(self.settings.max_pages));
        }
        // The URL rules first: a refused URL costs no request and no rate-limit token.
        let request = self
            .http
            .get(&url)
            .map_err(|refused| SaiposError::NotAllowed(refused.to_string()))?
            .query(&query)
            .bearer_auth(&self.token);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.settings.limiter.acquire(&self.account).await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let request = request.try_clone().expect("a GET without a body clones");
            let outcome = match request.send().await {
                Ok(response) => match response.status().as_u16() {
                    200 => {
                        match upstream::read_capped(response, self.settings.max_body_bytes).await {
                            Ok(body) => return parse_rows(&body),
                            Err(err @ BodyError::TooLarge { .. }) => {
                                Attempt::Fail(SaiposError::Unexpected(err.to_string()))
                            }
                            Err(BodyError::Read(e)) => {
                                Attempt::Retry(format!("network error: {e}"), None)
                            }
                        }
                    }
                    404 => return Ok(Vec::new()),
                    code @ (401 | 403) => Attempt::Fail(SaiposError::InvalidToken(code)),
                    code @ (408 | 429 | 500 | 502 | 503 | 504) => {
                        let after = upstream::retry_after(response.headers())
                            .map(|wait| wait.min(MAX_RETRY_AFTER));
                        Attempt::Retry(format!("HTTP {code}"), after)
                    }
                    // By its status code only: the body is not read, let alone shown.
                    code => Attempt::Fail(SaiposError::Unexpected(format!("HTTP {code}"))),
                },
                Err(e) => match outbound::refusal(&e) {
                    Some(refused) => Attempt::Fail(SaiposError::NotAllowed(refused.to_string())),
                    None if e.is_timeout() => Attempt::Retry(
                        format!("no answer within {:?}", self.settings.timeout),
                        None,
                    ),
                    None => Attempt::Retry(format!("network error: {e}"), None),
                },
            };
            match outcome {
                Attempt::Fail(err) => return Err(err),
                Attempt::Retry(reason, _) if attempt >= self.settings.max_attempts => {
                    tracing::warn!(%path, attempt, %reason, "Saipos request failed; giving up");
                    return Err(if reason.starts_with("HTTP") {
                        SaiposError::Unavailable(reason)
                    } else {
                        SaiposError::Network(reason)
                    });
                }
                Attempt::Retry(reason, after) => {
                    let delay = after.unwrap_or_else(|| self.backoff(attempt));
                    tracing::info!(%path, attempt, %reason, delay_ms = delay.as_millis() as u64, "Saipos request failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Exponential backoff with jitter ([`Backoff`]), capped at 10 s.
    fn backoff(&self, attempt: u32) -> Duration {
        Backoff::new(self.settings.backoff, Duration::from_secs(10)).delay(attempt)
    }
}

fn parse_rows<T: DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, SaiposError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Rows<T> {
        Bare(Vec<T>),
        Wrapped { data: Vec<T> },
    }
    match serde_json::from_slice::<Rows<T>>(body) {
        Ok(Rows::Bare(rows)) | Ok(Rows::Wrapped { data: rows }) => Ok(rows),
        // serde's message may quote the body ("invalid type: string \"…\""): only where
        // it went wrong is shown.
        Err(e) => Err(SaiposError::Unexpected(format!(
            "the answer is not a list of rows (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn ranges_split_into_windows_of_fifteen_days() {
        assert_eq!(
            windows(date!(2026 - 01 - 01), date!(2026 - 01 - 01)),
            [(date!(2026 - 01 - 01), date!(2026 - 01 - 01))]
        );
        assert_eq!(
            windows(date!(2026 - 01 - 01), date!(2026 - 01 - 31)),
            [
                (date!(2026 - 01 - 01), date!(2026 - 01 - 15)),
                (date!(2026 - 01 - 16), date!(2026 - 01 - 30)),
                (date!(2026 - 01 - 31), date!(2026 - 01 - 31)),
            ]
        );
        assert_eq!(
            windows(date!(2026 - 01 - 01), date!(2026 - 03 - 31)).len(),
            6
        ); // 90 days
        assert!(windows(date!(2026 - 02 - 01), date!(2026 - 01 - 01)).is_empty());
    }

    #[test]
    fn amounts_are_parsed_leniently() {
        let sale: Sale = serde_json::from_str(
            r#"{"id_sale":1,"total_amount":"12,50","payments":[{"payment_amount":null}]}"#,
        )
        .unwrap();
        assert_eq!(sale.total_amount, 12.5);
        assert_eq!(sale.payments.unwrap()[0].payment_amount, 0.0);
        assert!(
            parse_rows::<Sale>(br#"{"data":[{"id_sale":2}]}"#)
                .unwrap()
                .len()
                == 1
        );
        assert!(parse_rows::<Sale>(b"<html>").is_err());
    }
}
