//! E-mail through Resend's HTTP API (`POST /emails`, bearer `RESEND_API_KEY`,
//! `RESEND_BASE_URL` for tests): plain text, one request per alert for all its
//! addresses, with the alert's id as `Idempotency-Key` so a retried alert job sends it
//! once. The key never reaches a log.

use std::time::Duration;

use serde_json::json;

pub const DEFAULT_BASE_URL: &str = "https://api.resend.com";
pub const DEFAULT_FROM: &str = "Platefull <alertas@platefull.com.br>";

#[derive(Clone)]
pub struct Resend {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    from: String,
}

impl std::fmt::Debug for Resend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resend")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Why an e-mail was not sent.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SendError {
    /// Try again later (network, 429, 5xx).
    #[error("e-mail service unavailable: {0}")]
    Transient(String),
    /// Trying again won't help (bad key, refused address).
    #[error("e-mail refused: {0}")]
    Refused(String),
}

impl Resend {
    pub fn new(base_url: &str, api_key: &str, from: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client builds");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            from: from.to_owned(),
        }
    }

    /// Sends one plain-text e-mail to `to`.
    pub async fn send(
        &self,
        idempotency_key: &str,
        to: &[String],
        subject: &str,
        text: &str,
    ) -> Result<(), SendError> {
        let body = json!({ "from": self.from, "to": to, "subject": subject, "text": text });
        let response = self
            .http
            .post(format!("{}/emails", self.base_url))
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("network error ({})", e.without_url())))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(()),
            408 | 409 | 429 | 500..=599 => Err(SendError::Transient(format!("HTTP {status}"))),
            _ => Err(SendError::Refused(format!("HTTP {status}"))),
        }
    }
}
