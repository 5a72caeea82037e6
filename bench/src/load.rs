//! The AWS JSON 1.1 load generator: fixed concurrency, one keep-alive HTTP/1.1 connection per worker,
//! real SigV4 signatures, bounded by time and/or request count.
//!
//! Workloads: `seed` (CreateSecret `<prefix>-0..N`), `read` (GetSecretValue uniform over the N seeded names),
//! `write` (PutSecretValue uniform over N), `mixed` (90 % read / 10 % write), `create` (CreateSecret of fresh
//! names) and `migrate` (`create` one at a time, Grafana's migration pattern).

use crate::http1::Conn;
use crate::sigv4::{sha256_hex, Signer};
use crate::stats::{Recorder, RunResult};
use anyhow::{bail, Context};
use rand::Rng;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Access key id the load generator signs with (servers that verify SigV4 must know this pair).
pub const ACCESS_KEY_ID: &str = "AKIDBENCHMARK";
/// Secret access key the load generator signs with.
pub const SECRET_ACCESS_KEY: &str = "benchmark-secret-key";

/// What a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// CreateSecret for `<prefix>-0` .. `<prefix>-(N-1)`, each exactly once.
    Seed,
    /// GetSecretValue of a uniformly random seeded name.
    Read,
    /// PutSecretValue (a new version) of a uniformly random seeded name.
    Write,
    /// 90 % `read`, 10 % `write`.
    Mixed,
    /// CreateSecret of fresh, never-used names.
    Create,
    /// `create` with exactly one request in flight (Grafana migrates one secret at a time).
    Migrate,
}

impl FromStr for Workload {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "seed" => Self::Seed,
            "read" => Self::Read,
            "write" => Self::Write,
            "mixed" => Self::Mixed,
            "create" => Self::Create,
            "migrate" => Self::Migrate,
            other => {
                bail!("unknown workload {other:?} (seed, read, write, mixed, create, migrate)")
            }
        })
    }
}

impl Workload {
    /// The name used in the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Seed => "seed",
            Self::Read => "read",
            Self::Write => "write",
            Self::Mixed => "mixed",
            Self::Create => "create",
            Self::Migrate => "migrate",
        }
    }
}

/// A run's parameters.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `host:port` of the server.
    pub addr: String,
    /// Label of the server in the output.
    pub target: String,
    /// What to send.
    pub workload: Workload,
    /// Workers, each with its own connection and one request in flight.
    pub concurrency: usize,
    /// Stop sending after this long (seed ignores it only when `duration` is zero).
    pub duration: Duration,
    /// Stop after this many requests in total (0 = no limit; seed always stops at `n`).
    pub max_requests: u64,
    /// Size of the seeded keyspace.
    pub n: u64,
    /// Secret name prefix of the keyspace.
    pub prefix: String,
    /// Bytes of each SecretString.
    pub value_size: usize,
    /// Region of the SigV4 credential scope.
    pub region: String,
}

enum Op {
    Create(String),
    Get(String),
    Put(String),
}

struct Shared {
    cfg: LoadConfig,
    issued: AtomicU64,
    run_id: String,
    deadline: Option<Instant>,
}

impl Shared {
    /// The next operation, or None when the run is over.
    fn next_op(&self, rng: &mut impl Rng) -> Option<Op> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let i = self.issued.fetch_add(1, Ordering::Relaxed);
        let cfg = &self.cfg;
        if cfg.max_requests > 0 && i >= cfg.max_requests {
            return None;
        }
        let n = cfg.n.max(1);
        Some(match cfg.workload {
            Workload::Seed if i >= cfg.n => return None,
            Workload::Seed => Op::Create(format!("{}-{i}", cfg.prefix)),
            Workload::Create | Workload::Migrate => {
                Op::Create(format!("{}-{}-{i}", cfg.prefix, self.run_id))
            }
            Workload::Read => Op::Get(format!("{}-{}", cfg.prefix, rng.gen_range(0..n))),
            Workload::Write => Op::Put(format!("{}-{}", cfg.prefix, rng.gen_range(0..n))),
            Workload::Mixed if rng.gen_range(0..10) == 0 => {
                Op::Put(format!("{}-{}", cfg.prefix, rng.gen_range(0..n)))
            }
            Workload::Mixed => Op::Get(format!("{}-{}", cfg.prefix, rng.gen_range(0..n))),
        })
    }
}

fn value(size: usize, rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let fill = size.saturating_sub(16).max(1);
    let pw: String = (0..fill)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{{\"password\":\"{pw}\"}}")
}

fn token(rng: &mut impl Rng) -> String {
    let bytes: [u8; 16] = rng.gen();
    hex::encode(bytes)
}

/// Request bodies (serialized without building a JSON tree).
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Get {
        #[serde(rename = "SecretId")]
        secret_id: &'a str,
    },
    Create {
        #[serde(rename = "Name")]
        name: &'a str,
        #[serde(rename = "SecretString")]
        secret_string: String,
        #[serde(rename = "ClientRequestToken")]
        token: String,
    },
    Put {
        #[serde(rename = "SecretId")]
        secret_id: &'a str,
        #[serde(rename = "SecretString")]
        secret_string: String,
        #[serde(rename = "ClientRequestToken")]
        token: String,
    },
}

