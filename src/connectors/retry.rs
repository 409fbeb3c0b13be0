//! Retrying a service: capped exponential backoff with jitter.
//!
//! KDA retried a destination that could not be written forever, which stalls the application
//! (backpressure) but loses nothing; so does rowtime by default. `--max-delivery-retries N`
//! gives up on a record after N failed attempts and reports it in `error_stream` instead.

use std::time::Duration;

/// The delays between attempts: `first`, doubling, at most `cap`, each with up to a quarter of
/// random jitter so that many clients do not retry in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff {
            first,
            cap,
            attempt: 0,
        }
    }

    /// For delivery: 100 ms doubling up to 10 s.
    pub fn delivery() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(10))
    }

    /// Failed attempts so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt, counting one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(30));
        self.attempt = self.attempt.saturating_add(1);
        let base = self.first.saturating_mul(factor).min(self.cap);
        let jitter = base.mul_f64(fastrand_fraction() * 0.25);
        (base + jitter).min(self.cap)
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A number in [0, 1) that differs between calls (the clock's low bits, mixed): jitter needs no
/// quality, only that two clients do not draw the same sequence.
fn fastrand_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0) as u64;
    let mut x = nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// How many failed attempts a record may have before it goes to `error_stream`; `None` retries
/// forever (KDA's behaviour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryLimit(pub Option<u32>);

impl RetryLimit {
    /// Whether a record that has failed `attempts` times is given up.
    pub fn exhausted(&self, attempts: u32) -> bool {
        self.0.is_some_and(|max| attempts > max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let base = Duration::from_millis(100 * (1 << i)).min(Duration::from_secs(1));
            assert!(
                *d >= base && *d <= Duration::from_secs(1).max(base),
                "{i}: {d:?}"
            );
        }
        assert_eq!(*delays.last().unwrap(), Duration::from_secs(1));
        assert_eq!(b.attempts(), 8);
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(126));
    }

    #[test]
    fn a_limit_counts_failed_attempts() {
        assert!(!RetryLimit(None).exhausted(1_000_000));
        assert!(!RetryLimit(Some(3)).exhausted(3));
        assert!(RetryLimit(Some(3)).exhausted(4));
        assert!(RetryLimit(Some(0)).exhausted(1));
    }
}
