//! The media part of a [`ChatMessage`](crate::jobs::ChatMessage): the one shape both
//! transports (WhatsApp Web, Meta's Cloud API) and the simulator report media in, so the
//! bot never sees a protocol type. It carries what is known before downloading (kind,
//! mimetype, size, duration, caption) and a handle to fetch the bytes later, never the
//! bytes themselves (except the simulator's small inline clips).

use serde::{Deserialize, Serialize};

/// What a non-text message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaKind {
    /// A voice note recorded in the app (push-to-talk).
    Voice,
    /// An audio file.
    Audio,
    Image,
    Video,
    Document,
    Sticker,
    Location,
    Reaction,
    /// An edit of an earlier message (`target`); `text` is its new text.
    Edit,
    /// A message deleted for everyone (`target`).
    Deleted,
    /// A call, missed or not.
    Call,
    /// Protocol and system messages (key shares, history sync, security notices, …).
    Protocol,
}

impl MediaKind {
    /// Kinds the bot takes no turn on and answers nothing to.
    pub fn ignored(self) -> bool {
        matches!(
            self,
            MediaKind::Reaction
                | MediaKind::Sticker
                | MediaKind::Deleted
                | MediaKind::Call
                | MediaKind::Protocol
        )
    }

    /// Voice notes and audio files: transcribed.
    pub fn is_audio(self) -> bool {
        matches!(self, MediaKind::Voice | MediaKind::Audio)
    }
}

/// A location pin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub lat: f64,
    pub lng: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// How the history's text of a pin starts.
const PIN_TEXT: &str = "(o cliente enviou uma localização: ";

impl Location {
    /// The pin as the model and the delivery tools read it: `{lat, lng, name?, address?}`.
    pub fn to_text(&self) -> String {
        format!(
            "{PIN_TEXT}{})",
            serde_json::to_string(self).expect("a location serializes")
        )
    }

    /// The pin a history text written by [`Location::to_text`] holds, if it is one.
    pub fn from_text(text: &str) -> Option<Location> {
        let json = text.strip_prefix(PIN_TEXT)?.strip_suffix(')')?;
        serde_json::from_str(json).ok()
    }

    /// A delivery address from the pin: `street` (else the pin's address, else its name)
    /// and a map link for the courier, at most 300 characters.
    pub fn delivery_address(&self, street: Option<&str>) -> String {
        let street = street
            .or(self.address.as_deref())
            .or(self.name.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("localização enviada");
        let street: String = street.chars().take(200).collect();
        format!(
            "{street} (mapa: https://maps.google.com/?q={:.6},{:.6})",
            self.lat, self.lng
        )
    }
}

/// Where a media's bytes are fetched from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "camelCase")]
pub enum MediaHandle {
    /// WhatsApp Web's CDN: the encrypted file's path and keys (base64), as the message
    /// carried them; `mediaType` names the key derivation (`audio`, `image`, `video`,
    /// `document`, `sticker`).
    #[serde(rename_all = "camelCase")]
    Web {
        direct_path: String,
        media_key: String,
        file_sha256: String,
        file_enc_sha256: String,
        media_type: String,
    },
    /// Meta's Cloud API: the media id (`GET /{media-id}` gives a short-lived URL).
    #[serde(rename_all = "camelCase")]
    Cloud { media_id: String },
    /// The simulator's bytes, base64, carried in the job (local stack only, small).
    #[serde(rename_all = "camelCase")]
    Inline { base64: String },
}

/// The media of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaPart {
    pub kind: MediaKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mimetype: Option<String>,
    /// Bytes, as the message declared them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Seconds of audio or video, as declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// A document's file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<MediaHandle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The message an edit, deletion or reaction refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl MediaPart {
    /// A part of `kind` with nothing else known.
    pub fn of(kind: MediaKind) -> Self {
        Self {
            kind,
            mimetype: None,
            size: None,
            seconds: None,
            caption: None,
            file_name: None,
            handle: None,
            location: None,
            target: None,
        }
    }

    /// The caption, if it says anything.
    pub fn caption(&self) -> Option<&str> {
        self.caption
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }
}
