//! What a message's media becomes for the turn, decided before anything is downloaded:
//! ignored, an edit of the history, text for the model, a transcription, a look by a
//! vision model, or a polite reply (over the caps, no transcription, a picture nobody can
//! see). Plain decisions and the customer-facing pt-BR texts; the worker carries them out.

use super::part::{MediaKind, MediaPart};

/// The largest media fetched (WhatsApp's own limit for audio and images is 16 MB).
pub const MAX_MEDIA_BYTES: u64 = 16 * 1024 * 1024;
/// The largest picture fetched for a vision model (which gets it shrunk,
/// [`super::picture`]).
pub const MAX_VISION_BYTES: u64 = 5 * 1024 * 1024;
/// The longest voice note or audio transcribed.
pub const MAX_AUDIO_SECONDS: u32 = 5 * 60;

/// What a voice note becomes when nobody would answer it (the store's bot is off, or the
/// owner has the chat): recorded for the inbox, never transcribed nor billed.
pub const NOT_TRANSCRIBED: &str = "(o cliente enviou um áudio; áudio não transcrito)";

/// Over the caps.
pub const TOO_LONG_REPLY: &str = "Recebi seu áudio, mas ele é um pouco longo demais pra eu \
    ouvir por aqui 🙏 Pode mandar um áudio mais curto (até 5 minutos) ou escrever o que precisa?";
/// Voice without a transcription service (sent once per chat).
pub const PLEASE_TYPE_REPLY: &str = "Desculpe, ainda não consigo ouvir áudios por aqui 🙏 \
    Pode escrever sua mensagem, por favor?";
/// A picture without caption nobody here can see.
pub const PICTURE_REPLY: &str = "Recebi sua foto! 📷 Ainda não consigo ver imagens por aqui; \
    pode me contar por escrito o que precisa?";
/// A picture too large to open here (a decompression bomb, or a panorama beyond
/// [`super::picture::MAX_PIXELS`]), without caption.
pub const PICTURE_TOO_BIG_REPLY: &str = "Recebi sua foto, mas ela é grande demais pra eu \
    abrir por aqui 🙏 Pode mandar uma foto menor ou me contar por escrito o que precisa?";
/// A Pix receipt while an order awaits payment (the order hook flagged it).
pub const PROOF_REPLY: &str = "Recebemos seu comprovante! 🙌 O restaurante vai conferir o \
    pagamento e já te confirma.";

/// What becomes of a message with media.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// No turn, no reply, nothing recorded.
    Ignore,
    /// The history gains the edit; no second reply.
    Edit { target: String, text: String },
    /// This text joins the turn as the customer's message.
    Text(String),
    /// Fetch and transcribe; the transcript joins the turn.
    Transcribe,
    /// Audio, but no transcription service: ask (once per chat) to type.
    CannotListen,
    /// Fetch and let the vision model describe it (caption alongside).
    LookAt,
    /// Record `text` and answer `reply` at once, without the model.
    Reply { text: String, reply: &'static str },
}

/// The plan for `media` (the message's own text is `text`, an edit's new text).
/// `transcribe`: a transcription service is configured; `vision`: the chat model sees images.
pub fn plan(media: &MediaPart, text: &str, transcribe: bool, vision: bool) -> Plan {
    if media.kind.ignored() {
        return Plan::Ignore;
    }
    let too_big = media.size.is_some_and(|s| s > MAX_MEDIA_BYTES);
    match media.kind {
        MediaKind::Edit => match &media.target {
            Some(target) if !text.trim().is_empty() => Plan::Edit {
                target: target.clone(),
                text: text.to_owned(),
            },
            _ => Plan::Ignore,
        },
        MediaKind::Location => match &media.location {
            Some(location) => Plan::Text(location.to_text()),
            None => Plan::Ignore,
        },
        MediaKind::Voice | MediaKind::Audio => {
            let too_long = media.seconds.is_some_and(|s| s > MAX_AUDIO_SECONDS);
            if too_big || too_long {
                Plan::Reply {
                    text: "(o cliente enviou um áudio longo demais para ouvir)".into(),
                    reply: TOO_LONG_REPLY,
                }
            } else if media.handle.is_none() {
                Plan::Text("(o cliente enviou um áudio que não pôde ser baixado)".into())
            } else if transcribe {
                Plan::Transcribe
            } else {
                Plan::CannotListen
            }
        }
        MediaKind::Image => {
            let seeable = media.size.is_none_or(|s| s <= MAX_VISION_BYTES);
            if vision && seeable && media.handle.is_some() {
                Plan::LookAt
            } else if let Some(caption) = media.caption() {
                Plan::Text(format!(
                    "(o cliente enviou uma foto com a legenda) {caption}"
                ))
            } else {
                Plan::Reply {
                    text: "(o cliente enviou uma foto sem legenda)".into(),
                    reply: PICTURE_REPLY,
                }
            }
        }
        MediaKind::Video => Plan::Text(match media.caption() {
            Some(caption) => format!("(o cliente enviou um vídeo com a legenda) {caption}"),
            None => "(o cliente enviou um vídeo)".into(),
        }),
        MediaKind::Document => {
            let name = media.file_name.as_deref().unwrap_or("sem nome");
            Plan::Text(match media.caption() {
                Some(caption) => {
                    format!("(o cliente enviou um documento: {name}, com a legenda) {caption}")
                }
                None => format!("(o cliente enviou um documento: {name})"),
            })
        }
        // Handled above.
        MediaKind::Sticker
        | MediaKind::Reaction
        | MediaKind::Deleted
        | MediaKind::Call
        | MediaKind::Protocol => Plan::Ignore,
    }
}