/// (X-Amz-Target, JSON body) of an operation.
fn encode(op: &Op, cfg: &LoadConfig, rng: &mut impl Rng) -> (&'static str, String) {
    let (target, body) = match op {
        Op::Get(name) => (
            "secretsmanager.GetSecretValue",
            Body::Get { secret_id: name },
        ),
        Op::Create(name) => (
            "secretsmanager.CreateSecret",
            Body::Create {
                name,
                secret_string: value(cfg.value_size, rng),
                token: token(rng),
            },
        ),
        Op::Put(name) => (
            "secretsmanager.PutSecretValue",
            Body::Put {
                secret_id: name,
                secret_string: value(cfg.value_size, rng),
                token: token(rng),
            },
        ),
    };
    // serializing strings into a String cannot fail
    (target, serde_json::to_string(&body).unwrap_or_default())
}

/// `X-Amz-Date` of the current second, formatted once per second.
#[derive(Default)]
struct AmzDate {
    second: i64,
    text: String,
}

impl AmzDate {
    fn now(&mut self) -> &str {
        let now = chrono::Utc::now();
        if now.timestamp() != self.second || self.text.is_empty() {
            self.second = now.timestamp();
            self.text = now.format("%Y%m%dT%H%M%SZ").to_string();
        }
        &self.text
    }
}

/// The error kind of a failed answer: `http<status>:<__type>`.
fn error_kind(status: u16, header_type: Option<&str>, body: &[u8]) -> String {
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("__type").and_then(|t| t.as_str()).map(str::to_owned));
    let raw = from_body
        .or_else(|| header_type.map(str::to_owned))
        .unwrap_or_default();
    // AWS may qualify the type (`ns#Type` or `Type:detail`); keep the bare type.
    let bare = raw
        .rsplit('#')
        .next()
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("");
    if bare.is_empty() {
        format!("http{status}")
    } else {
        format!("http{status}:{bare}")
    }
}

async fn worker(shared: Arc<Shared>, seed: u64) -> (Recorder, u64) {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let cfg = &shared.cfg;
    let mut signer = Signer::new(
        "AKIDBENCHMARK",
        "benchmark-secret-key",
        &cfg.region,
        "secretsmanager",
    );
    let mut date = AmzDate::default();
    let mut rec = Recorder::default();
    let mut reconnects = 0u64;
    let mut conn: Option<Conn> = None;
    let mut ever_connected = false;
    while let Some(op) = shared.next_op(&mut rng) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::connect(&cfg.addr).await {
                Ok(c) => {
                    if ever_connected {
                        reconnects += 1;
                    }
                    ever_connected = true;
                    conn.insert(c)
                }
                Err(_) => {
                    rec.error("io:connect");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let (target, body) = encode(&op, cfg, &mut rng);
        let amz_date = date.now();
        let hash = sha256_hex(body.as_bytes());
        let ctype = "application/x-amz-json-1.1";
        let auth = signer.authorization(
            "POST",
            "/",
            &[
                ("content-type", ctype),
                ("host", &cfg.addr),
                ("x-amz-date", amz_date),
                ("x-amz-target", target),
            ],
            amz_date,
            &hash,
        );
        let headers = [
            ("host", cfg.addr.as_str()),
            ("content-type", ctype),
            ("x-amz-date", amz_date),
            ("x-amz-target", target),
            ("authorization", auth.as_str()),
        ];
        let started = Instant::now();
        let close = match c.post(&headers, body.as_bytes()).await {
            Ok(a) if a.status == 200 => {
                rec.ok(started.elapsed());
                a.close
            }
            Ok(a) => {
                rec.error(error_kind(a.status, a.error_type.as_deref(), a.body));
                a.close
            }
            Err(e) => {
                rec.error(match e.kind() {
                    std::io::ErrorKind::InvalidData => "io:answer",
                    _ => "io:send",
                });
                true
            }
        };
        if close {
            conn = None;
        }
    }
    (rec, reconnects)
}

/// Runs one workload and returns its result line.
pub async fn run(cfg: LoadConfig) -> anyhow::Result<RunResult> {
    let concurrency = match cfg.workload {
        Workload::Migrate => 1,
        _ => cfg.concurrency.max(1),
    };
    if matches!(
        cfg.workload,
        Workload::Read | Workload::Write | Workload::Mixed | Workload::Seed
    ) && cfg.n == 0
    {
        bail!(
            "--n must be at least 1 for the {} workload",
            cfg.workload.name()
        );
    }
    let run_id = format!("{:x}", rand::thread_rng().gen::<u32>());
    let started = Instant::now();
    let deadline = (!cfg.duration.is_zero()).then(|| started + cfg.duration);
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        issued: AtomicU64::new(0),
        run_id,
        deadline,
    });
    let mut handles = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let seed = rand::thread_rng().gen::<u64>() ^ w as u64;
        handles.push(tokio::spawn(worker(shared.clone(), seed)));
    }
    let mut all = Recorder::default();
    let mut reconnects = 0;
    for h in handles {
        let (rec, r) = h.await.context("worker panicked")?;
        all.merge(rec);
        reconnects += r;
    }
    let elapsed = started.elapsed();
    let mut result = all.summary(&cfg.target, cfg.workload.name(), concurrency, elapsed);
    result.extra.insert("reconnects".into(), reconnects as f64);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_keep_the_bare_type() {
        let body =
            br#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","Message":"x"}"#;
        assert_eq!(
            error_kind(400, None, body),
            "http400:ResourceNotFoundException"
        );
        assert_eq!(
            error_kind(400, Some("ThrottlingException:http://x"), b"<html>"),
            "http400:ThrottlingException"
        );
        assert_eq!(error_kind(500, None, b"<html>"), "http500");
    }

    #[test]
    fn workloads_parse_and_reject_unknown() {
        assert_eq!("mixed".parse::<Workload>().ok(), Some(Workload::Mixed));
        assert!("readwrite".parse::<Workload>().is_err());
    }
}
