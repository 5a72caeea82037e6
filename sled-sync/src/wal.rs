//! A write-ahead log for a store kept in sled: each committed transaction is appended as one
//! framed, checksummed record, and concurrent writers share one `write` + `fdatasync` of the log
//! before they are answered (group commit). The store flushes sled to disk only at checkpoints,
//! after which the log segments the checkpoint covers are deleted; at start it replays the log.
//!
//! Why not flush sled per write: every sled flush (and every batch) hands its I/O buffer to sled's
//! thread pool, which wakes all its idle threads for each job. On two cores those wake-ups cost
//! more than the writes themselves; a log append is one `write` and one `fdatasync`.
//!
//! Layout: `wal/<16-digit segment number>.log`. A record is `len: u32 LE`, `crc32: u32 LE` (of
//! what follows), `seq: u64 LE`, then `len - 8` bytes of operations: `count: u32 LE` and per
//! operation `key_len: u32 LE`, key, `kind: u8` (0 remove, 1 insert), and for an insert
//! `value_len: u32 LE` and the value. A record cut short or failing its checksum at the end of the
//! last segment is a write that was never acknowledged and is ignored; anywhere else it is
//! corruption.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// One change: a key and its new value (None removes it).
pub type Op = (Vec<u8>, Option<Vec<u8>>);

/// A record: its sequence number and its changes.
pub type Record = (u64, Vec<Op>);

/// Errors of the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// Reading, writing or syncing the log failed.
    #[error("write-ahead log I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A record in the middle of the log is damaged.
    #[error("write-ahead log segment {segment} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        segment: String,
        /// Where the damaged record starts.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The log: the segment being appended to and the records not yet written to it.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    inner: Mutex<Inner>,
    /// Held while writing to a segment file (group commit and checkpoint rotation), so records
    /// reach their file in sequence order.
    io: Mutex<()>,
}

/// Debug output shows sizes only: the buffer holds the records' values.
struct Inner {
    buf: Vec<u8>,
    last_seq: u64,
    segment: u64,
    file: Arc<File>,
    /// Bytes appended since the last checkpoint.
    pending_bytes: u64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("buffered_bytes", &self.buf.len())
            .field("last_seq", &self.last_seq)
            .field("segment", &self.segment)
            .field("pending_bytes", &self.pending_bytes)
            .finish()
    }
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:016}.log"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Segment numbers present in `dir`, ascending.
fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_suffix(".log"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        out.push(n);
    }
    out.sort_unstable();
    Ok(out)
}

fn get_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The encoding of one record.
fn encode_record(seq: u64, ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        20 + ops
            .iter()
            .map(|(k, v)| 9 + k.len() + v.as_ref().map_or(0, Vec::len))
            .sum::<usize>(),
    );
    let start = 0;
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for (k, v) in ops {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
        match v {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v);
            }
        }
    }
    let body = &out[start + 8..];
    let len = body.len() as u32;
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes the operations of a record body (after the checksum); None if malformed.
fn decode_ops(body: &[u8]) -> Option<Record> {
    let seq = u64::from_le_bytes(body.get(..8)?.try_into().ok()?);
    let count = get_u32(body, 8)? as usize;
    let mut at = 12;
    let mut ops = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let kl = get_u32(body, at)? as usize;
        at += 4;
        let k = body.get(at..at + kl)?.to_vec();
        at += kl;
        let kind = *body.get(at)?;
        at += 1;
        let v = match kind {
            0 => None,
            1 => {
                let vl = get_u32(body, at)? as usize;
                at += 4;
                let v = body.get(at..at + vl)?.to_vec();
                at += vl;
                Some(v)
            }
            _ => return None,
        };
        ops.push((k, v));
    }
    (at == body.len()).then_some((seq, ops))
}

/// Every record of the segments in `dir` in order, as (seq, operations).
fn read_all(dir: &Path, segs: &[u64]) -> Result<Vec<Record>, WalError> {
    let mut out = Vec::new();
    for (i, n) in segs.iter().enumerate() {
        let path = segment_path(dir, *n);
        let data = fs::read(&path)?;
        let last = i + 1 == segs.len();
        let mut at = 0;
        while at < data.len() {
            let bad = |reason| WalError::Corrupt {
                segment: path.display().to_string(),
                offset: at,
                reason,
            };
            let record = get_u32(&data, at)
                .zip(get_u32(&data, at + 4))
                .and_then(|(len, crc)| {
                    let body = data.get(at + 8..at + 8 + len as usize)?;
                    Some((body, crc))
                });
            let Some((body, crc)) = record else {
                if last {
                    break; // a torn, never acknowledged last write
                }
                return Err(bad("record cut short"));
            };
            if crc32fast::hash(body) != crc {
                if last {
                    break;
                }
                return Err(bad("checksum mismatch"));
            }
            let Some(rec) = decode_ops(body) else {
                return Err(bad("malformed operations"));
            };
            out.push(rec);
            at += 8 + body.len();
        }
    }
    Ok(out)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn create_segment(dir: &Path, n: u64) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, n))?;
    sync_dir(dir)?;
    Ok(f)
}

impl Wal {
    /// Opens the log in `dir` (created if missing) and returns it with every record it holds, in
    /// order. The caller applies the records newer than its own state, makes that state durable,
    /// then calls [`Wal::start`].
    pub fn open(dir: &Path) -> Result<(Vec<Record>, Vec<u64>), WalError> {
        fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        let segs = segments(dir)?;
        let records = read_all(dir, &segs)?;
        Ok((records, segs))
    }

