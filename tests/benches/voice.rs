//! Voice-note benchmarks (a bench binary that prints figures):
//! - peak memory while a 16 MB voice note is fetched from the Cloud API media host (the
//!   fake, streaming it in 64 KB chunks) and handed to the transcription server (the
//!   fake, answering at once): the process's peak RSS (`VmHWM`) before and after;
//! - the latency a voice note adds to a turn, the transcription service excluded (the fake
//!   answers at once; its local HTTP round trip is counted): a voice note's job against a
//!   typed message's, each through the real worker to the reply handed over, with a
//!   zero-latency model;
//! - the time a 12 MP photo (4000 × 3000, as a phone's camera takes it) takes to be made fit
//!   for a vision model (`media::picture::prepare`: header check, decode, shrink to 1024 px,
//!   JPEG encode), from a JPEG and from a PNG, and the peak RSS it adds.
//!
//! Run: `cargo bench -p platefull-tests --bench voice`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use platefull::bot::chat::TurnLimit;
use platefull::bot::llm::{Completion, Llm, LlmError, LlmMessage, Tools};
use platefull::bot::worker::Bot;
use platefull::jobs::{BotJob, ChatMessage, Line};
use platefull::media::fetch::MediaFetcher;
use platefull::media::transcribe::{TranscribeSettings, Transcriber};
use platefull::media::{MediaHandle, MediaKind, MediaPart, MediaTools};
use platefull::queue::memory::MemoryQueue;
use platefull_tests::bench::report;
use platefull_tests::{embedded_store, fake_media, fake_transcribe, TestApp};
use serde_json::json;

struct InstantModel;

#[async_trait]
impl Llm for InstantModel {
    fn describe(&self) -> String {
        "instant".into()
    }
    async fn complete(&self, _: &[LlmMessage], _: Tools<'_>) -> Result<Completion, LlmError> {
        Ok(Completion {
            content: "Anotado! Uma grande de calabresa.".into(),
            tool_calls: Vec::new(),
            usage: Default::default(),
        })
    }
}

