//! Speech to text through an OpenAI-compatible `POST {base}/audio/transcriptions`
//! (multipart: `file`, `model`, `language`, `response_format=json`), with the chat model's
//! discipline: a few tries with backoff inside one call (429, 5xx, network), then the job
//! goes back to the queue (and after a few deliveries to its dead letters).
//!
//! WhatsApp voice notes are Ogg/Opus; they are sent named `audio.ogg` with `audio/ogg`,
//! never `.oga`, which some servers refuse by extension.

use std::time::Duration;

use serde_json::Value;

use crate::backoff::Backoff;
use crate::upstream;

#[derive(Debug, Clone)]
pub struct TranscribeSettings {
    pub base_url: String,
    pub api_key: String,
    pub model: String,
    /// ISO-639-1 hint (`pt`).
    pub language: String,
    /// Per request.
    pub timeout: Duration,
    /// Tries per call, the first included.
    pub attempts: u32,
    pub backoff_base: Duration,
    /// A `Retry-After` longer than this ends the tries: the job waits in the queue instead.
    pub max_wait: Duration,
    /// Everything one voice note may spend here (tries and waits), inside `bot-reply`'s
    /// 60 s; past it the job goes back to the queue.
    pub deadline: Duration,
}

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "whisper-1";

impl TranscribeSettings {
    pub fn new(base_url: &str, api_key: &str, model: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            model: model.to_owned(),
            language: "pt".into(),
            timeout: Duration::from_secs(30),
            attempts: 3,
            backoff_base: Duration::from_millis(500),
            max_wait: Duration::from_secs(10),
            deadline: Duration::from_secs(40),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TranscribeError {
    /// Try again later (after `retry_after` if the server said so).
    #[error("the transcription service is unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying won't help until someone fixes something (key, model, request).
    #[error("the transcription service refused the request: {0}")]
    Refused(String),
}

pub struct Transcriber {
    http: reqwest::Client,
    settings: TranscribeSettings,
}

/// The largest answer read (a transcript of five minutes is a few KB).
const MAX_ANSWER_BYTES: usize = 256 * 1024;
const BOUNDARY: &str = "platefull-audio-7d1f0c2e9b";

impl Transcriber {
    pub fn new(settings: TranscribeSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .expect("an HTTP client builds");
        Self { http, settings }
    }

    /// For logs and `/health` (never the key).
    pub fn describe(&self) -> String {
        format!("{} at {}", self.settings.model, self.settings.base_url)
    }

    /// The text spoken in `audio` (`mimetype` as the message declared it), within the
    /// settings' deadline.
    pub async fn transcribe(
        &self,
        audio: &[u8],
        mimetype: &str,
    ) -> Result<String, TranscribeError> {
        tokio::time::timeout(self.settings.deadline, self.with_retries(audio, mimetype))
            .await
            .unwrap_or_else(|_| {
                Err(TranscribeError::Unavailable {
                    message: format!("no transcript within {:?}", self.settings.deadline),
                    retry_after: None,
                })
            })
    }

    async fn with_retries(&self, audio: &[u8], mimetype: &str) -> Result<String, TranscribeError> {
        let (file_name, content_type) = file_name_for(mimetype);
        let body = self.multipart(audio, file_name, content_type);
        let mut attempt = 0;
        loop {
            match self.call(body.clone()).await {
                Ok(text) => return Ok(text),
                Err(TranscribeError::Unavailable {
                    message,
                    retry_after,
                }) => {
                    attempt += 1;
                    let wait = retry_after.unwrap_or_else(|| {
                        Backoff::uncapped(self.settings.backoff_base).delay(attempt)
                    });
                    if attempt >= self.settings.attempts || wait > self.settings.max_wait {
                        return Err(TranscribeError::Unavailable {
                            message,
                            retry_after,
                        });
                    }
                    tracing::warn!(attempt, error = %message, "transcription failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(refused) => return Err(refused),
            }
        }
    }

    /// The multipart body (built once: the audio is copied once, not per try).
    fn multipart(&self, audio: &[u8], file_name: &str, content_type: &str) -> bytes::Bytes {
        let mut body = Vec::with_capacity(audio.len() + 1024);
        let field = |body: &mut Vec<u8>, name: &str, value: &str| {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        };
        field(&mut body, "model", &self.settings.model);
        field(&mut body, "language", &self.settings.language);
        field(&mut body, "response_format", "json");
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(audio);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        body.into()
    }

    async fn call(&self, body: bytes::Bytes) -> Result<String, TranscribeError> {
        let response = self
            .http
            .post(format!("{}/audio/transcriptions", self.settings.base_url))
            .bearer_auth(&self.settings.api_key)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| TranscribeError::Unavailable {
                message: if e.is_timeout() {
                    "timed out".into()
                } else {
                    "network error".into()
                },
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        let retry_after = upstream::retry_after(response.headers());
        let answer = upstream::read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| TranscribeError::Unavailable {
                message: e.to_string(),
                retry_after: None,
            })?;
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let message = || {
            let detail = answer
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("no error message");
            format!(
                "HTTP {status}: {}",
                detail.chars().take(300).collect::<String>()
            )
        };
        match status {
            200 => answer
                .get("text")
                .and_then(Value::as_str)
                .map(|t| t.trim().to_owned())
                .ok_or_else(|| TranscribeError::Unavailable {
                    message: "the answer has no text".into(),
                    retry_after: None,
                }),
            408 | 429 | 500..=599 => Err(TranscribeError::Unavailable {
                message: message(),
                retry_after,
            }),
            _ => Err(TranscribeError::Refused(message())),
        }
    }
}

/// The file name and type an audio is sent as: Ogg (WhatsApp's `audio/ogg; codecs=opus`)
/// as `audio.ogg`, never `.oga`; other common types by their usual extension.
pub fn file_name_for(mimetype: &str) -> (&'static str, &'static str) {
    let essence = mimetype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "audio/mpeg" | "audio/mp3" => ("audio.mp3", "audio/mpeg"),
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" | "audio/aac" => ("audio.m4a", "audio/mp4"),
        "audio/amr" => ("audio.amr", "audio/amr"),
        "audio/wav" | "audio/x-wav" => ("audio.wav", "audio/wav"),
        "audio/webm" => ("audio.webm", "audio/webm"),
        _ => ("audio.ogg", "audio/ogg"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ogg_voice_notes_go_as_ogg_never_oga() {
        assert_eq!(
            file_name_for("audio/ogg; codecs=opus"),
            ("audio.ogg", "audio/ogg")
        );
        assert_eq!(file_name_for("audio/ogg"), ("audio.ogg", "audio/ogg"));
        assert_eq!(file_name_for("audio/mpeg"), ("audio.mp3", "audio/mpeg"));
    }

    #[test]
    fn the_body_names_model_language_and_file() {
        let t = Transcriber::new(TranscribeSettings::new("http://x/", "k", "whisper-1"));
        let body = t.multipart(b"OggS..", "audio.ogg", "audio/ogg");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("name=\"language\"\r\n\r\npt\r\n"), "{text}");
        assert!(
            text.contains("filename=\"audio.ogg\"\r\nContent-Type: audio/ogg"),
            "{text}"
        );
        assert!(text.ends_with(&format!("--{BOUNDARY}--\r\n")));
    }
}
