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
//! `value_len: u32 LE` and the value.
//!
//! Failures (a full disk, an I/O error): [`Wal::sync`] answers "durable up to `seq`" only once
//! every record up to `seq` is written and fdatasynced. When a write or `fdatasync` fails, the
//! records it carried are kept in memory, in order, and the sync fails for every writer waiting
//! on it; every later sync fails too until one succeeds in writing them. Each attempt first cuts
//! the segment back to the end of its last durable record (after a failed `fdatasync` Linux may
//! have dropped the dirty pages, and a short write leaves part of a record), then writes all
//! kept records again and fdatasyncs. So no record ever follows a torn one in a segment, and once
//! the disk has room the log works again by itself. A record whose sync failed may still become
//! durable this way (its writer was told the write failed, not that it did not happen).
//! [`Wal::rotate`] makes the current segment durable before it creates the next one and keeps the
//! current one when that fails, so only the last segment holding data can end in a torn write.
//!
//! Reading ([`Wal::open`]): damage at the end of the last segment holding data (a record cut
//! short, failing its checksum, or malformed, such as a tail of zeros) is a write that was never
//! acknowledged: the segment is cut back to its last whole record. Empty segments after it are
//! ignored. Damage in any other segment is corruption and an error.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
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

/// One segment file as the log writes it: appended to, fdatasynced, and cut back to the end of its
/// last durable record after a failed write.
pub trait SegmentFile: Send + Sync {
    /// Appends bytes at the end of the file and returns how many were written: like `write(2)`,
    /// possibly fewer than asked (a full disk) before an error.
    fn append(&self, buf: &[u8]) -> io::Result<usize>;
    /// `fdatasync`.
    fn sync_data(&self) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    fn truncate(&self, len: u64) -> io::Result<()>;
}

/// Creates the log's segment files: [`OsSegmentFiles`] in production; tests pass files that fail
/// on demand.
pub trait SegmentFiles: Send + Sync {
    /// Creates (or opens, when it exists) the segment file at `path` for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>>;
}

/// Segment files on the file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsSegmentFiles;

impl SegmentFiles for OsSegmentFiles {
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Box::new(f))
    }
}