/// The process's peak resident set so far (kB), from `/proc/self/status`.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets the process's peak resident set to its current one (Linux: `clear_refs` 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A 12 MP photo made fit for a vision model, from a JPEG and from a PNG: the time each
/// takes, and the peak RSS it adds (the peak reset before each).
fn pictures() {
    let (width, height) = (4000, 3000);
    let photo = image::RgbImage::from_fn(width, height, |x, y| {
        // A gradient with fine texture, so the encoders have detail to work on.
        let noise = ((x * 7919 + y * 104_729) % 61) as u8;
        image::Rgb([
            (x / 16) as u8 ^ noise,
            (y / 12) as u8,
            ((x + y) / 28) as u8 ^ (noise / 2),
        ])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&photo)
        .unwrap();
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &photo,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    drop(photo);
    for (kind, bytes) in [("JPEG", &jpeg), ("PNG", &png)] {
        reset_peak_rss();
        let before = rss_kb();
        let mut samples = Vec::new();
        let mut out = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let prepared = platefull::media::picture::prepare(bytes).unwrap();
            samples.push(t.elapsed());
            assert_eq!((prepared.width, prepared.height), (1024, 768));
            out = prepared.bytes.len();
        }
        let label = format!(
            "12 MP {kind} ({} KB) → 1024×768 JPEG ({} KB)",
            bytes.len() / 1024,
            out / 1024
        );
        report(&label, samples);
        // Of which the decode alone (the image crate's, without our checks).
        let mut decode = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let image = image::load_from_memory(bytes).unwrap();
            decode.push(t.elapsed());
            drop(image);
        }
        report(&format!("  of which decoding the {kind}"), decode);
        println!(
            "  peak RSS {} MB (+{} MB over the RSS before)",
            peak_rss_kb() / 1024,
            peak_rss_kb().saturating_sub(before) / 1024
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    pictures();
    let media = fake_media::media().await;
    let voice = fake_transcribe::transcribe().await;
    let clip = std::fs::read(format!(
        "{}/fixtures/voice-note.ogg",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();

    // 1. Peak RSS around one 16 MB voice note: fetched within the cap, transcribed.
    let size: u64 = 16 * 1024 * 1024;
    media.put_generated("big", "audio/ogg", size, Some(size));
    let fetcher = MediaFetcher::new(&media.url, None);
    let mut settings = TranscribeSettings::new(&voice.url, "k", "whisper-1");
    settings.attempts = 1;
    let transcriber = Transcriber::new(settings);
    reset_peak_rss();
    let (before_rss, before_peak) = (rss_kb(), peak_rss_kb());
    let started = Instant::now();
    let handle = MediaHandle::Cloud {
        media_id: "big".into(),
    };
    let bytes = fetcher.fetch(&handle, Some("t"), size).await.unwrap();
    assert_eq!(bytes.len() as u64, size);
    let fetched_peak = peak_rss_kb();
    transcriber.transcribe(&bytes, "audio/ogg").await.unwrap();
    drop(bytes);
    let took = started.elapsed();
    let after_peak = peak_rss_kb();
    // The fakes run in this process: the media host streams 64 KB chunks; the
    // transcription server buffers the whole request it receives (16 MB), as a real one
    // would on its side.
    println!(
        "16 MB voice note: RSS before {} MB (peak {} MB); peak after the fetch {} MB (+{} MB); \
         peak after the transcription request {} MB (+{} MB, the in-process fake server's copy of \
         the upload included); {:.0} ms",
        before_rss / 1024,
        before_peak / 1024,
        fetched_peak / 1024,
        fetched_peak.saturating_sub(before_rss) / 1024,
        after_peak / 1024,
        after_peak.saturating_sub(before_rss) / 1024,
        took.as_secs_f64() * 1000.0
    );

    // 2. Added latency per voice note, the service excluded.
    let app = TestApp::new(embedded_store().await);
    let wa = app.whatsapp("alice", "Pizzaria X").await;
    let (status, body) = app
        .call(
            axum::http::Method::PUT,
            &format!("/api/client/{}/config", wa.store_id),
            Some(&wa.api_key),
            Some(json!({"botName":"Maria","storeType":"pizzaria","debounceSeconds":0})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let outbound = Arc::new(MemoryQueue::fifo(Duration::from_secs(30)));
    let bot = Bot {
        turn_limit: TurnLimit {
            calls: 1_000_000,
            per: Duration::from_secs(60),
        },
        media: Arc::new(MediaTools {
            fetcher: MediaFetcher::new(&media.url, None),
            transcriber: Some(Transcriber::new(TranscribeSettings::new(
                &voice.url,
                "k",
                "whisper-1",
            ))),
            vision: false,
        }),
        ..app.bot(
            Arc::new(InstantModel),
            Arc::new(MemoryQueue::standard(Duration::from_secs(30))),
            outbound.clone(),
        )
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(&clip);
    let run = |n: usize, voice_note: bool| {
        let message = ChatMessage {
            id: format!("{}{n}", if voice_note { "V" } else { "T" }),
            chat: format!("55119{:08}", n + if voice_note { 0 } else { 50_000 }),
            from_me: false,
            text: if voice_note {
                String::new()
            } else {
                "oi, queria uma pizza grande de calabresa pra entrega".into()
            },
            timestamp: 1,
            is_group: false,
            ephemeral_expiration: None,
            media: voice_note.then(|| {
                Box::new(MediaPart {
                    mimetype: Some("audio/ogg; codecs=opus".into()),
                    size: Some(clip.len() as u64),
                    seconds: Some(4),
                    handle: Some(MediaHandle::Inline {
                        base64: b64.clone(),
                    }),
                    ..MediaPart::of(MediaKind::Voice)
                })
            }),
            name: None,
            alias: None,
            received_ms: None,
        };
        BotJob::Message {
            store_id: wa.store_id.clone(),
            line: Line::Web { slot: 1 },
            message,
        }
    };
    let rounds = 300;
    let mut typed = Vec::new();
    let mut spoken = Vec::new();
    for n in 0..rounds {
        let job = run(n, false);
        let t = Instant::now();
        bot.handle(job).await.unwrap();
        typed.push(t.elapsed());
        let job = run(n, true);
        let t = Instant::now();
        bot.handle(job).await.unwrap();
        spoken.push(t.elapsed());
    }
    assert_eq!(outbound.len(), 2 * rounds, "every message answered");
    assert_eq!(voice.heard().len(), rounds + 1);
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (mut a, mut b) = (typed.clone(), spoken.clone());
    let added = median(&mut b).saturating_sub(median(&mut a));
    report("typed message → reply handed over", typed);
    report(
        "voice note (4 s Ogg/Opus, instant transcription) → reply handed over",
        spoken,
    );
    println!(
        "added latency per voice note (median, transcription service excluded): {:.2} ms",
        added.as_secs_f64() * 1000.0
    );
}