/// Is this media possibly a payment receipt (a picture or a PDF)?
pub fn may_be_receipt(media: &MediaPart) -> bool {
    match media.kind {
        MediaKind::Image => true,
        MediaKind::Document => media
            .mimetype
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("application/pdf")),
        _ => false,
    }
}

/// How a transcript reads in the history (the model knows it was spoken).
pub fn transcript_text(transcript: &str) -> String {
    format!("(áudio transcrito) {}", transcript.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::part::{Location, MediaHandle};

    fn with_handle(kind: MediaKind) -> MediaPart {
        MediaPart {
            handle: Some(MediaHandle::Cloud {
                media_id: "1".into(),
            }),
            ..MediaPart::of(kind)
        }
    }

    #[test]
    fn ignored_kinds_are_ignored() {
        for kind in [
            MediaKind::Reaction,
            MediaKind::Sticker,
            MediaKind::Deleted,
            MediaKind::Call,
            MediaKind::Protocol,
        ] {
            assert_eq!(plan(&with_handle(kind), "", true, true), Plan::Ignore);
        }
    }

    #[test]
    fn voice_within_caps_is_transcribed_beyond_them_answered_politely() {
        let voice = MediaPart {
            seconds: Some(20),
            size: Some(30_000),
            ..with_handle(MediaKind::Voice)
        };
        assert_eq!(plan(&voice, "", true, false), Plan::Transcribe);
        assert_eq!(plan(&voice, "", false, false), Plan::CannotListen);
        let long = MediaPart {
            seconds: Some(301),
            ..voice.clone()
        };
        assert!(
            matches!(plan(&long, "", true, false), Plan::Reply { reply, .. } if reply == TOO_LONG_REPLY)
        );
        let big = MediaPart {
            size: Some(MAX_MEDIA_BYTES + 1),
            ..voice
        };
        assert!(matches!(plan(&big, "", true, false), Plan::Reply { .. }));
    }

    #[test]
    fn images_by_caption_or_vision() {
        let bare = with_handle(MediaKind::Image);
        assert!(
            matches!(plan(&bare, "", true, false), Plan::Reply { reply, .. } if reply == PICTURE_REPLY)
        );
        assert_eq!(plan(&bare, "", true, true), Plan::LookAt);
        let captioned = MediaPart {
            caption: Some("tem dessa?".into()),
            ..bare
        };
        assert_eq!(
            plan(&captioned, "", true, false),
            Plan::Text("(o cliente enviou uma foto com a legenda) tem dessa?".into())
        );
    }

    #[test]
    fn locations_become_text_and_edits_edit() {
        let pin = MediaPart {
            location: Some(Location {
                lat: -23.5,
                lng: -46.6,
                name: None,
                address: Some("Av. Paulista, 1000".into()),
            }),
            ..MediaPart::of(MediaKind::Location)
        };
        let Plan::Text(text) = plan(&pin, "", false, false) else {
            panic!("text");
        };
        assert!(
            text.contains(r#""lat":-23.5"#) && text.contains("Paulista"),
            "{text}"
        );
        let edit = MediaPart {
            target: Some("M1".into()),
            ..MediaPart::of(MediaKind::Edit)
        };
        assert_eq!(
            plan(&edit, "na verdade duas", false, false),
            Plan::Edit {
                target: "M1".into(),
                text: "na verdade duas".into()
            }
        );
    }
}
