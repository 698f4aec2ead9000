//! Per-source rate limit of the audit intake: a token bucket of events per client identity.
//!
//! A batch of `n` events takes `n` tokens from its source's bucket, which refills at
//! `events_per_second` up to `burst`. A batch larger than the burst is let through when the
//! bucket is full and leaves it in debt, so a sender of big batches is held to the same long-run
//! rate instead of being refused forever. Over the limit the intake answers 429 with the time
//! until the batch would fit as `Retry-After`.
//!
//! Memory is bounded: at most `max_sources` buckets. When the map is full, buckets that have
//! refilled completely (idle sources: they hold no state worth keeping) are removed; if every
//! tracked source is still active, a new source shares one overflow bucket, so it is still
//! limited, never unlimited.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limit per source.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitConfig {
    /// Sustained events per second per source (> 0).
    pub events_per_second: f64,
    /// Events a source may send at once after being idle (≥ 1).
    pub burst: f64,
    /// Most sources tracked individually; the rest share one bucket.
    pub max_sources: usize,
}

impl RateLimitConfig {
    /// `events_per_second` with the given burst and room for 10,000 sources.
    pub fn new(events_per_second: u32, burst: u32) -> Self {
        Self {
            events_per_second: f64::from(events_per_second.max(1)),
            burst: f64::from(burst.max(1)),
            max_sources: 10_000,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(cfg: &RateLimitConfig, now: Instant) -> Self {
        Self {
            tokens: cfg.burst,
            updated: now,
        }
    }

    fn refill(&mut self, cfg: &RateLimitConfig, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * cfg.events_per_second).min(cfg.burst);
        self.updated = now;
    }

    /// Takes `events` tokens, or says how long until there are enough.
    fn take(&mut self, cfg: &RateLimitConfig, events: f64, now: Instant) -> Result<(), Duration> {
        self.refill(cfg, now);
        let needed = events.min(cfg.burst);
        if self.tokens >= needed {
            self.tokens -= events;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (needed - self.tokens) / cfg.events_per_second,
            ))
        }
    }

    fn is_full_at(&self, cfg: &RateLimitConfig, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens + elapsed * cfg.events_per_second >= cfg.burst
    }
}

struct Buckets {
    by_source: HashMap<String, Bucket>,
    overflow: Option<Bucket>,
}

/// Token buckets by source identity.
pub struct RateLimiter {
    cfg: RateLimitConfig,
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    /// An empty limiter.
    pub fn new(cfg: RateLimitConfig) -> Self {
        Self {
            cfg,
            buckets: Mutex::new(Buckets {
                by_source: HashMap::new(),
                overflow: None,
            }),
        }
    }

    /// The limit it applies.
    pub fn config(&self) -> &RateLimitConfig {
        &self.cfg
    }

    /// Charges `events` to `source` at `now`: `Ok` when allowed, else the wait before a retry
    /// can succeed.
    pub fn check(&self, source: &str, events: u64, now: Instant) -> Result<(), Duration> {
        let cfg = &self.cfg;
        let events = events as f64;
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = b.by_source.get_mut(source) {
            return bucket.take(cfg, events, now);
        }
        if b.by_source.len() >= cfg.max_sources {
            b.by_source.retain(|_, bucket| !bucket.is_full_at(cfg, now));
        }
        if b.by_source.len() >= cfg.max_sources {
            return b
                .overflow
                .get_or_insert_with(|| Bucket::full(cfg, now))
                .take(cfg, events, now);
        }
        let mut bucket = Bucket::full(cfg, now);
        let result = bucket.take(cfg, events, now);
        b.by_source.insert(source.to_owned(), bucket);
        result
    }

    /// Sources tracked individually right now.
    pub fn tracked_sources(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_source
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, burst: u32, max_sources: usize) -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            max_sources,
            ..RateLimitConfig::new(rate, burst)
        })
    }

    #[test]
    fn burst_then_the_sustained_rate() {
        let l = limiter(100, 500, 10);
        let t0 = Instant::now();
        assert_eq!(l.check("a", 400, t0), Ok(()));
        // 100 left: a second batch of 400 must wait for 300 more tokens, 3 s.
        assert_eq!(l.check("a", 400, t0), Err(Duration::from_secs(3)));
        assert_eq!(l.check("a", 400, t0 + Duration::from_secs(3)), Ok(()));
        // Other sources have their own bucket.
        assert_eq!(l.check("b", 500, t0), Ok(()));
        let wait = l.check("b", 1, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.01).abs() < 1e-9, "{wait:?}");
    }

    #[test]
    fn a_batch_larger_than_the_burst_passes_once_full_and_leaves_debt() {
        let l = limiter(100, 500, 10);
        let t0 = Instant::now();
        assert_eq!(l.check("a", 2000, t0), Ok(()));
        // -1500 tokens: 20 s until 500 are back.
        assert_eq!(l.check("a", 2000, t0), Err(Duration::from_secs(20)));
        assert!(l.check("a", 2000, t0 + Duration::from_secs(19)).is_err());
        assert_eq!(l.check("a", 2000, t0 + Duration::from_secs(20)), Ok(()));
    }

    #[test]
    fn memory_is_bounded_idle_sources_are_evicted_and_the_rest_share_a_bucket() {
        let l = limiter(10, 10, 2);
        let t0 = Instant::now();
        assert_eq!(l.check("a", 10, t0), Ok(()));
        assert_eq!(l.check("b", 10, t0), Ok(()));
        // Both still active: "c" and "d" share the overflow bucket.
        assert_eq!(l.check("c", 10, t0), Ok(()));
        assert!(l.check("d", 1, t0).is_err(), "overflow bucket is shared");
        assert_eq!(l.tracked_sources(), 2);
        // After a second both buckets are full again (idle): evicted, "d" gets its own.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(l.check("d", 10, t1), Ok(()));
        assert_eq!(l.tracked_sources(), 1);
    }
}