    /// Starts appending after `last_seq` in a new segment, deleting the segments `old` (whose
    /// records the caller has made durable elsewhere).
    pub fn start(dir: &Path, old: &[u64], last_seq: u64) -> Result<Wal, WalError> {
        let next = segments(dir)?.last().map_or(1, |n| n + 1);
        let file = create_segment(dir, next)?;
        for n in old {
            fs::remove_file(segment_path(dir, *n))?;
        }
        sync_dir(dir)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                buf: Vec::new(),
                last_seq,
                segment: next,
                file: Arc::new(file),
                pending_bytes: 0,
            }),
            io: Mutex::new(()),
        })
    }

    /// Appends a record to the buffer (written by the next [`Wal::sync`]). Sequence numbers
    /// must increase.
    pub fn append(&self, seq: u64, ops: &[Op]) {
        let record = encode_record(seq, ops);
        let mut g = lock(&self.inner);
        g.buf.extend_from_slice(&record);
        g.pending_bytes += record.len() as u64;
        g.last_seq = seq;
    }

    /// Writes and fdatasyncs everything appended so far; returns the last sequence number that is
    /// now on disk.
    pub fn sync(&self) -> Result<u64, WalError> {
        let _io = lock(&self.io);
        let (buf, seq, file) = {
            let mut g = lock(&self.inner);
            (std::mem::take(&mut g.buf), g.last_seq, g.file.clone())
        };
        if !buf.is_empty() {
            (&*file).write_all(&buf)?;
            file.sync_data()?;
        }
        Ok(seq)
    }

    /// Bytes appended since the last checkpoint.
    pub fn pending_bytes(&self) -> u64 {
        lock(&self.inner).pending_bytes
    }

    /// First half of a checkpoint: makes everything appended so far durable in the current
    /// segment and moves appending to a new one. Returns the last sequence number of the closed
    /// segments and their numbers; once the caller has made its own state durable up to that
    /// sequence, [`Wal::forget`] deletes them.
    pub fn rotate(&self) -> Result<(u64, Vec<u64>), WalError> {
        let _io = lock(&self.io);
        let (buf, seq, old_file, old_segment) = {
            let mut g = lock(&self.inner);
            let next = g.segment + 1;
            let file = Arc::new(create_segment(&self.dir, next)?);
            let old_file = std::mem::replace(&mut g.file, file);
            let old_segment = std::mem::replace(&mut g.segment, next);
            g.pending_bytes = 0;
            (
                std::mem::take(&mut g.buf),
                g.last_seq,
                old_file,
                old_segment,
            )
        };
        if !buf.is_empty() {
            (&*old_file).write_all(&buf)?;
            old_file.sync_data()?;
        }
        let old: Vec<u64> = segments(&self.dir)?
            .into_iter()
            .filter(|n| *n <= old_segment)
            .collect();
        Ok((seq, old))
    }

    /// Deletes segments whose records are durable elsewhere.
    pub fn forget(&self, old: &[u64]) -> Result<(), WalError> {
        for n in old {
            match fs::remove_file(segment_path(&self.dir, *n)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        sync_dir(&self.dir)?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ops(n: u8) -> Vec<Op> {
        vec![
            (vec![b'k', n], Some(vec![n; 3])),
            (vec![b'r', n], None),
            (vec![b'e', n], Some(Vec::new())),
        ]
    }

    #[test]
    fn records_round_trip_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (recs, segs) = Wal::open(dir.path()).unwrap();
        assert!(recs.is_empty());
        let wal = Wal::start(dir.path(), &segs, 0).unwrap();
        wal.append(1, &ops(1));
        wal.append(2, &ops(2));
        assert_eq!(wal.sync().unwrap(), 2);
        let (upto, old) = wal.rotate().unwrap();
        assert_eq!(upto, 2);
        wal.append(3, &ops(3));
        wal.sync().unwrap();
        drop(wal);
        let (recs, segs) = Wal::open(dir.path()).unwrap();
        let seqs: Vec<u64> = recs.iter().map(|r| r.0).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(recs[2].1, ops(3));
        assert_eq!(segs.len(), 2);
        // forgetting the first segment leaves the newer record
        let wal = Wal::start(dir.path(), &[], 3).unwrap();
        wal.forget(&old).unwrap();
        drop(wal);
        let (recs, _) = Wal::open(dir.path()).unwrap();
        assert_eq!(recs.iter().map(|r| r.0).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn torn_tail_is_ignored_but_damage_elsewhere_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (_, segs) = Wal::open(dir.path()).unwrap();
        let wal = Wal::start(dir.path(), &segs, 0).unwrap();
        wal.append(1, &ops(1));
        wal.append(2, &ops(2));
        wal.sync().unwrap();
        drop(wal);
        let seg = segment_path(dir.path(), 1);
        let full = fs::read(&seg).unwrap();
        // cut inside the second record: only the first survives
        fs::write(&seg, &full[..full.len() - 3]).unwrap();
        let (recs, segs) = Wal::open(dir.path()).unwrap();
        assert_eq!(recs.len(), 1);
        // a flipped bit in the last record of the last segment is a torn write too
        let mut flipped = full.clone();
        let n = flipped.len();
        flipped[n - 1] ^= 1;
        fs::write(&seg, &flipped).unwrap();
        assert_eq!(Wal::open(dir.path()).unwrap().0.len(), 1);
        // the same damage in a segment followed by another is corruption
        let wal = Wal::start(dir.path(), &[], 2).unwrap();
        wal.append(3, &ops(3));
        wal.sync().unwrap();
        drop(wal);
        let _ = segs;
        let err = Wal::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
    }
}
