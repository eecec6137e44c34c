//! What the benches print: latency samples summed up as percentiles in milliseconds, with
//! one rule for picking a percentile out of the sorted samples (the sample at index ⌊n·p⌋,
//! the last one for p = 1), so that every bench's p50/p99/max mean the same thing.

use std::time::Duration;

/// Latency samples, sorted.
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort();
        Self(samples)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p` percentile (0.0 to 1.0) in milliseconds.
    pub fn ms(&self, p: f64) -> f64 {
        let i = ((self.0.len() as f64 * p) as usize).min(self.0.len() - 1);
        self.0[i].as_secs_f64() * 1000.0
    }

    /// `n=… p50=… ms  p99=… ms  max=… ms`, the figures every bench prints.
    pub fn summary(&self) -> String {
        format!(
            "n={:<6} p50={:.3} ms  p99={:.3} ms  max={:.3} ms",
            self.len(),
            self.ms(0.50),
            self.ms(0.99),
            self.ms(1.0)
        )
    }
}

/// Prints `label` and the summary of `samples` on one line.
pub fn report(label: &str, samples: Vec<Duration>) {
    println!("{label:<58} {}", Latencies::new(samples).summary());
}
