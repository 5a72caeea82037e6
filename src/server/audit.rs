//! The audit log: one JSON line per RPC (time, operation, key, outcome, latency, backend, cache
//! hit or miss, caller; never a value), each line carrying the SHA-256 of its own text and the
//! hash of the line before it, so that a removed, reordered or edited line breaks the chain.
//! Lines go to a file (0600, rotated by size, the chain continuing across files) or to stderr in
//! hclog's shape. [`verify`] checks files written here (`secrets-broker audit verify`).
//!
//! A line for a write (SetSecret, DeleteSecret, RenameSecret) is on disk (fdatasync) before the
//! RPC answers; when the line cannot be written the RPC fails, so no acknowledged write is left
//! without its line.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::logging;
use crate::config::AuditTarget;

/// The `prev` of a chain's first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Every line ends with this field and the 64 hex digits of its hash, then `"}`.
const HASH_FIELD: &str = ",\"hash\":\"";
/// Length of the `,"hash":"<64 hex>"}` tail of a line.
const HASH_TAIL_LEN: usize = HASH_FIELD.len() + 64 + 2;

/// How much of a file's end is read to find its last line when the log is reopened.
const TAIL_SCAN: u64 = 256 * 1024;

/// A failure to open or append to the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading, writing, syncing or rotating the file failed.
    #[error("audit log {path}: {action}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The file's last line is not a line this log wrote, so the chain cannot be continued.
    #[error(
        "audit log {path}: its last line is not an audit line ({problem}); move the file aside to start a new chain, after checking it with `secrets-broker audit verify`"
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong with the line.
        problem: String,
    },
}

/// What one RPC did, as the audit line records it.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The RPC (`GetSecret` …).
    pub operation: &'static str,
    /// The key's org, as the request gave it (absent for GetAllSecrets).
    pub org_id: Option<i64>,
    /// The key's namespace (or the list filter's), as the request gave it.
    pub namespace: Option<String>,
    /// The key's type (or the list filter's).
    pub kind: Option<String>,
    /// RenameSecret's target namespace.
    pub new_namespace: Option<String>,
    /// ListSecrets across all organizations.
    pub all_organizations: Option<bool>,
    /// `found`, `absent`, `ok`, `rejected` or `error`; list calls `N keys`.
    pub outcome: String,
    /// The error's kind when the outcome is `error` or `rejected` (never its text: texts can
    /// quote backend messages).
    pub error: Option<&'static str>,
    /// Microseconds from the request's arrival to the answer.
    pub latency_us: u64,
    /// `hit` or `miss` when a read cache answered or was consulted.
    pub cache: Option<&'static str>,
    /// Who called: the peer's address or its process credentials, when known.
    pub caller: String,
}

/// Longest namespace/type text copied into a line (a rejected request may carry megabytes).
const MAX_FIELD_CHARS: usize = 256;

fn clipped(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|s| {
        if s.chars().count() <= MAX_FIELD_CHARS {
            s.clone()
        } else {
            let mut cut: String = s.chars().take(MAX_FIELD_CHARS).collect();
            cut.push('…');
            cut
        }
    })
}

/// The line as written, in field order; `hash` is appended to its text after hashing.
#[derive(Serialize)]
struct LineBody<'a> {
    #[serde(rename = "@level")]
    level: &'static str,
    #[serde(rename = "@message")]
    message: &'static str,
    #[serde(rename = "@module")]
    module: &'static str,
    #[serde(rename = "@timestamp")]
    timestamp: String,
    seq: u64,
    operation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    all_organizations: Option<bool>,
    outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    latency_us: u64,
    backend: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<&'static str>,
    caller: &'a str,
    prev: &'a str,
}

/// The chain's head: the last line's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    seq: u64,
    hash: String,
}

