//! Fetching a media's bytes within a cap, from wherever its handle points: Meta's Graph API
//! (`GET /{media-id}` for a short-lived URL, then that URL, both with the number's token),
//! WhatsApp Web's CDN (a [`WebMedia`] port, implemented by the WhatsApp Web adapter with
//! whatsapp-rust's session-less downloader), or the simulator's inline bytes.
//!
//! Memory is bounded by the cap: a declared size over it fails before any byte is read,
//! and bodies are read chunk by chunk ([`crate::upstream::read_capped`]) and abandoned as
//! soon as they pass it. Nothing is written to disk; the caller drops the bytes once the
//! transcript or description exists.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use serde_json::Value;

use super::part::MediaHandle;
use crate::upstream::{self, BodyError};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FetchError {
    /// Larger than the cap (declared or read): not fetched further.
    #[error("the media is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The media is gone or its reference was refused (expired, deleted): retrying won't help.
    #[error("the media can't be fetched: {0}")]
    Gone(String),
    /// A transient failure: try again later.
    #[error("fetching the media failed: {0}")]
    Unavailable(String),
}

/// WhatsApp Web's media CDN, as the WhatsApp Web adapter reaches it.
#[async_trait]
pub trait WebMedia: Send + Sync {
    /// The decrypted bytes of a [`MediaHandle::Web`], at most `limit` of them.
    async fn download(&self, handle: &MediaHandle, limit: u64) -> Result<Vec<u8>, FetchError>;
}

pub struct MediaFetcher {
    http: reqwest::Client,
    graph_base: String,
    web: Option<Arc<dyn WebMedia>>,
}

impl MediaFetcher {
    /// Fetches Cloud API media through the Graph API at `graph_base`; WhatsApp Web media
    /// through `web` (none: such media can't be fetched here).
    pub fn new(graph_base: &str, web: Option<Arc<dyn WebMedia>>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client builds");
        Self {
            http,
            graph_base: graph_base.trim_end_matches('/').to_owned(),
            web,
        }
    }

    /// The bytes behind `handle`, at most `limit`; `cloud_token`: the Cloud API number's
    /// access token (Cloud handles only).
    pub async fn fetch(
        &self,
        handle: &MediaHandle,
        cloud_token: Option<&str>,
        limit: u64,
    ) -> Result<Vec<u8>, FetchError> {
        match handle {
            MediaHandle::Inline { base64 } => {
                // Four base64 characters per three bytes: refuse before decoding.
                if base64.len() as u64 / 4 * 3 > limit + 3 {
                    return Err(FetchError::TooLarge { limit });
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(base64)
                    .map_err(|_| FetchError::Gone("the inline media is not base64".into()))?;
                if bytes.len() as u64 > limit {
                    return Err(FetchError::TooLarge { limit });
                }
                Ok(bytes)
            }
            MediaHandle::Web { .. } => match &self.web {
                Some(web) => web.download(handle, limit).await,
                None => Err(FetchError::Gone(
                    "WhatsApp Web media can't be fetched by this process".into(),
                )),
            },
            MediaHandle::Cloud { media_id } => {
                let token =
                    cloud_token.ok_or_else(|| FetchError::Gone("no access token".into()))?;
                self.fetch_cloud(media_id, token, limit).await
            }
        }
    }

    async fn fetch_cloud(
        &self,
        media_id: &str,
        token: &str,
        limit: u64,
    ) -> Result<Vec<u8>, FetchError> {
        if media_id.is_empty()
            || !media_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            return Err(FetchError::Gone("not a media id".into()));
        }
        let answer = self
            .http
            .get(format!("{}/{media_id}", self.graph_base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|_| FetchError::Unavailable("the Graph API is unreachable".into()))?;
        let status = answer.status().as_u16();
        let answer = upstream::read_capped(answer, 64 * 1024)
            .await
            .map_err(|e| FetchError::Unavailable(e.to_string()))?;
        check(status, "the Graph API")?;
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if answer
            .get("file_size")
            .and_then(|s| s.as_u64().or_else(|| s.as_str()?.parse().ok()))
            .is_some_and(|size| size > limit)
        {
            return Err(FetchError::TooLarge { limit });
        }
        let url = answer
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| FetchError::Unavailable("the Graph API gave no media URL".into()))?;
        let body = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|_| FetchError::Unavailable("the media host is unreachable".into()))?;
        check(body.status().as_u16(), "the media host")?;
        upstream::read_capped(body, usize::try_from(limit).unwrap_or(usize::MAX))
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { .. } => FetchError::TooLarge { limit },
                BodyError::Read(message) => FetchError::Unavailable(message),
            })
    }
}

fn check(status: u16, what: &str) -> Result<(), FetchError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(FetchError::Unavailable(format!("{what} answered {status}"))),
        _ => Err(FetchError::Gone(format!("{what} answered {status}"))),
    }
}
