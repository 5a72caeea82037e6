//! The request log behind the console: a bounded ring buffer of the last API requests (operation,
//! scope, secret id, status, error type, latency, durable-sync wait; never a value) and per-second
//! totals of the last two minutes for the live charts.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// How many requests the log keeps (older ones are dropped first).
pub const LOG_CAPACITY: usize = 1000;
/// How many seconds of per-second totals are kept.
pub const SERIES_SECONDS: usize = 120;
/// Longest secret id kept in a record (names are at most 512 characters; ids are shortened).
const MAX_ID_CHARS: usize = 256;

/// What the server learns about an API request while it runs (filled in by `server::aws`).
#[derive(Debug, Default)]
pub struct RequestNote {
    /// Operation name, once the target header named a known operation.
    pub op: Option<&'static str>,
    /// Caller's account, once the Authorization header was read.
    pub account: Option<String>,
    /// Caller's region, once the Authorization header was read.
    pub region: Option<String>,
    /// `SecretId` (or `Name` for CreateSecret) of the request, once the body was parsed.
    pub secret: Option<String>,
    /// Time spent waiting for the write-ahead log to be synced (requests that wrote).
    pub sync_micros: Option<u64>,
}

impl RequestNote {
    /// Notes the secret a request names (`SecretId`, else `Name`), shortened to a bounded length.
    pub fn note_secret(&mut self, id: Option<&str>) {
        self.secret = id.map(|s| match s.char_indices().nth(MAX_ID_CHARS) {
            Some((cut, _)) => format!("{}…", &s[..cut]),
            None => s.to_string(),
        });
    }
}

/// One logged API request. It holds identifiers and figures only, never a secret value.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    /// Position in the log (increasing from 1 since start).
    pub seq: u64,
    /// Wall-clock time the answer was sent, epoch milliseconds.
    pub at_ms: u64,
    /// Operation (None: the request named no known operation).
    pub op: Option<&'static str>,
    /// Caller's account (None: the request was refused before its credentials were read).
    pub account: Option<String>,
    /// Caller's region.
    pub region: Option<String>,
    /// Secret named by the request.
    pub secret: Option<String>,
    /// HTTP status of the answer.
    pub status: u16,
    /// AWS error type of a failed request (`X-Amzn-ErrorType`).
    pub error: Option<String>,
    /// Time from the request's arrival to its answer, microseconds.
    pub micros: u64,
    /// Durable-sync wait within `micros`, for requests that wrote.
    pub sync_micros: Option<u64>,
}

/// Totals of one second.
#[derive(Debug, Clone, Copy, Default)]
struct Second {
    /// Epoch second these totals belong to.
    at: u64,
    requests: u64,
    errors: u64,
    throttled: u64,
    latency_sum: u64,
    writes: u64,
    sync_sum: u64,
    sync_max: u64,
}

#[derive(Debug)]
struct Inner {
    records: VecDeque<RequestRecord>,
    next_seq: u64,
    seconds: [Second; SERIES_SECONDS],
}

/// The request log: written once per API request, read by the console's admin endpoints.
#[derive(Debug)]
pub struct RequestLog {
    inner: Mutex<Inner>,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog {
            inner: Mutex::new(Inner {
                records: VecDeque::with_capacity(LOG_CAPACITY),
                next_seq: 1,
                seconds: [Second::default(); SERIES_SECONDS],
            }),
        }
    }
}

/// A page of the log: records after a sequence number, oldest first.
#[derive(Debug, Serialize)]
pub struct LogPage {
    /// The records.
    pub records: Vec<RequestRecord>,
    /// The highest sequence number handed out so far (ask for records after it next time).
    pub last_seq: u64,
    /// How many records the log keeps.
    pub capacity: usize,
}