impl Head {
    fn genesis() -> Self {
        Head {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }
}

/// Where lines go.
enum Sink {
    Stderr,
    File(FileSink),
}

struct FileSink {
    path: PathBuf,
    file: Arc<File>,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

struct State {
    head: Head,
    sink: Sink,
}

/// An open audit log. Appends are serialized (the chain's order is the file's order).
pub struct AuditLog {
    backend: &'static str,
    state: Mutex<State>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

fn io_error<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> AuditError + 'a {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// The hash of a line's body text (everything before its `hash` field, closed with `}`).
fn hash_of(body: &str) -> String {
    hex(&Sha256::digest(body.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The fields [`verify`] and the reopening writer read back from a line.
#[derive(Deserialize)]
struct LineChain {
    seq: u64,
    prev: String,
}

/// Splits a line into its body text and its recorded hash, checks the hash and reads the chain
/// fields. `Err` says what is wrong.
fn parse_line(line: &str) -> Result<(LineChain, String), String> {
    if line.len() < HASH_TAIL_LEN
        || !line.is_char_boundary(line.len() - HASH_TAIL_LEN)
        || !line.ends_with("\"}")
        || !line[..line.len() - HASH_TAIL_LEN + HASH_FIELD.len()].ends_with(HASH_FIELD)
    {
        return Err("it does not end with a hash field".to_string());
    }
    let cut = line.len() - HASH_TAIL_LEN;
    let recorded = &line[cut + HASH_FIELD.len()..line.len() - 2];
    if !recorded.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("its hash is not 64 hex digits".to_string());
    }
    let body = format!("{}}}", &line[..cut]);
    let chain: LineChain =
        serde_json::from_str(&body).map_err(|e| format!("it is not an audit line: {e}"))?;
    if hash_of(&body) != recorded {
        return Err("its hash does not match its text (the line was edited)".to_string());
    }
    Ok((chain, recorded.to_string()))
}

/// `path` with `.N` appended: the N-th newest rotated file.
fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The last complete line of `file` (`None` for an empty file), after cutting a torn tail (a
/// line whose write a crash interrupted: its RPC was never answered).
fn last_line(path: &Path, file: &mut File) -> Result<Option<String>, AuditError> {
    let len = file
        .metadata()
        .map_err(io_error(path, "reading its size"))?
        .len();
    if len == 0 {
        return Ok(None);
    }
    let start = len.saturating_sub(TAIL_SCAN);
    file.seek(SeekFrom::Start(start))
        .map_err(io_error(path, "seeking to its end"))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)
        .map_err(io_error(path, "reading its end"))?;
    if tail.last() != Some(&b'\n') {
        let keep = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if keep == 0 && start > 0 {
            return Err(AuditError::Unreadable {
                path: path.to_path_buf(),
                problem: format!("no line end in its last {TAIL_SCAN} bytes"),
            });
        }
        tracing::warn!(
            path = %path.display(),
            bytes = tail.len() - keep,
            "audit log: cutting a torn last line (a crash interrupted its write; its call was never answered)"
        );
        file.set_len(start + keep as u64)
            .map_err(io_error(path, "cutting a torn last line"))?;
        file.sync_data()
            .map_err(io_error(path, "syncing after cutting a torn last line"))?;
        tail.truncate(keep);
    }
    let text = String::from_utf8_lossy(&tail);
    Ok(text.lines().last().map(str::to_string))
}

/// The head of the chain stored in `path` (or, when it is empty, in its newest rotated file).
fn stored_head(path: &Path, file: &mut File) -> Result<Head, AuditError> {
    let line = match last_line(path, file)? {
        Some(line) => Some((path.to_path_buf(), line)),
        None => {
            let older = rotated(path, 1);
            match OpenOptions::new().read(true).write(true).open(&older) {
                Ok(mut f) => last_line(&older, &mut f)?.map(|l| (older, l)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_error(&older, "opening")(e)),
            }
        }
    };
    match line {
        None => Ok(Head::genesis()),
        Some((from, line)) => {
            let (chain, hash) = parse_line(&line).map_err(|problem| AuditError::Unreadable {
                path: from,
                problem,
            })?;
            Ok(Head {
                seq: chain.seq,
                hash,
            })
        }
    }
}

fn open_append(path: &Path) -> Result<File, AuditError> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(io_error(path, "opening"))
}

fn sync_parent(path: &Path) -> Result<(), AuditError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir, "syncing the directory"))
}

impl FileSink {
    fn open(path: &Path, max_bytes: u64, keep: u32) -> Result<(Self, Head), AuditError> {
        let mut file = open_append(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = file
                .metadata()
                .map_err(io_error(path, "reading its mode"))?;
            // Only a regular file's mode is ours to tighten (not a device such as /dev/full).
            if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                    .map_err(io_error(path, "setting its mode to 0600"))?;
            }
        }
        let head = stored_head(path, &mut file)?;
        let size = file
            .metadata()
            .map_err(io_error(path, "reading its size"))?
            .len();
        sync_parent(path)?;
        Ok((
            FileSink {
                path: path.to_path_buf(),
                file: Arc::new(file),
                size,
                max_bytes,
                keep,
            },
            head,
        ))
    }

