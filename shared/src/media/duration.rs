//! How long an Ogg/Opus voice note lasts, read from the file itself: the usage counts voice
//! seconds, and a Cloud API webhook declares no duration (a linked number's message does).
//! Opus in Ogg counts 48 kHz samples: the last page's granule position, less the stream's
//! pre-skip (from its `OpusHead` header), is the length. Other formats give `None`.

/// The length in whole seconds (rounded, at least 1 for any sound) of the Ogg/Opus file
/// `bytes`, if it is one.
pub fn ogg_opus_seconds(bytes: &[u8]) -> Option<u32> {
    if !bytes.starts_with(b"OggS") {
        return None;
    }
    let head = find(bytes, b"OpusHead")?;
    let pre_skip = u64::from(u16::from_le_bytes(
        bytes.get(head + 10..head + 12)?.try_into().ok()?,
    ));
    let last = bytes.windows(4).rposition(|w| w == b"OggS")?;
    let granule = u64::from_le_bytes(bytes.get(last + 6..last + 14)?.try_into().ok()?);
    if granule == u64::MAX {
        return None; // no packet ends on the last page (a cut file)
    }
    let samples = granule.saturating_sub(pre_skip);
    let seconds = ((samples + 24_000) / 48_000).max(u64::from(samples > 0));
    u32::try_from(seconds).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_voice_clip_lasts_its_four_seconds() {
        let clip = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/voice-note.ogg"
        ))
        .unwrap();
        assert_eq!(ogg_opus_seconds(&clip), Some(4));
        assert_eq!(ogg_opus_seconds(b"RIFF....WAVEfmt "), None);
        assert_eq!(ogg_opus_seconds(&clip[..20]), None, "no OpusHead");
    }
}
