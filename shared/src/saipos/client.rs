//! The Saipos Data API client. What Saipos asks of clients, and what we do:
//! - a query window of at most 15 days: longer ranges are split into 15-day windows;
//! - `p_limit` ≤ 1000 with `p_offset`: we page at 1000 until a short page;
//! - ~500 requests per 5 minutes per IP: a process-wide token bucket keeps us under 450;
//! - transient 429/500/502/503/504 and timeouts at peak: retried with capped exponential
//!   backoff and jitter ([`crate::backoff`]), honouring `Retry-After`;
//! - 401/403: the token is wrong or revoked, reported as such and never retried.
//!
//! Responses are bare JSON arrays (some deployments answer 404 for "no rows", which we read
//! as an empty page). Numbers sometimes arrive as strings, so amounts are parsed leniently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use time::Date;

use crate::backoff::Backoff;

pub const MAX_WINDOW_DAYS: i64 = 15;
pub const PAGE_LIMIT: usize = 1000;

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
}

/// A token bucket shared by every Saipos client of the process.
pub struct RateLimiter {
    capacity: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// `requests` per `period`, with bursts of up to `burst`.
    pub fn new(requests: u32, period: Duration, burst: u32) -> Self {
        Self {
            capacity: burst as f64,
            per_second: requests as f64 / period.as_secs_f64(),
            state: Mutex::new((burst as f64, Instant::now())),
        }
    }

    pub async fn acquire(&self) {
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

/// How the client talks to Saipos. Shared by every client of a process.
#[derive(Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff: Duration,
    pub limiter: Arc<RateLimiter>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            max_attempts: 4,
            backoff: Duration::from_millis(500),
            // Under Saipos's ~500 requests / 5 minutes per IP.
            limiter: Arc::new(RateLimiter::new(450, Duration::from_secs(300), 60)),
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
    http: reqwest::Client,
    base_url: String,
    token: String,
    settings: Settings,
    requests: AtomicU64,
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
        Self {
            http: reqwest::Client::builder()
                .timeout(settings.timeout)
                .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
                .user_agent(concat!("platefull/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("HTTP client"),
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            settings,
            requests: AtomicU64::new(0),
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
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.settings.limiter.acquire().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = match self
                .http
                .get(&url)
                .query(&query)
                .bearer_auth(&self.token)
                .send()
                .await
            {
                Ok(response) => match response.status().as_u16() {
                    200 => {
                        let body = response
                            .text()
                            .await
                            .map_err(|e| SaiposError::Network(e.to_string()));
                        match body {
                            Ok(body) => return parse_rows(&body),
                            Err(e) => Attempt::Retry(e.to_string(), None),
                        }
                    }
                    404 => return Ok(Vec::new()),
                    code @ (401 | 403) => Attempt::Fail(SaiposError::InvalidToken(code)),
                    code @ (408 | 429 | 500 | 502 | 503 | 504) => {
                        let after = response
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(|s| Duration::from_secs(s.min(30)));
                        Attempt::Retry(format!("HTTP {code}"), after)
                    }
                    code => {
                        let text = response.text().await.unwrap_or_default();
                        Attempt::Fail(SaiposError::Unexpected(format!(
                            "HTTP {code}: {}",
                            text.chars().take(200).collect::<String>()
                        )))
                    }
                },
                Err(e) if e.is_timeout() => Attempt::Retry(
                    format!("no answer within {:?}", self.settings.timeout),
                    None,
                ),
                Err(e) => Attempt::Retry(format!("network error: {e}"), None),
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

fn parse_rows<T: DeserializeOwned>(body: &str) -> Result<Vec<T>, SaiposError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Rows<T> {
        Bare(Vec<T>),
        Wrapped { data: Vec<T> },
    }
    match serde_json::from_str::<Rows<T>>(body) {
        Ok(Rows::Bare(rows)) | Ok(Rows::Wrapped { data: rows }) => Ok(rows),
        Err(e) => Err(SaiposError::Unexpected(format!(
            "the answer is not a list of rows: {e}"
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
            parse_rows::<Sale>(r#"{"data":[{"id_sale":2}]}"#)
                .unwrap()
                .len()
                == 1
        );
        assert!(parse_rows::<Sale>("<html>").is_err());
    }
}