    /// Moves the full file to `.1` (older ones up by one, the oldest past `keep` dropped) and
    /// starts an empty one; the chain continues in it.
    fn rotate(&mut self) -> Result<(), AuditError> {
        self.file
            .sync_all()
            .map_err(io_error(&self.path, "syncing before rotation"))?;
        for n in (1..self.keep).rev() {
            let from = rotated(&self.path, n);
            if from.exists() {
                fs::rename(&from, rotated(&self.path, n + 1))
                    .map_err(io_error(&from, "rotating"))?;
            }
        }
        if self.keep == 0 {
            fs::remove_file(&self.path).map_err(io_error(&self.path, "removing (keep = 0)"))?;
        } else {
            fs::rename(&self.path, rotated(&self.path, 1))
                .map_err(io_error(&self.path, "rotating"))?;
        }
        self.file = Arc::new(open_append(&self.path)?);
        self.size = 0;
        sync_parent(&self.path)
    }

    /// Appends `line`; on failure the file is cut back so that no partial line stays.
    fn append(&mut self, line: &[u8]) -> Result<(), AuditError> {
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let mut file: &File = &self.file;
        if let Err(e) = file.write_all(line) {
            let _ = self.file.set_len(self.size);
            return Err(io_error(&self.path, "appending a line")(e));
        }
        self.size += line.len() as u64;
        Ok(())
    }
}

impl AuditLog {
    /// Opens the log `target` names for a broker running `backend`, continuing the chain a
    /// previous run left in the file.
    pub fn open(target: &AuditTarget, backend: &'static str) -> Result<Self, AuditError> {
        let (sink, head) = match target {
            AuditTarget::Stderr => (Sink::Stderr, Head::genesis()),
            AuditTarget::File {
                path,
                max_bytes,
                keep,
            } => {
                let (sink, head) = FileSink::open(path, *max_bytes, *keep)?;
                (Sink::File(sink), head)
            }
        };
        Ok(AuditLog {
            backend,
            state: Mutex::new(State { head, sink }),
        })
    }

    /// Appends the line for `entry`; with `durable`, returns only once it is on disk. Blocking
    /// (a write, and an fdatasync when durable): async callers run durable appends off the
    /// runtime's workers.
    pub fn record(&self, entry: &Entry, durable: bool) -> Result<(), AuditError> {
        let to_sync = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let seq = state.head.seq + 1;
            let namespace = clipped(&entry.namespace);
            let kind = clipped(&entry.kind);
            let new_namespace = clipped(&entry.new_namespace);
            let body = LineBody {
                level: "info",
                message: "audit",
                module: logging::MODULE,
                timestamp: logging::timestamp(chrono::Utc::now()),
                seq,
                operation: entry.operation,
                org_id: entry.org_id,
                namespace,
                kind,
                new_namespace,
                all_organizations: entry.all_organizations,
                outcome: &entry.outcome,
                error: entry.error,
                latency_us: entry.latency_us,
                backend: self.backend,
                cache: entry.cache,
                caller: &entry.caller,
                prev: &state.head.hash,
            };
            let body = serde_json::to_string(&body).expect("an audit line serializes");
            let hash = hash_of(&body);
            let mut line = String::with_capacity(body.len() + HASH_TAIL_LEN + 1);
            line.push_str(&body[..body.len() - 1]);
            line.push_str(HASH_FIELD);
            line.push_str(&hash);
            line.push_str("\"}\n");
            let to_sync = match &mut state.sink {
                Sink::Stderr => {
                    let mut err = io::stderr().lock();
                    err.write_all(line.as_bytes())
                        .and_then(|()| err.flush())
                        .map_err(io_error(Path::new("<stderr>"), "writing a line"))?;
                    None
                }
                Sink::File(sink) => {
                    sink.append(line.as_bytes())?;
                    durable.then(|| (Arc::clone(&sink.file), sink.path.clone()))
                }
            };
            state.head = Head { seq, hash };
            to_sync
        };
        if let Some((file, path)) = to_sync {
            file.sync_data()
                .map_err(io_error(&path, "syncing a line to disk"))?;
        }
        Ok(())
    }
}

