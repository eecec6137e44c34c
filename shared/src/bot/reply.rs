//! The outbound side of a reply: splitting long texts on paragraph boundaries (WhatsApp's
//! 4096-character limit), the typing delay proportional to length, and per-number pacing (a
//! token bucket) so a busy store never sends like a spammer and risks a ban. The reply job
//! itself ([`OutboundReply`](crate::jobs::OutboundReply)) lives with the other queue jobs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Splits `text` into messages of at most `max` characters, at paragraph breaks where
/// possible, then at line breaks, then at spaces, and only as a last resort mid-word.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let text = text.trim();
    if text.chars().count() <= max {
        return if text.is_empty() {
            vec![]
        } else {
            vec![text.to_owned()]
        };
    }
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for piece in pieces(text, max) {
        let joined = if current.is_empty() {
            piece.len()
        } else {
            current.chars().count() + 2 + piece.chars().count()
        };
        if !current.is_empty() && joined > max {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(&piece);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Paragraphs of `text`, each cut further until it fits in `max` characters.
fn pieces(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        cut(paragraph, max, &['\n', ' '], &mut out);
    }
    out
}

fn cut(text: &str, max: usize, separators: &[char], out: &mut Vec<String>) {
    if text.chars().count() <= max {
        out.push(text.to_owned());
        return;
    }
    let Some((&separator, rest)) = separators.split_first() else {
        // No separator left: hard split on character boundaries.
        let chars: Vec<char> = text.chars().collect();
        out.extend(chars.chunks(max).map(|c| c.iter().collect()));
        return;
    };
    let mut current = String::new();
    for part in text.split(separator) {
        let candidate =
            current.chars().count() + usize::from(!current.is_empty()) + part.chars().count();
        if !current.is_empty() && candidate > max {
            out.push(std::mem::take(&mut current));
        }
        if part.chars().count() > max {
            cut(part, max, rest, out);
            continue;
        }
        if !current.is_empty() {
            current.push(separator);
        }
        current.push_str(part);
    }
    if !current.is_empty() {
        out.push(current);
    }
}

/// How a linked number sends: typing time and pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    /// "Typing…" time per character of a message, capped by `typing_cap`.
    pub typing_per_char: Duration,
    pub typing_cap: Duration,
    /// Sustained messages per second per number, and the burst allowed above it.
    pub per_second: f64,
    pub burst: f64,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            typing_per_char: Duration::from_millis(20),
            typing_cap: Duration::from_secs(3),
            per_second: 1.0,
            burst: 5.0,
        }
    }
}

impl Pacing {
    /// No typing delay and no pace limit (tests and benchmarks).
    pub fn none() -> Self {
        Self {
            typing_per_char: Duration::ZERO,
            typing_cap: Duration::ZERO,
            per_second: f64::INFINITY,
            burst: f64::INFINITY,
        }
    }

    pub fn typing_delay(&self, text: &str) -> Duration {
        self.typing_per_char
            .saturating_mul(text.chars().count() as u32)
            .min(self.typing_cap)
    }
}

/// Token buckets, one per key (a linked number).
pub struct Pacer {
    pacing: Pacing,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Pacer {
    pub fn new(pacing: Pacing) -> Self {
        Self {
            pacing,
            buckets: Mutex::default(),
        }
    }

    pub fn pacing(&self) -> &Pacing {
        &self.pacing
    }

    /// How long to wait before `key` may send one more message (and takes its token).
    pub fn reserve(&self, key: &str) -> Duration {
        if !self.pacing.per_second.is_finite() {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("lock");
        let (tokens, at) = buckets
            .entry(key.to_owned())
            .or_insert((self.pacing.burst, now));
        let refilled = (*tokens + now.duration_since(*at).as_secs_f64() * self.pacing.per_second)
            .min(self.pacing.burst);
        let after = refilled - 1.0;
        *tokens = after;
        *at = now;
        if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-after / self.pacing.per_second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_replies_are_one_message() {
        assert_eq!(split("  Olá!  ", 4096), vec!["Olá!"]);
        assert!(split("   ", 4096).is_empty());
    }

    #[test]
    fn long_replies_split_on_paragraphs_and_never_exceed_the_limit() {
        let paragraph = "Pizza de calabresa com cebola. ".repeat(40); // ~1240 chars
        let text = [paragraph.trim(); 7].join("\n\n");
        let chunks = split(&text, 4096);
        assert!(chunks.len() >= 3, "{}", chunks.len());
        for chunk in &chunks {
            assert!(chunk.chars().count() <= 4096);
            assert!(
                chunk.starts_with("Pizza") && chunk.ends_with("cebola."),
                "cut mid-paragraph"
            );
        }
        assert_eq!(chunks.join("\n\n"), text);
        // One giant paragraph without breaks: cut at spaces.
        let giant = "palavra ".repeat(1200);
        let chunks = split(&giant, 4096);
        assert!(chunks
            .iter()
            .all(|c| c.chars().count() <= 4096 && !c.ends_with(' ')));
        assert_eq!(chunks.join(" "), giant.trim());
        // No spaces at all: hard cuts, nothing lost (multi-byte characters included).
        let solid = "ç".repeat(9000);
        let chunks = split(&solid, 4096);
        assert_eq!(
            chunks.iter().map(|c| c.chars().count()).collect::<Vec<_>>(),
            [4096, 4096, 808]
        );
    }

    #[test]
    fn typing_time_grows_with_length_up_to_the_cap() {
        let pacing = Pacing::default();
        assert_eq!(pacing.typing_delay("abcde"), Duration::from_millis(100));
        assert_eq!(
            pacing.typing_delay(&"x".repeat(10_000)),
            Duration::from_secs(3)
        );
        assert_eq!(Pacing::none().typing_delay("abc"), Duration::ZERO);
    }

    #[test]
    fn the_pacer_allows_a_burst_then_spaces_messages() {
        let pacer = Pacer::new(Pacing {
            per_second: 2.0,
            burst: 3.0,
            ..Pacing::default()
        });
        for _ in 0..3 {
            assert_eq!(pacer.reserve("slot"), Duration::ZERO);
        }
        let wait = pacer.reserve("slot");
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert_eq!(
            pacer.reserve("other"),
            Duration::ZERO,
            "numbers are paced apart"
        );
        assert_eq!(Pacer::new(Pacing::none()).reserve("slot"), Duration::ZERO);
    }
}