/// A file opened for appending.
impl SegmentFile for File {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

/// Writes all of `buf` through `file`.
fn append_all(file: &dyn SegmentFile, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match file.append(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The log: the records appended but not yet handed to a segment file, and the segment being
/// written.
pub struct Wal {
    dir: PathBuf,
    files: Arc<dyn SegmentFiles>,
    inner: Mutex<Inner>,
    /// The segment being written. Held while writing to it (group commit and checkpoint
    /// rotation), so records reach their file in sequence order.
    io: Mutex<Segment>,
}

/// Records appended since the last sync took them. Debug output shows sizes only: the buffer
/// holds the records' values.
struct Inner {
    buf: Vec<u8>,
    last_seq: u64,
    /// Bytes appended since the last checkpoint.
    pending_bytes: u64,
}

/// The segment being written and the records not yet durable in it.
struct Segment {
    number: u64,
    file: Box<dyn SegmentFile>,
    /// The end of the last record the file holds durably (its last successful `fdatasync`).
    synced_len: u64,
    /// Records taken from the buffer that are not durable yet: a write or `fdatasync` of them
    /// failed. They are kept, in order, until a sync writes them.
    unsynced: Vec<u8>,
    /// Whether the file may hold bytes past `synced_len` (a failed write or `fdatasync`): they are
    /// cut off before the file is written again.
    damaged: bool,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("inner", &*lock(&self.inner))
            .field("segment", &*lock(&self.io))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("buffered_bytes", &self.buf.len())
            .field("last_seq", &self.last_seq)
            .field("pending_bytes", &self.pending_bytes)
            .finish()
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("number", &self.number)
            .field("synced_len", &self.synced_len)
            .field("unsynced_bytes", &self.unsynced.len())
            .field("damaged", &self.damaged)
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

/// Where a segment's whole records end, and whether bytes follow them.
enum Scan {
    /// Every byte belongs to a whole record.
    Whole,
    /// The records end at this offset; the rest is a torn write, or damage.
    EndsAt(usize, &'static str),
}

/// Decodes the records of one segment into `out`.
fn scan_segment(data: &[u8], out: &mut Vec<Record>) -> Scan {
    let mut at = 0;
    while at < data.len() {
        let record = get_u32(data, at)
            .zip(get_u32(data, at + 4))
            .and_then(|(len, crc)| {
                let body = data.get(at + 8..(at + 8).checked_add(len as usize)?)?;
                Some((body, crc))
            });
        let Some((body, crc)) = record else {
            return Scan::EndsAt(at, "record cut short");
        };
        if crc32fast::hash(body) != crc {
            return Scan::EndsAt(at, "checksum mismatch");
        }
        let Some(rec) = decode_ops(body) else {
            return Scan::EndsAt(at, "malformed operations");
        };
        out.push(rec);
        at += 8 + body.len();
    }
    Scan::Whole
}

/// Every record of the segments in `dir` in order, as (seq, operations). Damage at the end of the
/// last segment holding any bytes (later ones can only be empty: one created by a rotation that
/// then failed) is a write that was never acknowledged: the segment is cut back to its last whole
/// record. Damage anywhere else is corruption.
fn read_all(dir: &Path, segs: &[u64]) -> Result<Vec<Record>, WalError> {
    let mut contents = Vec::with_capacity(segs.len());
    for n in segs {
        let path = segment_path(dir, *n);
        let data = fs::read(&path)?;
        contents.push((path, data));
    }
    let tail = contents.iter().rposition(|(_, data)| !data.is_empty());
    let mut out = Vec::new();
    for (i, (path, data)) in contents.iter().enumerate() {
        let Scan::EndsAt(offset, reason) = scan_segment(data, &mut out) else {
            continue;
        };
        if Some(i) != tail {
            return Err(WalError::Corrupt {
                segment: path.display().to_string(),
                offset,
                reason,
            });
        }
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(offset as u64)?;
        f.sync_all()?;
    }
    Ok(out)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates segment `n` and makes its name durable; a segment that cannot be made durable is
/// removed again.
fn create_segment(
    files: &dyn SegmentFiles,
    dir: &Path,
    n: u64,
) -> std::io::Result<Box<dyn SegmentFile>> {
    let path = segment_path(dir, n);
    let created = files.create(&path).and_then(|f| {
        sync_dir(dir)?;
        Ok(f)
    });
    if created.is_err() {
        // Best effort: an empty segment left behind is harmless (see `read_all`).
        let _ = fs::remove_file(&path);
    }
    created
}

impl Segment {
    /// Writes and fdatasyncs the records in `unsynced`, first cutting off whatever a failed
    /// attempt left past `synced_len`. On failure the records stay in `unsynced` and the segment
    /// is marked damaged, so the next attempt starts again from `synced_len`.
    fn write_unsynced(&mut self) -> Result<(), WalError> {
        if self.unsynced.is_empty() && !self.damaged {
            return Ok(());
        }
        if self.damaged {
            // After a failed fdatasync the page cache may hold data the disk never got, and a
            // failed write may have left part of a record: start again from the durable end.
            self.file.truncate(self.synced_len)?;
        }
        self.damaged = true;
        append_all(&*self.file, &self.unsynced)?;
        self.file.sync_data()?;
        self.damaged = false;
        self.synced_len += self.unsynced.len() as u64;
        self.unsynced.clear();
        Ok(())
    }
}

impl Wal {
    /// Opens the log in `dir` (created if missing) and returns it with every record it holds, in
    /// order, and its segment numbers. A torn last write is cut off. The caller applies the
    /// records newer than its own state, makes that state durable, then calls [`Wal::start`].
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
        Self::start_with(dir, old, last_seq, Arc::new(OsSegmentFiles))
    }

    /// [`Wal::start`] with segment files created by `files`.
    pub fn start_with(
        dir: &Path,
        old: &[u64],
        last_seq: u64,
        files: Arc<dyn SegmentFiles>,
    ) -> Result<Wal, WalError> {
        let next = segments(dir)?.last().map_or(1, |n| n + 1);
        let file = create_segment(&*files, dir, next)?;
        for n in old {
            fs::remove_file(segment_path(dir, *n))?;
        }
        sync_dir(dir)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            files,
            inner: Mutex::new(Inner {
                buf: Vec::new(),
                last_seq,
                pending_bytes: 0,
            }),
            io: Mutex::new(Segment {
                number: next,
                file,
                synced_len: 0,
                unsynced: Vec::new(),
                damaged: false,
            }),
        })
    }

    /// Appends a record to the buffer (written by the next [`Wal::sync`]). Sequence numbers
    /// must increase. Never fails: a record is kept until a sync makes it durable.
    pub fn append(&self, seq: u64, ops: &[Op]) {
        let record = encode_record(seq, ops);
        let mut g = lock(&self.inner);
        g.buf.extend_from_slice(&record);
        g.pending_bytes += record.len() as u64;
        g.last_seq = seq;
    }

    /// Writes and fdatasyncs everything appended so far; returns the last sequence number that is
    /// now on disk. On failure nothing appended is forgotten and nothing is reported durable: the
    /// records stay queued, every sync fails until one manages to write them (after cutting the
    /// segment back to its last durable record), and the next success covers them.
    pub fn sync(&self) -> Result<u64, WalError> {
        let mut seg = lock(&self.io);
        self.sync_locked(&mut seg)
    }

    /// [`Wal::sync`] with the segment held.
    fn sync_locked(&self, seg: &mut Segment) -> Result<u64, WalError> {
        let seq = {
            let mut g = lock(&self.inner);
            seg.unsynced.append(&mut g.buf);
            g.last_seq
        };
        seg.write_unsynced()?;
        Ok(seq)
    }

    /// Takes back record `seq` after its sync failed, when it is the last record appended and
    /// not durable: it will never be written (a torn copy on disk is cut off before the next
    /// write, see [`Wal::sync`]). Returns false, and keeps the record, when a record follows it or
    /// it is already durable (another writer's sync wrote it meanwhile).
    pub fn withdraw(&self, seq: u64) -> bool {
        let mut seg = lock(&self.io);
        let mut g = lock(&self.inner);
        if g.last_seq != seq {
            return false;
        }
        let kept = if g.buf.is_empty() {
            &mut seg.unsynced
        } else {
            &mut g.buf
        };
        let mut at = 0;
        let mut last = None;
        while let Some(len) = get_u32(kept, at) {
            last = Some(at);
            at += 8 + len as usize;
        }
        let Some(start) = last.filter(|_| at == kept.len()) else {
            return false;
        };
        let record_seq = kept
            .get(start + 8..start + 16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        if record_seq != Some(seq) {
            return false;
        }
        let len = (kept.len() - start) as u64;
        kept.truncate(start);
        g.pending_bytes = g.pending_bytes.saturating_sub(len);
        g.last_seq = seq.saturating_sub(1);
        true
    }

    /// Bytes appended since the last checkpoint.
    pub fn pending_bytes(&self) -> u64 {
        lock(&self.inner).pending_bytes
    }

    /// First half of a checkpoint: makes everything appended so far durable in the current
    /// segment and moves appending to a new one. Returns the last sequence number of the closed
    /// segments and their numbers; once the caller has made its own state durable up to that
    /// sequence, [`Wal::forget`] deletes them. The caller keeps appends out while this runs. On
    /// failure (the records cannot be made durable, or the new segment cannot be created) the
    /// current segment stays the one written, nothing is lost, and a later rotation retries.
    pub fn rotate(&self) -> Result<(u64, Vec<u64>), WalError> {
        let mut seg = lock(&self.io);
        let seq = self.sync_locked(&mut seg)?;
        // An empty current segment stays (no new, empty segment per checkpoint while checkpoints
        // keep failing); the closed segments are then the older ones.
        if seg.synced_len > 0 {
            let next = seg.number + 1;
            seg.file = create_segment(&*self.files, &self.dir, next)?;
            seg.number = next;
            seg.synced_len = 0;
        }
        {
            // records appended since the sync above go to the current segment
            let mut g = lock(&self.inner);
            g.pending_bytes = g.buf.len() as u64;
        }
        let old: Vec<u64> = segments(&self.dir)?
            .into_iter()
            .filter(|n| *n < seg.number)
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
    fn torn_tail_is_cut_off_but_damage_elsewhere_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (_, segs) = Wal::open(dir.path()).unwrap();
        let wal = Wal::start(dir.path(), &segs, 0).unwrap();
        wal.append(1, &ops(1));
        let first_len = fs::metadata(segment_path(dir.path(), 1)).unwrap().len();
        assert_eq!(first_len, 0);
        wal.sync().unwrap();
        let first_len = fs::metadata(segment_path(dir.path(), 1)).unwrap().len();
        wal.append(2, &ops(2));
        wal.sync().unwrap();
        drop(wal);
        let seg = segment_path(dir.path(), 1);
        let full = fs::read(&seg).unwrap();
        // cut inside the second record: only the first survives, and the tail is cut off
        fs::write(&seg, &full[..full.len() - 3]).unwrap();
        let (recs, _) = Wal::open(dir.path()).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(fs::metadata(&seg).unwrap().len(), first_len);
        // a flipped bit in the last record of the last segment is a torn write too
        let mut flipped = full.clone();
        let n = flipped.len();
        flipped[n - 1] ^= 1;
        fs::write(&seg, &flipped).unwrap();
        assert_eq!(Wal::open(dir.path()).unwrap().0.len(), 1);
        // so is a tail of zeros (a length the file got before its data), also when an empty
        // segment follows (a rotation that failed after creating it)
        let mut zeros = full[..first_len as usize].to_vec();
        zeros.extend_from_slice(&[0; 24]);
        fs::write(&seg, &zeros).unwrap();
        fs::write(segment_path(dir.path(), 2), b"").unwrap();
        let (recs, segs) = Wal::open(dir.path()).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(segs, vec![1, 2]);
        assert_eq!(fs::metadata(&seg).unwrap().len(), first_len);
        // the same damage in a segment followed by records is corruption
        let wal = Wal::start(dir.path(), &[], 2).unwrap();
        wal.append(3, &ops(3));
        wal.sync().unwrap();
        drop(wal);
        fs::write(&seg, &flipped).unwrap();
        let err = Wal::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        fs::write(&seg, &full[..full.len() - 3]).unwrap();
        let err = Wal::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("record cut short"), "{err}");
    }
}