/// What [`verify`] found in a set of files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Lines checked.
    pub lines: u64,
    /// The first line's sequence number (1 when the chain starts in these files).
    pub first_seq: u64,
    /// The last line's hash: record it elsewhere to detect a later cut of the log's end.
    pub last_hash: String,
}

/// Why [`verify`] failed: the file and line (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}: {problem}")]
pub struct Broken {
    /// The file.
    pub path: String,
    /// The line number in that file (0 when the file itself could not be read).
    pub line: u64,
    /// What is wrong.
    pub problem: String,
}

/// Checks the chain through `files`, oldest first (`audit.log.2 audit.log.1 audit.log`): every
/// line's hash matches its text, its `prev` is the hash of the line before it (across files),
/// and sequence numbers go up by one. The first line may continue an earlier file that is not
/// given; everything after it is checked.
pub fn verify(files: &[PathBuf]) -> Result<Verified, Broken> {
    let mut head: Option<Head> = None;
    let mut lines = 0u64;
    let mut first_seq = 0u64;
    for path in files {
        let shown = path.display().to_string();
        let broken = |line: u64, problem: String| Broken {
            path: shown.clone(),
            line,
            problem,
        };
        let file = File::open(path).map_err(|e| broken(0, format!("cannot open: {e}")))?;
        let mut reader = BufReader::new(file);
        let mut number = 0u64;
        let mut raw = Vec::new();
        loop {
            raw.clear();
            let n = reader
                .read_until(b'\n', &mut raw)
                .map_err(|e| broken(number, format!("cannot read: {e}")))?;
            if n == 0 {
                break;
            }
            number += 1;
            if raw.last() != Some(&b'\n') {
                return Err(broken(number, "the last line is incomplete".to_string()));
            }
            let line = std::str::from_utf8(&raw[..raw.len() - 1])
                .map_err(|_| broken(number, "not UTF-8".to_string()))?;
            let (chain, hash) = parse_line(line).map_err(|p| broken(number, p))?;
            match &head {
                None => {
                    if chain.seq == 1 && chain.prev != GENESIS {
                        return Err(broken(
                            number,
                            "sequence 1 must start the chain (prev all zeros)".to_string(),
                        ));
                    }
                    first_seq = chain.seq;
                }
                Some(before) => {
                    if chain.prev != before.hash {
                        return Err(broken(
                            number,
                            format!(
                                "the chain is broken: prev does not match the hash of the line before (sequence {}); a line was removed, reordered or edited",
                                before.seq
                            ),
                        ));
                    }
                    if chain.seq != before.seq + 1 {
                        return Err(broken(
                            number,
                            format!(
                                "sequence {} follows {}: a line is missing",
                                chain.seq, before.seq
                            ),
                        ));
                    }
                }
            }
            head = Some(Head {
                seq: chain.seq,
                hash,
            });
            lines += 1;
        }
    }
    match head {
        None => Err(Broken {
            path: files
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            line: 0,
            problem: "no audit lines".to_string(),
        }),
        Some(head) => Ok(Verified {
            lines,
            first_seq,
            last_hash: head.hash,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(op: &'static str, ns: &str) -> Entry {
        Entry {
            operation: op,
            org_id: Some(1),
            namespace: Some(ns.to_string()),
            kind: Some("datasource".to_string()),
            outcome: "ok".to_string(),
            latency_us: 12,
            caller: "test".to_string(),
            ..Entry::default()
        }
    }

    fn file_target(path: &Path, max_bytes: u64, keep: u32) -> AuditTarget {
        AuditTarget::File {
            path: path.to_path_buf(),
            max_bytes,
            keep,
        }
    }

    fn write_lines(path: &Path, n: usize) {
        let log = AuditLog::open(&file_target(path, 1 << 30, 3), "memory").unwrap();
        for i in 0..n {
            log.record(&entry("SetSecret", &format!("ns-{i}")), true)
                .unwrap();
        }
    }

    /// A new folder with the path `audit.log` in it (the log is not created).
    fn log_path() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        (dir, path)
    }

    fn lines(path: &Path) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_chain_verifies_and_continues_after_reopening() {
        let (_dir, path) = log_path();
        write_lines(&path, 3);
        write_lines(&path, 2);
        let v = verify(std::slice::from_ref(&path)).unwrap();
        assert_eq!((v.lines, v.first_seq), (5, 1));
        let all = lines(&path);
        assert!(
            all[0].contains(&format!("\"prev\":\"{GENESIS}\"")),
            "{}",
            all[0]
        );
        assert!(all[4].contains("\"seq\":5"), "{}", all[4]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    /// Edits line 2 and recomputes its own hash, as a forger without the rest of the chain would.
    fn forge_line_2(all: &mut [String]) {
        let edited = all[1].replacen("\"ns-1\"", "\"ns-9\"", 1);
        let body = format!("{}}}", &edited[..edited.len() - HASH_TAIL_LEN]);
        all[1] = format!(
            "{}{HASH_FIELD}{}\"}}",
            &body[..body.len() - 1],
            hash_of(&body)
        );
    }

    /// Every way of tampering with a written log is caught at its line: (case, lines written,
    /// the tampering, the line `verify` reports, what it says is wrong: "" for anything).
    #[test]
    fn tampering_is_detected_at_its_line() {
        type Tamper = fn(&mut Vec<String>);
        let cases: [(&str, usize, Tamper, u64, &str); 3] = [
            (
                "an edited line",
                4,
                |all| all[2] = all[2].replacen("\"ns-2\"", "\"ns-X\"", 1),
                3,
                "edited",
            ),
            (
                "a removed line",
                4,
                |all| {
                    all.remove(1);
                },
                2,
                "removed",
            ),
            (
                "a rewritten line with a fresh hash still breaks the next link",
                3,
                |all| forge_line_2(all),
                3,
                "",
            ),
        ];
        for (case, written, tamper, line, problem) in cases {
            let (_dir, path) = log_path();
            write_lines(&path, written);
            let mut all = lines(&path);
            tamper(&mut all);
            fs::write(&path, all.join("\n") + "\n").unwrap();
            let e = verify(&[path]).unwrap_err();
            assert_eq!(e.line, line, "{case}: {e}");
            assert!(e.problem.contains(problem), "{case}: {e}");
        }
    }

    #[test]
    fn rotation_keeps_the_chain_across_files_and_drops_the_oldest() {
        let (_dir, path) = log_path();
        let log = AuditLog::open(&file_target(&path, 1000, 2), "memory").unwrap();
        for i in 0..20 {
            log.record(&entry("GetSecret", &format!("ns-{i}")), false)
                .unwrap();
        }
        drop(log);
        assert!(rotated(&path, 1).exists() && rotated(&path, 2).exists());
        assert!(!rotated(&path, 3).exists());
        let files = [rotated(&path, 2), rotated(&path, 1), path.clone()];
        let v = verify(&files).unwrap();
        assert!(v.first_seq > 1, "the oldest file was dropped: {v:?}");
        assert_eq!(v.first_seq + v.lines - 1, 20);
        // Out of order, the link between files breaks.
        let e = verify(&[rotated(&path, 1), rotated(&path, 2), path.clone()]).unwrap_err();
        assert!(e.problem.contains("chain is broken"), "{e}");
        // After rotation an empty file continues from the rotated one's head.
        fs::write(&path, "").unwrap();
        let log = AuditLog::open(&file_target(&path, 1000, 2), "memory").unwrap();
        log.record(&entry("GetSecret", "after"), false).unwrap();
        verify(&[rotated(&path, 1), path]).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_cut_on_reopen_and_the_chain_continues() {
        let (_dir, path) = log_path();
        write_lines(&path, 2);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"@level\":\"info\",\"seq\":3,\"operat")
            .unwrap();
        drop(f);
        assert!(verify(std::slice::from_ref(&path))
            .unwrap_err()
            .problem
            .contains("incomplete"));
        write_lines(&path, 1);
        let v = verify(&[path]).unwrap();
        assert_eq!(v.lines, 3);
    }

    #[test]
    fn a_foreign_last_line_refuses_to_open() {
        let (_dir, path) = log_path();
        fs::write(&path, "hello\n").unwrap();
        let e = AuditLog::open(&file_target(&path, 1000, 2), "memory").unwrap_err();
        assert!(matches!(e, AuditError::Unreadable { .. }), "{e}");
        assert!(e.to_string().contains("move the file aside"), "{e}");
    }

    #[test]
    fn long_fields_are_clipped() {
        let (_dir, path) = log_path();
        let log = AuditLog::open(&file_target(&path, 1 << 20, 1), "memory").unwrap();
        log.record(&entry("SetSecret", &"n".repeat(100_000)), false)
            .unwrap();
        let all = lines(&path);
        assert!(all[0].len() < 2000, "{}", all[0].len());
        verify(&[path]).unwrap();
    }
}