/// Per-second totals, oldest second first (one entry per second, zeros where nothing happened).
#[derive(Debug, Serialize, Default)]
pub struct Series {
    /// Epoch second of each entry.
    pub at: Vec<u64>,
    /// API requests answered.
    pub requests: Vec<u64>,
    /// Requests answered with an error other than throttling.
    pub errors: Vec<u64>,
    /// Requests answered with ThrottlingException.
    pub throttled: Vec<u64>,
    /// Mean latency in milliseconds (0 without requests).
    pub latency_ms: Vec<f64>,
    /// Requests that wrote and waited for the durable sync.
    pub writes: Vec<u64>,
    /// Mean durable-sync wait of those writes, milliseconds.
    pub sync_mean_ms: Vec<f64>,
    /// Longest durable-sync wait of those writes, milliseconds.
    pub sync_max_ms: Vec<f64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl RequestLog {
    /// Records one answered request (called by the server for every API request).
    pub fn record(&self, note: RequestNote, status: u16, error: Option<String>, micros: u64) {
        let at_ms = now_ms();
        let sec = at_ms / 1000;
        let throttled = error.as_deref() == Some("ThrottlingException");
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *g;
        let slot = &mut inner.seconds[(sec % SERIES_SECONDS as u64) as usize];
        if slot.at != sec {
            *slot = Second {
                at: sec,
                ..Second::default()
            };
        }
        slot.requests += 1;
        slot.latency_sum += micros;
        if throttled {
            slot.throttled += 1;
        } else if status >= 400 {
            slot.errors += 1;
        }
        if let Some(w) = note.sync_micros {
            slot.writes += 1;
            slot.sync_sum += w;
            slot.sync_max = slot.sync_max.max(w);
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        if inner.records.len() == LOG_CAPACITY {
            inner.records.pop_front();
        }
        inner.records.push_back(RequestRecord {
            seq,
            at_ms,
            op: note.op,
            account: note.account,
            region: note.region,
            secret: note.secret,
            status,
            error,
            micros,
            sync_micros: note.sync_micros,
        });
    }

    /// Up to `limit` records with a sequence number above `after`, oldest first (the newest ones
    /// when more than `limit` qualify).
    pub fn page(&self, after: u64, limit: usize) -> LogPage {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let newer = g.records.iter().rev().take_while(|r| r.seq > after).count();
        let take = newer.min(limit);
        let records = g
            .records
            .iter()
            .skip(g.records.len() - take)
            .cloned()
            .collect();
        LogPage {
            records,
            last_seq: g.next_seq - 1,
            capacity: LOG_CAPACITY,
        }
    }

    /// Per-second totals of the last [`SERIES_SECONDS`] seconds up to now.
    pub fn series(&self) -> Series {
        self.series_until(now_ms() / 1000)
    }

    fn series_until(&self, now_sec: u64) -> Series {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Series::default();
        let first = now_sec.saturating_sub(SERIES_SECONDS as u64 - 1);
        for sec in first..=now_sec {
            let slot = g.seconds[(sec % SERIES_SECONDS as u64) as usize];
            let s = if slot.at == sec {
                slot
            } else {
                Second::default()
            };
            let mean = |sum: u64, n: u64| {
                if n == 0 {
                    0.0
                } else {
                    sum as f64 / n as f64 / 1000.0
                }
            };
            out.at.push(sec);
            out.requests.push(s.requests);
            out.errors.push(s.errors);
            out.throttled.push(s.throttled);
            out.latency_ms.push(mean(s.latency_sum, s.requests));
            out.writes.push(s.writes);
            out.sync_mean_ms.push(mean(s.sync_sum, s.writes));
            out.sync_max_ms.push(s.sync_max as f64 / 1000.0);
        }
        out
    }

    /// Forgets every record and total (admin reset).
    pub fn clear(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.records.clear();
        g.seconds = [Second::default(); SERIES_SECONDS];
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn note(op: &'static str, sync: Option<u64>) -> RequestNote {
        RequestNote {
            op: Some(op),
            sync_micros: sync,
            ..RequestNote::default()
        }
    }

    #[test]
    fn keeps_the_newest_records_up_to_its_capacity() {
        let log = RequestLog::default();
        for _ in 0..LOG_CAPACITY + 5 {
            log.record(note("GetSecretValue", None), 200, None, 10);
        }
        let all = log.page(0, usize::MAX);
        assert_eq!(all.records.len(), LOG_CAPACITY);
        assert_eq!(all.records[0].seq, 6);
        assert_eq!(all.last_seq, (LOG_CAPACITY + 5) as u64);
        let tail = log.page(all.last_seq - 3, 2);
        let seqs: Vec<u64> = tail.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [all.last_seq - 1, all.last_seq]);
        assert!(log.page(all.last_seq, 10).records.is_empty());
    }

    #[test]
    fn series_counts_errors_throttles_and_sync_waits_per_second() {
        let log = RequestLog::default();
        log.record(note("PutSecretValue", Some(2000)), 200, None, 3000);
        log.record(note("PutSecretValue", Some(4000)), 200, None, 5000);
        log.record(
            note("GetSecretValue", None),
            400,
            Some("ThrottlingException".into()),
            100,
        );
        log.record(
            note("GetSecretValue", None),
            400,
            Some("ResourceNotFoundException".into()),
            100,
        );
        let s = log.series();
        assert_eq!(s.at.len(), SERIES_SECONDS);
        // the four records may straddle a second boundary: compare sums
        assert_eq!(s.requests.iter().sum::<u64>(), 4);
        assert_eq!(s.throttled.iter().sum::<u64>(), 1);
        assert_eq!(s.errors.iter().sum::<u64>(), 1);
        assert_eq!(s.writes.iter().sum::<u64>(), 2);
        let max = s.sync_max_ms.iter().cloned().fold(0.0, f64::max);
        assert_eq!(max, 4.0);
        // seconds older than the window are not reported
        let later = log.series_until(s.at[SERIES_SECONDS - 1] + SERIES_SECONDS as u64);
        assert_eq!(later.requests.iter().sum::<u64>(), 0);
    }

    #[test]
    fn long_secret_ids_are_shortened() {
        let mut n = RequestNote::default();
        n.note_secret(Some(&"a".repeat(600)));
        assert_eq!(n.secret.as_deref().map(|s| s.chars().count()), Some(257));
        n.note_secret(Some("short"));
        assert_eq!(n.secret.as_deref(), Some("short"));
    }
}
