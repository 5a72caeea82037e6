//! The write pacer: spaces writes to the destination at an adaptive rate (AIMD).
//!
//! - Additive increase: every successful write raises the rate by `increase_per_sec / rate`, so
//!   the rate grows by about `increase_per_sec` per second of uninterrupted success, up to the
//!   configured ceiling (AWS allows about 50 writes/s per account and region, which cannot be
//!   raised; the CLI uses that ceiling for the `aws` backend).
//! - Multiplicative decrease: a throttling (or other transient) answer multiplies the rate by
//!   `decrease_factor`, at most once per `decrease_cooldown` (the destination's quota window), so
//!   that one burst of rejections in flight does not collapse the rate.
//! - Without a ceiling the pacer delays nothing until the first throttling; it then starts from
//!   `decrease_factor` times the writes accepted in the last second, the best estimate of the
//!   destination's real limit.
//!
//! Time is tokio's clock, so tests run it paused (`start_paused`) instead of sleeping.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Tunables of the pacer.
#[derive(Debug, Clone, Copy)]
pub struct PacerConfig {
    /// Ceiling in writes per second; `None` = no ceiling until throttled.
    pub max_rate: Option<f64>,
    /// Lowest rate the pacer falls to.
    pub min_rate: f64,
    /// Rate increase per second of success.
    pub increase_per_sec: f64,
    /// Factor applied on throttling (0 < f < 1).
    pub decrease_factor: f64,
    /// At most one decrease per this interval.
    pub decrease_cooldown: Duration,
}

impl Default for PacerConfig {
    fn default() -> Self {
        Self {
            max_rate: None,
            min_rate: 1.0,
            increase_per_sec: 4.0,
            decrease_factor: 0.85,
            decrease_cooldown: Duration::from_secs(1),
        }
    }
}

#[derive(Debug)]
struct State {
    /// Current rate; `None` = unpaced (no ceiling, never throttled).
    rate: Option<f64>,
    next_slot: Instant,
    last_decrease: Option<Instant>,
    /// Successes of the last second, kept only while unpaced.
    recent: VecDeque<Instant>,
    throttle_events: u64,
}

/// Paces writes; shared by all workers of one migration.
#[derive(Debug)]
pub struct Pacer {
    config: PacerConfig,
    state: Mutex<State>,
}

impl Pacer {
    /// A pacer starting at the ceiling (or unpaced without one).
    pub fn new(config: PacerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State {
                rate: config.max_rate,
                next_slot: Instant::now(),
                last_decrease: None,
                recent: VecDeque::new(),
                throttle_events: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut s = self.lock();
            let Some(rate) = s.rate else { return };
            let now = Instant::now();
            let at = s.next_slot.max(now);
            s.next_slot = at + Duration::from_secs_f64(1.0 / rate);
            at
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Records a successful write (additive increase).
    pub fn on_success(&self) {
        let mut s = self.lock();
        match s.rate {
            None => {
                let now = Instant::now();
                s.recent.push_back(now);
                while s
                    .recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
                {
                    s.recent.pop_front();
                }
            }
            Some(rate) => {
                let mut next = rate + self.config.increase_per_sec / rate.max(1.0);
                if let Some(max) = self.config.max_rate {
                    next = next.min(max);
                }
                s.rate = Some(next);
            }
        }
    }

    /// Records a throttling or transient answer (multiplicative decrease).
    pub fn on_throttle(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        s.throttle_events += 1;
        let current = match s.rate {
            Some(r) => {
                if s.last_decrease
                    .is_some_and(|t| now.duration_since(t) < self.config.decrease_cooldown)
                {
                    return;
                }
                r
            }
            None => {
                let accepted = s.recent.len() as f64;
                s.recent = VecDeque::new();
                accepted
            }
        };
        let current = current.max(self.config.min_rate);
        s.rate = Some((current * self.config.decrease_factor).max(self.config.min_rate));
        s.last_decrease = Some(now);
        // Leave a gap after a rejection so the destination's bucket can refill.
        s.next_slot = s
            .next_slot
            .max(now + Duration::from_secs_f64(1.0 / current));
    }

    /// The current rate in writes per second (`None` = unpaced).
    pub fn rate(&self) -> Option<f64> {
        self.lock().rate
    }

    /// How many throttling answers were seen.
    pub fn throttle_events(&self) -> u64 {
        self.lock().throttle_events
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_writes_at_the_ceiling() {
        let p = Pacer::new(PacerConfig {
            max_rate: Some(10.0),
            ..PacerConfig::default()
        });
        let start = Instant::now();
        for _ in 0..21 {
            p.acquire().await;
            p.on_success();
        }
        let took = start.elapsed().as_secs_f64();
        assert!((1.9..=2.1).contains(&took), "took {took}");
        assert_eq!(p.rate(), Some(10.0));
    }

    #[tokio::test(start_paused = true)]
    async fn decreases_on_throttle_once_per_interval_then_recovers() {
        let p = Pacer::new(PacerConfig {
            max_rate: Some(50.0),
            ..PacerConfig::default()
        });
        p.on_throttle();
        p.on_throttle(); // same burst: ignored
        let r = p.rate().unwrap();
        assert!((r - 42.5).abs() < 1e-9, "{r}");
        for _ in 0..200 {
            p.acquire().await;
            p.on_success();
        }
        assert_eq!(p.rate(), Some(50.0));
        assert_eq!(p.throttle_events(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn unpaced_until_throttled() {
        let p = Pacer::new(PacerConfig::default());
        let start = Instant::now();
        for _ in 0..1000 {
            p.acquire().await;
            p.on_success();
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(p.rate(), None);
        p.on_throttle();
        // Starts from 0.85 × the writes accepted in the last second.
        assert!((p.rate().unwrap() - 850.0).abs() < 1e-6, "{:?}", p.rate());
    }
}
