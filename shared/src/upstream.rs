//! Bounds on what external services (Saipos, the LLM, Meta's Graph API) can make us hold
//! or wait for: response bodies read chunk by chunk up to a cap, so a server sending
//! gigabytes costs at most the cap in memory (never the whole body), and `Retry-After` read
//! in both of its forms (delay-seconds and HTTP-date, RFC 9110 §10.2.3).
//!
//! Every client of an external service reads its bodies with [`read_capped`] and its
//! `Retry-After` with [`retry_after`]; nothing calls `Response::text()` or `json()` on an
//! upstream answer, which would buffer a body of any size.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BodyError {
    /// The body is (or announced itself as) longer than the cap; reading stopped there.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection failed or timed out mid-body.
    #[error("reading the answer failed: {0}")]
    Read(String),
}

/// Reads `response`'s body, at most `limit` bytes. A `Content-Length` above the cap fails
/// before any byte is read; otherwise chunks are appended until the body ends or the cap
/// is passed (memory held: at most `limit` plus one chunk).
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length();
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    // A declared length (within the cap) is allocated once: no doubling while growing.
    let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(err) => {
                // reqwest's errors name the URL, which may carry credentials in a query.
                let mut text = err.to_string();
                if let Some(url) = err.url() {
                    text = text.replace(url.as_str(), "<upstream>");
                }
                return Err(BodyError::Read(text));
            }
        }
    }
}

/// The wait a `Retry-After` header asks for: whole seconds, or an HTTP-date (a date in the
/// past means now). `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, value.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            retry_after_at(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after_at(&headers("Sun, 06 Nov 1994 08:50:07 GMT"), now),
            Some(Duration::from_secs(30))
        );
        // The obsolete RFC 850 and asctime forms are HTTP-dates too.
        assert_eq!(
            retry_after_at(&headers("Sunday, 06-Nov-94 08:49:47 GMT"), now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after_at(&headers("Sun, 06 Nov 1994 08:00:00 GMT"), now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(retry_after_at(&headers("soon"), now), None);
        assert_eq!(retry_after_at(&HeaderMap::new(), now), None);
    }
}
