//! Identifiers, random tokens and the clock readings we store. Ids are unguessable (they
//! appear in URLs and a guessable storeId would invite probing) and URL-safe; tokens come
//! straight from the OS CSPRNG; times are RFC 3339 strings ([`now_rfc3339`]) or epoch
//! milliseconds ([`now_ms`]).

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the OS random number generator is unavailable");
    buf
}

/// A prefixed id with 100 bits of randomness in lowercase Crockford base32, e.g. `api_1k3...`.
pub fn new_id(prefix: &str) -> String {
    let bytes: [u8; 20] = random_bytes();
    let mut id = String::with_capacity(prefix.len() + 21);
    id.push_str(prefix);
    id.push('_');
    for b in bytes {
        id.push(ALPHABET[(b & 31) as usize] as char);
    }
    id
}

/// True for strings that could be an id we issued: a short prefix, `_`, then base32.
/// Used to reject junk in path parameters before it reaches the store.
pub fn looks_like_id(value: &str, prefix: &str) -> bool {
    value
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| rest.len() == 20 && rest.bytes().all(|b| ALPHABET.contains(&b)))
}

/// Current time as RFC 3339 in UTC with exactly six fractional digits
/// (`2026-11-28T19:05:40.123456Z`), the format of every timestamp we store: fixed width, so
/// timestamps sort as strings (lists are ordered by `createdAt`).
pub fn now_rfc3339() -> String {
    rfc3339_ago(std::time::Duration::ZERO)
}

/// Milliseconds since the Unix epoch, now: the clock of chat turns, leases and metrics.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A clock of [`now_ms`] readings that never repeat: two readings in the same millisecond
/// get consecutive values (the second one a millisecond ahead). It runs ahead of the wall
/// clock only while more than a thousand readings a second are taken, and by that excess.
pub struct MonotonicMs(std::sync::atomic::AtomicI64);

impl MonotonicMs {
    pub const fn new() -> Self {
        Self(std::sync::atomic::AtomicI64::new(0))
    }

    /// The next reading: the wall clock, or one past the previous reading if that is later.
    pub fn next(&self) -> i64 {
        use std::sync::atomic::Ordering;
        let now = now_ms();
        let previous = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .expect("the update always succeeds");
        now.max(previous + 1)
    }
}

impl Default for MonotonicMs {
    fn default() -> Self {
        Self::new()
    }
}

/// This process's receipt clock ([`MonotonicMs`]): when a chat message arrived, so two that
/// arrive together keep their order and their history keys stay apart.
pub fn monotonic_ms() -> i64 {
    static RECEIPTS: MonotonicMs = MonotonicMs::new();
    RECEIPTS.next()
}

const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// A time in milliseconds since the epoch, in the same format as [`now_rfc3339`].
pub fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(FORMAT)
        .expect("formatting a timestamp")
}

/// The time `ago` before now, in the same format as [`now_rfc3339`].
pub fn rfc3339_ago(ago: std::time::Duration) -> String {
    (time::OffsetDateTime::now_utc() - ago)
        .format(FORMAT)
        .expect("formatting a timestamp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_unique_and_recognised() {
        let a = new_id("api");
        let b = new_id("api");
        assert_ne!(a, b);
        assert!(looks_like_id(&a, "api"));
        assert!(!looks_like_id(&a, "st"));
        assert!(!looks_like_id("api_../../etc", "api"));
        assert!(!looks_like_id("api_", "api"));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z'), "{t}");
        assert_eq!(t.len(), "2026-11-28T19:05:40.123456Z".len(), "{t}");
        assert!(
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).is_ok()
        );
        let ms = now_ms();
        assert!(ms > 1_767_225_600_000, "after 2026-01-01: {ms}");
    }

    #[test]
    fn monotonic_readings_never_tie_even_from_many_threads() {
        // A clock of its own: hammering the process's receipt clock would move it ahead of
        // the wall clock for the other tests of this binary.
        let clock = MonotonicMs::new();
        let readings: Vec<i64> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..2_000).map(|_| clock.next()).collect::<Vec<_>>()))
                .collect();
            threads
                .into_iter()
                .flat_map(|t| {
                    let mine = t.join().unwrap();
                    assert!(
                        mine.windows(2).all(|w| w[0] < w[1]),
                        "increasing per thread"
                    );
                    mine
                })
                .collect()
        });
        let mut sorted = readings.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), readings.len(), "no two alike");
        assert!(clock.next() >= now_ms());
        let (a, b) = (monotonic_ms(), monotonic_ms());
        assert!(a < b && a >= now_ms() - 1_000, "{a} {b}");
    }
}
