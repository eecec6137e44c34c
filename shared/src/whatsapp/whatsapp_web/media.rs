//! WhatsApp Web media as ours: which proto message is which [`MediaKind`], what it
//! declares (mimetype, size, seconds, caption) and the CDN handle to fetch it later; and
//! the [`WebMedia`] download the bot worker uses, through whatsapp-rust 0.7.0's
//! `MediaDownloader` (`download.rs`): session-less (the CDN gates a download on the signed
//! `direct_path`, not the session; WhatsApp's default hosts), streaming and decrypting into
//! a writer (`download_to_writer`, ~40 KB of working memory), here one that refuses to
//! grow past the cap. The library checks the blob's MAC; the plaintext's SHA-256 against
//! the message's `fileSha256` is checked here. A reference the CDN rejects (expired media) is `Gone`: 0.7.0 offers
//! re-upload requests only through a live client, which the worker doesn't have.

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::Digest;
use whatsapp_rust::download::{
    DownloadParams, DownloadWriter, MediaDownloadError, MediaDownloader, MediaRoute, MediaType,
};
use whatsapp_rust::http::HttpClient;
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::waproto::whatsapp as wa;

use crate::media::fetch::{FetchError, WebMedia};
use crate::media::{Location, MediaHandle, MediaKind, MediaPart};

/// The media part of `message` (wrappers already unwrapped or not) and the text that goes
/// with it (an edit's new text); `None` for a plain text message or a kind we don't carry
/// (polls, contacts, …). Protocol messages other than edits and deletions are `Protocol`.
pub(super) fn media_of(message: &wa::Message) -> Option<(MediaPart, String)> {
    let m = message.get_base_message();
    if let Some(inner) = m
        .edited_message
        .as_option()
        .and_then(|w| w.message.as_option())
    {
        return media_of(inner);
    }
    if let Some(a) = m.audio_message.as_option() {
        let kind = if a.ptt == Some(true) {
            MediaKind::Voice
        } else {
            MediaKind::Audio
        };
        let part = MediaPart {
            mimetype: a.mimetype.clone(),
            size: a.file_length,
            seconds: a.seconds,
            handle: handle(
                &a.direct_path,
                &a.media_key,
                &a.file_sha256,
                &a.file_enc_sha256,
                "audio",
            ),
            ..MediaPart::of(kind)
        };
        return Some((part, String::new()));
    }
    if let Some(i) = m.image_message.as_option() {
        let part = MediaPart {
            mimetype: i.mimetype.clone(),
            size: i.file_length,
            caption: i.caption.clone(),
            handle: handle(
                &i.direct_path,
                &i.media_key,
                &i.file_sha256,
                &i.file_enc_sha256,
                "image",
            ),
            ..MediaPart::of(MediaKind::Image)
        };
        return Some((part, String::new()));
    }
    if let Some(v) = m.video_message.as_option().or(m.ptv_message.as_option()) {
        let part = MediaPart {
            mimetype: v.mimetype.clone(),
            size: v.file_length,
            seconds: v.seconds,
            caption: v.caption.clone(),
            ..MediaPart::of(MediaKind::Video)
        };
        return Some((part, String::new()));
    }
    let document = m.document_message.as_option().or_else(|| {
        m.document_with_caption_message
            .as_option()
            .and_then(|w| w.message.as_option())
            .and_then(|inner| inner.document_message.as_option())
    });
    if let Some(d) = document {
        let part = MediaPart {
            mimetype: d.mimetype.clone(),
            size: d.file_length,
            caption: d.caption.clone(),
            file_name: d.file_name.clone().or_else(|| d.title.clone()),
            handle: handle(
                &d.direct_path,
                &d.media_key,
                &d.file_sha256,
                &d.file_enc_sha256,
                "document",
            ),
            ..MediaPart::of(MediaKind::Document)
        };
        return Some((part, String::new()));
    }
    if m.sticker_message.is_set() || m.lottie_sticker_message.is_set() {
        return Some((MediaPart::of(MediaKind::Sticker), String::new()));
    }
    if let Some(l) = m.location_message.as_option() {
        let location = match (l.degrees_latitude, l.degrees_longitude) {
            (Some(lat), Some(lng)) => Some(Location {
                lat,
                lng,
                name: l.name.clone(),
                address: l.address.clone(),
            }),
            _ => None,
        };
        let part = MediaPart {
            location,
            ..MediaPart::of(MediaKind::Location)
        };
        return Some((part, String::new()));
    }
    if let Some(l) = m.live_location_message.as_option() {
        let location = match (l.degrees_latitude, l.degrees_longitude) {
            (Some(lat), Some(lng)) => Some(Location {
                lat,
                lng,
                name: None,
                address: None,
            }),
            _ => None,
        };
        let part = MediaPart {
            location,
            ..MediaPart::of(MediaKind::Location)
        };
        return Some((part, String::new()));
    }
    if let Some(r) = m.reaction_message.as_option() {
        let part = MediaPart {
            target: r.key.as_option().and_then(|k| k.id.clone()),
            ..MediaPart::of(MediaKind::Reaction)
        };
        return Some((part, String::new()));
    }
    if m.enc_reaction_message.is_set() {
        return Some((MediaPart::of(MediaKind::Reaction), String::new()));
    }
    if m.call.is_set() || m.call_log_messsage.is_set() || m.bcall_message.is_set() {
        return Some((MediaPart::of(MediaKind::Call), String::new()));
    }
    if let Some(p) = m.protocol_message.as_option() {
        use wa::message::protocol_message::Type;
        let target = p.key.as_option().and_then(|k| k.id.clone());
        return Some(match p.r#type {
            Some(Type::MESSAGE_EDIT) => {
                let text = p
                    .edited_message
                    .as_option()
                    .and_then(|e| e.text_content().or_else(|| e.get_caption()))
                    .unwrap_or_default()
                    .to_owned();
                (
                    MediaPart {
                        target,
                        ..MediaPart::of(MediaKind::Edit)
                    },
                    text,
                )
            }
            Some(Type::REVOKE) => (
                MediaPart {
                    target,
                    ..MediaPart::of(MediaKind::Deleted)
                },
                String::new(),
            ),
            _ => (MediaPart::of(MediaKind::Protocol), String::new()),
        });
    }
    None
}

