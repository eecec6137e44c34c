//! Capped exponential backoff with jitter, the one retry pace of every client that tries
//! again by itself: the gateway reconnecting a slot, the LLM client, the Saipos client.
//!
//! The ceiling doubles per attempt from `base` up to `cap`; the delay is drawn uniformly
//! between half the ceiling and the ceiling ("equal jitter"). The random half spreads
//! clients that failed together (no thundering herd after an outage); the fixed half keeps
//! a floor under every wait, so a flapping network or a failing server is never hammered
//! with near-zero retries, which "full jitter" (anywhere from zero) would allow.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's wait (attempt 0); it doubles per attempt.
    pub base: Duration,
    /// No wait is longer than this.
    pub cap: Duration,
}

impl Backoff {
    /// Doubling from `base`, never above `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// Doubling from `base` without a cap (the caller bounds its attempts or waits).
    pub fn uncapped(base: Duration) -> Self {
        Self::new(base, Duration::MAX)
    }

    /// The ceiling of the wait before retry number `attempt`: `base × 2^attempt`, capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(1 << attempt.min(16)).min(self.cap)
    }

    /// How long to wait before retry number `attempt`: between half the ceiling and all of it.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.ceiling(attempt).mul_f64(0.5 + random_fraction() / 2.0)
    }
}

/// A uniform random number in [0, 1].
fn random_fraction() -> f64 {
    u32::from_le_bytes(crate::ids::random_bytes()) as f64 / u32::MAX as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_never_drop_below_half() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(800));
        assert_eq!(backoff.ceiling(4), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(1));
        for attempt in 0..20 {
            let ceiling = backoff.ceiling(attempt);
            let delay = backoff.delay(attempt);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{attempt}: {delay:?}"
            );
        }
        let uncapped = Backoff::uncapped(Duration::from_secs(1));
        assert_eq!(uncapped.ceiling(10), Duration::from_secs(1024));
        assert_eq!(uncapped.ceiling(40), Duration::from_secs(65_536));
    }
}
