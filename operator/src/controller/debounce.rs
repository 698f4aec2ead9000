//! Debouncing change notifications: many watch events in a burst become one re-evaluation.
//!
//! [`Debouncer`] is the pure decision (times are inputs); [`debounced`] drives it over a stream
//! of change ticks. A burst fires once the stream has been quiet for `quiet`, and at the latest
//! `max` after the first event of the burst, so a steady trickle of changes cannot starve
//! evaluation.

use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::time::Instant;

/// Default quiet period.
pub const QUIET: Duration = Duration::from_millis(500);
/// Default longest delay after the first event of a burst.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// Pure debounce state.
#[derive(Clone, Debug)]
pub struct Debouncer {
    quiet: Duration,
    max: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Debouncer {
    /// A debouncer firing after `quiet` without events, or `max` after the first event.
    pub fn new(quiet: Duration, max: Duration) -> Self {
        Self {
            quiet,
            max,
            first: None,
            last: None,
        }
    }

    /// Records an event at `now`.
    pub fn event(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When the pending burst should fire; `None` when nothing is pending.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.first, self.last) {
            (Some(first), Some(last)) => Some((last + self.quiet).min(first + self.max)),
            _ => None,
        }
    }

    /// Whether the pending burst fires at `now`; firing clears it.
    pub fn poll(&mut self, now: Instant) -> bool {
        match self.deadline() {
            Some(d) if now >= d => {
                self.first = None;
                self.last = None;
                true
            }
            _ => false,
        }
    }
}

/// Turns a stream of change ticks into a debounced stream of ticks. Ends when the input ends
/// (after firing what is pending).
pub fn debounced<S>(input: S, quiet: Duration, max: Duration) -> impl Stream<Item = ()> + Send
where
    S: Stream<Item = ()> + Send + Unpin + 'static,
{
    futures::stream::unfold(
        (input, Debouncer::new(quiet, max), false),
        move |(mut input, mut state, mut ended)| async move {
            loop {
                if ended {
                    return state
                        .poll(Instant::now() + max)
                        .then_some(((), (input, state, true)));
                }
                match state.deadline() {
                    None => match input.next().await {
                        Some(()) => state.event(Instant::now()),
                        None => ended = true,
                    },
                    Some(deadline) => {
                        tokio::select! {
                            next = input.next() => match next {
                                Some(()) => state.event(Instant::now()),
                                None => ended = true,
                            },
                            () = tokio::time::sleep_until(deadline) => {
                                if state.poll(Instant::now()) {
                                    return Some(((), (input, state, ended)));
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn quiet_period_fires_once() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(ms(500), ms(2000));
        assert_eq!(d.deadline(), None);
        d.event(t0);
        d.event(t0 + ms(100));
        assert_eq!(d.deadline(), Some(t0 + ms(600)));
        assert!(!d.poll(t0 + ms(599)));
        assert!(d.poll(t0 + ms(600)));
        assert!(!d.poll(t0 + ms(5000)), "fires once per burst");
    }

    #[test]
    fn steady_trickle_fires_at_max() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(ms(500), ms(2000));
        let mut fired = Vec::new();
        for i in 0..50u64 {
            let now = t0 + ms(i * 100);
            if d.poll(now) {
                fired.push(i * 100);
            }
            d.event(now);
        }
        assert_eq!(fired, vec![2000, 4000]);
    }

    #[tokio::test(start_paused = true)]
    async fn stream_coalesces_a_burst() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<()>();
        let out = debounced(rx, ms(500), ms(2000));
        futures::pin_mut!(out);
        let start = Instant::now();
        for _ in 0..10 {
            tx.unbounded_send(()).unwrap();
        }
        out.next().await.unwrap();
        let waited = start.elapsed();
        assert!(waited >= ms(500) && waited < ms(600), "{waited:?}");
        drop(tx);
        assert!(out.next().await.is_none());
    }
}