fn handle(
    direct_path: &Option<String>,
    media_key: &Option<Vec<u8>>,
    file_sha256: &Option<Vec<u8>>,
    file_enc_sha256: &Option<Vec<u8>>,
    media_type: &str,
) -> Option<MediaHandle> {
    Some(MediaHandle::Web {
        direct_path: direct_path.clone()?,
        media_key: B64.encode(media_key.as_ref()?),
        file_sha256: B64.encode(file_sha256.as_ref()?),
        file_enc_sha256: B64.encode(file_enc_sha256.as_ref()?),
        media_type: media_type.to_owned(),
    })
}

/// WhatsApp's media CDN without a session (the bot worker's side).
pub struct CdnMedia {
    downloader: MediaDownloader,
}

impl Default for CdnMedia {
    /// WhatsApp's default CDN hosts, over whatsapp-rust's ureq client.
    fn default() -> Self {
        Self::new(
            Arc::new(whatsapp_rust::http::UreqHttpClient::new()),
            MediaRoute::default_hosts(),
        )
    }
}

impl CdnMedia {
    /// The CDN hosts of `route`, reached through `http` (tests: a fake CDN).
    pub fn new(http: Arc<dyn HttpClient>, route: MediaRoute) -> Self {
        Self {
            downloader: MediaDownloader::new(http, Arc::new(whatsapp_rust::TokioRuntime), route),
        }
    }
}

#[async_trait]
impl WebMedia for CdnMedia {
    async fn download(&self, handle: &MediaHandle, limit: u64) -> Result<Vec<u8>, FetchError> {
        let MediaHandle::Web {
            direct_path,
            media_key,
            file_sha256,
            file_enc_sha256,
            media_type,
        } = handle
        else {
            return Err(FetchError::Gone("not a WhatsApp Web handle".into()));
        };
        let bytes = |b64: &str| {
            B64.decode(b64)
                .map_err(|_| FetchError::Gone("a bad media key".into()))
        };
        let media_type = match media_type.as_str() {
            "audio" => MediaType::Audio,
            "image" => MediaType::Image,
            "video" => MediaType::Video,
            "sticker" => MediaType::Sticker,
            _ => MediaType::Document,
        };
        let file_sha256 = bytes(file_sha256)?;
        let params = DownloadParams::encrypted(
            direct_path.clone(),
            &bytes(media_key)?,
            &file_sha256,
            &bytes(file_enc_sha256)?,
            // The declared length only sizes buffers; the cap is the writer's.
            0,
            media_type,
        );
        let writer = CappedWriter::new(limit);
        match self.downloader.download_to_writer(&params, writer).await {
            Ok(writer) => {
                // whatsapp-rust checks the blob's MAC (under the media key), not the file's
                // hash the message declares: checked here, so what we hand on is the file
                // the sender hashed.
                let plaintext = writer.into_inner();
                if sha2::Sha256::digest(&plaintext)[..] != file_sha256[..] {
                    return Err(FetchError::Gone(
                        "the media doesn't match its declared hash".into(),
                    ));
                }
                Ok(plaintext)
            }
            Err(MediaDownloadError::ReferenceRejected(e)) => Err(FetchError::Gone(e.to_string())),
            Err(e) if e.to_string().contains(CAP_PASSED) => Err(FetchError::TooLarge { limit }),
            Err(e) => Err(FetchError::Unavailable(e.to_string())),
        }
    }
}

