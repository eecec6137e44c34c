//! Media in customers' messages: what a transport reports about a voice note, picture,
//! document, sticker, location pin or reaction ([`part`]), fetching its bytes within caps
//! ([`fetch`]), transcribing voice ([`transcribe`]) and measuring it ([`duration`]), shrinking
//! pictures for a vision model ([`picture`]), and deciding what each kind becomes for the turn
//! ([`plan`]). The bytes are processed and dropped; only the transcript or
//! description joins the chat's history.

pub mod duration;
pub mod fetch;
pub mod part;
pub mod picture;
pub mod plan;
pub mod transcribe;

pub use part::{Location, MediaHandle, MediaKind, MediaPart};

/// What the bot worker handles media with: the fetcher, the transcription service (none:
/// voice notes get a "please type" reply once per chat) and whether the chat model sees
/// images (`OPENROUTER_VISION`).
pub struct MediaTools {
    pub fetcher: fetch::MediaFetcher,
    pub transcriber: Option<transcribe::Transcriber>,
    pub vision: bool,
}

impl Default for MediaTools {
    /// Cloud API media from Meta's Graph API, no transcription, no vision.
    fn default() -> Self {
        Self {
            fetcher: fetch::MediaFetcher::new(crate::bot::cloud_api::DEFAULT_GRAPH_URL, None),
            transcriber: None,
            vision: false,
        }
    }
}

impl MediaTools {
    /// From the environment: `TRANSCRIBE_BASE_URL`, `TRANSCRIBE_MODEL`, the key given
    /// (`TRANSCRIBE_API_KEY`, from the platform's secret in AWS), `OPENROUTER_VISION`.
    pub fn from_env(
        graph_base: &str,
        transcribe_key: Option<&str>,
        web: Option<std::sync::Arc<dyn fetch::WebMedia>>,
    ) -> Self {
        use crate::config::env::optional;
        let transcriber = transcribe_key.filter(|k| !k.is_empty()).map(|key| {
            let base = optional("TRANSCRIBE_BASE_URL")
                .unwrap_or_else(|| transcribe::DEFAULT_BASE_URL.into());
            let model =
                optional("TRANSCRIBE_MODEL").unwrap_or_else(|| transcribe::DEFAULT_MODEL.into());
            transcribe::Transcriber::new(transcribe::TranscribeSettings::new(&base, key, &model))
        });
        Self {
            fetcher: fetch::MediaFetcher::new(graph_base, web),
            transcriber,
            vision: optional("OPENROUTER_VISION").is_some_and(|v| v == "true" || v == "1"),
        }
    }
}
