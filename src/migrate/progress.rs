//! Progress display: an indicatif bar with rate and ETA when stderr is a terminal, plain
//! `progress:` lines (at most one a second) otherwise, nothing when quiet.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Plain lines on stderr.
    Plain,
    /// Nothing.
    Quiet,
}

/// Progress of one phase.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    label: &'static str,
    total: AtomicU64,
    done: AtomicU64,
    start: Instant,
    last_line: Mutex<Instant>,
}

impl Progress {
    /// Starts showing a phase of `total` steps.
    pub fn start(mode: Mode, label: &'static str, total: u64) -> Self {
        let use_bar = mode == Mode::Auto && std::io::stderr().is_terminal();
        let bar = use_bar.then(|| {
            let b = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{msg:>8} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            b.set_style(style);
            b.set_message(label);
            b
        });
        let now = Instant::now();
        Self {
            bar,
            plain: mode != Mode::Quiet && !use_bar,
            label,
            total: AtomicU64::new(total),
            done: AtomicU64::new(0),
            start: now,
            last_line: Mutex::new(now),
        }
    }

    /// `n` more steps to do (the total grows while the work is still being discovered).
    pub fn add_total(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc_length(n);
        }
    }

    /// One more step done.
    pub fn inc(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(b) = &self.bar {
            b.inc(1);
        } else if self.plain {
            let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() >= Duration::from_secs(1)
                || done == self.total.load(Ordering::Relaxed)
            {
                *last = Instant::now();
                eprintln!("{}", self.line(done));
            }
        }
    }

    fn line(&self, done: u64) -> String {
        let secs = self.start.elapsed().as_secs_f64().max(1e-6);
        let rate = done as f64 / secs;
        let total = self.total.load(Ordering::Relaxed);
        let eta = if rate > 0.0 {
            format!("{:.0}s", (total.saturating_sub(done)) as f64 / rate)
        } else {
            "?".into()
        };
        format!(
            "progress: {} {done}/{total} ({rate:.0}/s, ETA {eta})",
            self.label
        )
    }

    /// Ends the phase.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}