const CAP_PASSED: &str = "the media passed its cap";

/// An in-memory sink that refuses to grow past `limit` bytes.
pub struct CappedWriter {
    inner: Cursor<Vec<u8>>,
    limit: u64,
}

impl CappedWriter {
    pub fn new(limit: u64) -> Self {
        Self {
            inner: Cursor::new(Vec::new()),
            limit,
        }
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.inner.into_inner()
    }
}

impl Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.inner.position() + buf.len() as u64 > self.limit {
            return Err(std::io::Error::other(CAP_PASSED));
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for CappedWriter {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl DownloadWriter for CappedWriter {
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.inner.get_mut().truncate(len as usize);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapp_rust::waproto::buffa::MessageField;

    #[test]
    fn a_voice_note_carries_its_declarations_and_cdn_handle() {
        let message = wa::Message {
            audio_message: MessageField::some(wa::message::AudioMessage {
                ptt: Some(true),
                mimetype: Some("audio/ogg; codecs=opus".into()),
                file_length: Some(31_000),
                seconds: Some(20),
                direct_path: Some("/v/t62.7117-24/abc".into()),
                media_key: Some(vec![1; 32]),
                file_sha256: Some(vec![2; 32]),
                file_enc_sha256: Some(vec![3; 32]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (part, _) = media_of(&message).expect("media");
        assert_eq!(part.kind, MediaKind::Voice);
        assert_eq!((part.size, part.seconds), (Some(31_000), Some(20)));
        assert!(
            matches!(part.handle, Some(MediaHandle::Web { ref media_type, .. }) if media_type == "audio")
        );
    }

    #[test]
    fn reactions_edits_deletions_and_pins() {
        let reaction = wa::Message {
            reaction_message: MessageField::some(wa::message::ReactionMessage {
                text: Some("👍".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(media_of(&reaction).unwrap().0.kind, MediaKind::Reaction);
        let edit = wa::Message {
            protocol_message: MessageField::some(wa::message::ProtocolMessage {
                r#type: Some(wa::message::protocol_message::Type::MESSAGE_EDIT),
                key: MessageField::some(wa::MessageKey {
                    id: Some("M1".into()),
                    ..Default::default()
                }),
                edited_message: MessageField::some(wa::Message {
                    conversation: Some("na verdade duas".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (part, text) = media_of(&edit).unwrap();
        assert_eq!(
            (part.kind, part.target.as_deref(), text.as_str()),
            (MediaKind::Edit, Some("M1"), "na verdade duas")
        );
        let pin = wa::Message {
            location_message: MessageField::some(wa::message::LocationMessage {
                degrees_latitude: Some(-23.56),
                degrees_longitude: Some(-46.65),
                name: Some("Casa".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (part, _) = media_of(&pin).unwrap();
        assert_eq!(part.location.unwrap().name.as_deref(), Some("Casa"));
        assert!(media_of(&wa::Message {
            conversation: Some("oi".into()),
            ..Default::default()
        })
        .is_none());
    }

    #[test]
    fn the_writer_refuses_to_pass_its_cap() {
        let mut w = CappedWriter::new(10);
        w.write_all(b"0123456789").unwrap();
        assert!(w.write_all(b"x").is_err());
        DownloadWriter::truncate(&mut w, 0).unwrap();
        w.rewind().unwrap();
        w.write_all(b"abc").unwrap();
        assert_eq!(w.into_inner(), b"abc");
    }
}
