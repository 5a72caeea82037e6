//! The emulator's notion of "now": the system clock plus an offset tests can advance.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far ahead of the system clock the emulator clock may be moved: 1,000 years (timestamps
/// stay well inside what every SDK parses).
pub const MAX_OFFSET: Duration = Duration::from_secs(1000 * 365 * 86_400);

/// Errors moving the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The move would put the clock more than [`MAX_OFFSET`] ahead.
    #[error("the clock may be at most 31536000000 seconds (1000 years) ahead of the system clock")]
    TooFar,
}

/// A source of the current time in epoch seconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in epoch seconds (with a fractional part).
    fn now(&self) -> f64;
}

/// The system clock shifted by an adjustable offset; `advance` moves it forward (never backward),
/// `reset` puts it back at the system clock.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_micros: AtomicI64,
}

impl OffsetClock {
    /// A clock equal to the system clock.
    pub fn new() -> Self {
        Self::default()
    }
    /// Moves this clock forward by `by`, at most up to [`MAX_OFFSET`] ahead of the system clock.
    pub fn advance(&self, by: Duration) {
        let _ = self.try_advance(by);
    }
    /// Moves this clock forward by `by`, or (changing nothing) refuses when that would put it
    /// more than [`MAX_OFFSET`] ahead of the system clock.
    pub fn try_advance(&self, by: Duration) -> Result<(), ClockError> {
        let max = MAX_OFFSET.as_micros() as i64;
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        let mut refused = false;
        let _ = self
            .offset_micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                let next = now.saturating_add(micros);
                refused = next > max;
                Some(if refused { now } else { next })
            });
        if refused {
            return Err(ClockError::TooFar);
        }
        Ok(())
    }
    /// Puts this clock back at the system clock (the admin reset: fresh state for the next test).
    pub fn reset(&self) {
        self.offset_micros.store(0, Ordering::SeqCst);
    }
    /// The total time this clock was advanced by.
    pub fn offset(&self) -> Duration {
        Duration::from_micros(self.offset_micros.load(Ordering::SeqCst).max(0) as u64)
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> f64 {
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        sys.as_secs_f64() + self.offset_micros.load(Ordering::Relaxed) as f64 / 1e6
    }
}

/// A cloneable handle to the emulator's clock, given to tests so they can move time.
#[derive(Debug, Clone)]
pub struct ClockHandle(pub(crate) Arc<OffsetClock>);

impl ClockHandle {
    /// Moves the emulator's clock forward by `by` (recovery windows, version pruning, rotation schedules).
    pub fn advance(&self, by: Duration) {
        self.0.advance(by)
    }
    /// The emulator's current time in epoch seconds.
    pub fn now(&self) -> f64 {
        self.0.now()
    }
}

/// Rounds a timestamp down to midnight UTC (AWS keeps LastAccessedDate to the day).
pub fn day_floor(t: f64) -> f64 {
    (t / 86_400.0).floor() * 86_400.0
}

/// Rounds a timestamp to milliseconds, as AWS reports dates.
pub fn millis(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}
