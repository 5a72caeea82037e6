//! The write-ahead log on a file that fails on demand: a full disk (short writes, then ENOSPC),
//! failing `fdatasync` (EIO) and a segment that cannot be created, under concurrent writers. After
//! each run a crash is simulated (every segment cut back to what its last successful `fdatasync`
//! covered, plus a torn tail when anything was written after it) and the log is reopened: every
//! record a writer was told is durable must be there, and the log must open.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sled_sync::wal::{Op, SegmentFile, SegmentFiles, Wal, WalError};

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

/// What a segment file holds and how much of it a crash would keep.
#[derive(Debug, Default)]
struct Tracked {
    len: u64,
    durable_len: u64,
}

/// The faults to inject and what was injected.
#[derive(Debug, Default)]
struct Faults {
    /// Free bytes on the "disk" (None: unlimited). Appends beyond it are short, then ENOSPC.
    room: Option<u64>,
    /// The next this many `fdatasync`s fail with EIO (and, as on Linux, lose the dirty data).
    failing_syncs: u32,
    /// The next this many segment creations fail with ENOSPC.
    failing_creates: u32,
    enospc: u64,
    eio: u64,
    failed_creates: u64,
    files: HashMap<PathBuf, Tracked>,
}

#[derive(Debug, Clone, Default)]
struct FaultyDisk(Arc<Mutex<Faults>>);

struct FaultyFile {
    path: PathBuf,
    file: File,
    disk: FaultyDisk,
}

impl FaultyDisk {
    fn with<T>(&self, f: impl FnOnce(&mut Faults) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    /// A crash: every file keeps what its last successful fdatasync covered, and a file with
    /// anything written after that gets a torn tail instead.
    fn crash(&self) {
        let faults = self.0.lock().unwrap();
        for (path, t) in &faults.files {
            if !path.exists() || t.len == t.durable_len {
                continue;
            }
            let f = OpenOptions::new().write(true).open(path).unwrap();
            f.set_len(t.durable_len).unwrap();
            let mut f = OpenOptions::new().append(true).open(path).unwrap();
            let torn = (t.len - t.durable_len).min(7) as usize;
            f.write_all(&[0xa5; 7][..torn]).unwrap();
        }
    }
}

impl SegmentFiles for FaultyDisk {
    fn create(&self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        self.with(|f| {
            if f.failing_creates > 0 {
                f.failing_creates -= 1;
                f.failed_creates += 1;
                return Err(io::Error::from_raw_os_error(ENOSPC));
            }
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            let len = file.metadata()?.len();
            f.files.insert(
                path.to_path_buf(),
                Tracked {
                    len,
                    durable_len: len,
                },
            );
            Ok(Box::new(FaultyFile {
                path: path.to_path_buf(),
                file,
                disk: self.clone(),
            }) as Box<dyn SegmentFile>)
        })
    }
}

impl SegmentFile for FaultyFile {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        self.disk.with(|f| {
            let n = f.room.map_or(buf.len(), |r| buf.len().min(r as usize));
            if n == 0 && !buf.is_empty() {
                f.enospc += 1;
                return Err(io::Error::from_raw_os_error(ENOSPC));
            }
            (&self.file).write_all(&buf[..n])?;
            if let Some(r) = &mut f.room {
                *r -= n as u64;
            }
            f.files.get_mut(&self.path).unwrap().len += n as u64;
            Ok(n)
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.disk.with(|f| {
            if f.failing_syncs > 0 {
                f.failing_syncs -= 1;
                f.eio += 1;
                return Err(io::Error::from_raw_os_error(EIO));
            }
            self.file.sync_data()?;
            let t = f.files.get_mut(&self.path).unwrap();
            t.durable_len = t.len;
            Ok(())
        })
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.disk.with(|f| {
            self.file.set_len(len)?;
            let t = f.files.get_mut(&self.path).unwrap();
            if let Some(r) = &mut f.room {
                *r += t.len.saturating_sub(len);
            }
            t.len = len;
            t.durable_len = t.durable_len.min(len);
            Ok(())
        })
    }
}

fn ops(seq: u64) -> Vec<Op> {
    vec![
        (
            format!("key-{}", seq % 17).into_bytes(),
            Some(vec![seq as u8; 40 + (seq % 23) as usize]),
        ),
        (format!("gone-{seq}").into_bytes(), None),
    ]
}

/// A fresh log folder on a fault-injecting disk.
struct FaultyLog {
    dir: tempfile::TempDir,
    disk: FaultyDisk,
}

impl FaultyLog {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            disk: FaultyDisk::default(),
        }
    }

    /// Opens the (empty) log and starts writing it through the faulty disk.
    fn start(&self) -> Wal {
        let (records, segs) = Wal::open(self.dir.path()).unwrap();
        assert!(records.is_empty());
        Wal::start_with(self.dir.path(), &segs, 0, Arc::new(self.disk.clone())).unwrap()
    }

    /// Starts the log and makes record 1 durable: the log, and the acknowledged records (`[1]`).
    fn start_with_record_1_durable(&self) -> (Wal, Vec<u64>) {
        let wal = self.start();
        let mut acknowledged = Vec::new();
        append_durably(&wal, 1, &mut acknowledged);
        (wal, acknowledged)
    }

    /// Closes the log (`wal`, dropped first), then checks it after a simulated crash (see
    /// [`reopen_after_crash`]); returns the replayed sequence numbers.
    fn close_and_reopen_after_crash<W>(&self, wal: W, acknowledged: &[u64]) -> Vec<u64> {
        drop(wal);
        reopen_after_crash(self.dir.path(), &self.disk, acknowledged)
    }
}

/// Appends record `seq` and syncs it: it must be durable, and is recorded as acknowledged.
fn append_durably(wal: &Wal, seq: u64, acknowledged: &mut Vec<u64>) {
    wal.append(seq, &ops(seq));
    assert_eq!(wal.sync().unwrap(), seq);
    acknowledged.push(seq);
}

fn os_error(e: &WalError) -> Option<i32> {
    match e {
        WalError::Io(io) => io.raw_os_error(),
        _ => None,
    }
}

/// After a simulated crash the log opens, every acknowledged record is there with its content,
/// and nothing that was never appended is; returns the replayed sequence numbers.
fn reopen_after_crash(dir: &Path, disk: &FaultyDisk, acknowledged: &[u64]) -> Vec<u64> {
    disk.crash();
    let (records, _) = Wal::open(dir).unwrap_or_else(|e| panic!("the log must open: {e}"));
    let mut replayed = BTreeMap::new();
    let mut last = 0;
    for (seq, got) in records {
        assert!(seq > last, "record {seq} after {last}");
        last = seq;
        assert_eq!(got, ops(seq), "record {seq} replayed with other content");
        replayed.insert(seq, ());
    }
    for seq in acknowledged {
        assert!(
            replayed.contains_key(seq),
            "record {seq} was acknowledged as durable but is not in the log after a crash"
        );
    }
    replayed.into_keys().collect()
}

#[test]
fn a_full_disk_fails_writes_until_there_is_room_and_loses_nothing_acknowledged() {
    let log = FaultyLog::new();
    let (wal, mut acknowledged) = log.start_with_record_1_durable();
    let disk = &log.disk;
    // room for part of the next record: a short write, then ENOSPC
    disk.with(|f| f.room = Some(10));
    wal.append(2, &ops(2));
    let e = wal.sync().unwrap_err();
    assert_eq!(os_error(&e), Some(ENOSPC), "{e}");
    // while the disk is full every later write fails too
    wal.append(3, &ops(3));
    let e = wal.sync().unwrap_err();
    assert_eq!(os_error(&e), Some(ENOSPC), "{e}");
    assert!(disk.with(|f| f.enospc) >= 2);
    // the disk is grown: the next write succeeds, and is durable
    disk.with(|f| f.room = None);
    append_durably(&wal, 4, &mut acknowledged);
    append_durably(&wal, 5, &mut acknowledged);
    log.close_and_reopen_after_crash(wal, &acknowledged);
}

#[test]
fn a_failed_fdatasync_is_never_reported_durable_by_a_later_sync() {
    let log = FaultyLog::new();
    let (wal, disk) = (log.start(), &log.disk);
    wal.append(1, &ops(1));
    disk.with(|f| f.failing_syncs = 1);
    let e = wal.sync().unwrap_err();
    assert_eq!(os_error(&e), Some(EIO), "{e}");
    // a second writer of the same batch syncs: it may be told "durable" only if it really is
    let mut acknowledged = Vec::new();
    if let Ok(seq) = wal.sync() {
        assert!(seq >= 1);
        acknowledged.push(1);
    }
    assert_eq!(
        acknowledged,
        vec![1],
        "the retry after the failure should succeed"
    );
    log.close_and_reopen_after_crash(wal, &acknowledged);
}

#[test]
fn a_checkpoint_rotation_on_a_full_disk_leaves_the_log_readable() {
    let log = FaultyLog::new();
    let (wal, mut acknowledged) = log.start_with_record_1_durable();
    let disk = &log.disk;
    wal.append(2, &ops(2));
    disk.with(|f| f.room = Some(5));
    assert!(wal.rotate().is_err(), "rotating onto a full disk must fail");
    // creating the next segment fails as well
    disk.with(|f| {
        f.room = None;
        f.failing_creates = 1;
    });
    assert!(
        wal.rotate().is_err(),
        "a segment that cannot be created fails the rotation"
    );
    assert_eq!(disk.with(|f| f.failed_creates), 1);
    append_durably(&wal, 3, &mut acknowledged);
    let (upto, _) = wal.rotate().unwrap();
    assert_eq!(upto, 3);
    append_durably(&wal, 4, &mut acknowledged);
    let replayed = log.close_and_reopen_after_crash(wal, &acknowledged);
    assert!(
        replayed.contains(&2),
        "record 2 was kept and written once there was room"
    );
}

/// A small deterministic generator (xorshift) for the fault schedule.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn concurrent_writers_on_a_failing_disk_are_told_durable_only_when_they_are() {
    const WRITERS: usize = 4;
    const WRITES_EACH: usize = 300;
    let log = FaultyLog::new();
    let (wal, disk) = (Arc::new(log.start()), &log.disk);
    // the write order, as the stores keep it: sequence numbers are appended in order
    let order = Arc::new(Mutex::new(0u64));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(Mutex::new(0u64));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let faults = {
        let (disk, wal, order, done) = (disk.clone(), wal.clone(), order.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let mut rotations = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                match rng.below(8) {
                    // the disk fills up (a few bytes to a few records of room)
                    0 | 1 => disk.with(|f| f.room = Some(rng.below(400))),
                    // fdatasync fails
                    2 => disk.with(|f| f.failing_syncs += 1),
                    // a checkpoint, whose new segment may not be creatable
                    3 | 4 => {
                        if rng.below(2) == 0 {
                            disk.with(|f| f.failing_creates += 1);
                        }
                        let _order = order.lock().unwrap();
                        if wal.rotate().is_ok() {
                            rotations += 1;
                        }
                    }
                    // the disk is grown again
                    _ => disk.with(|f| f.room = None),
                }
                std::thread::sleep(std::time::Duration::from_micros(500 + rng.below(1500)));
            }
            rotations
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (wal, order, acknowledged, failed) = (
                wal.clone(),
                order.clone(),
                acknowledged.clone(),
                failed.clone(),
            );
            std::thread::spawn(move || {
                for _ in 0..WRITES_EACH {
                    let seq = {
                        let mut o = order.lock().unwrap();
                        *o += 1;
                        wal.append(*o, &ops(*o));
                        *o
                    };
                    match wal.sync() {
                        Ok(durable) => {
                            assert!(durable >= seq, "told durable up to {durable} for {seq}");
                            acknowledged.lock().unwrap().push(seq);
                        }
                        Err(_) => {
                            *failed.lock().unwrap() += 1;
                            // a client backs off before its next write
                            std::thread::sleep(std::time::Duration::from_micros(500));
                        }
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let rotations = faults.join().unwrap();
    // the disk has room again: the log works
    disk.with(|f| {
        f.room = None;
        f.failing_syncs = 0;
        f.failing_creates = 0;
    });
    let last = {
        let mut o = order.lock().unwrap();
        *o += 1;
        wal.append(*o, &ops(*o));
        *o
    };
    assert_eq!(wal.sync().unwrap(), last);
    let mut acknowledged = acknowledged.lock().unwrap().clone();
    acknowledged.push(last);
    let failed = *failed.lock().unwrap();
    let (enospc, eio, failed_creates) = disk.with(|f| (f.enospc, f.eio, f.failed_creates));
    println!(
        "FIGURES wal_faults writes={} acknowledged={} failed={failed} enospc={enospc} eio={eio} \
         failed_creates={failed_creates} rotations={rotations}",
        WRITERS * WRITES_EACH + 1,
        acknowledged.len(),
    );
    // the faults really happened, and writes got through between them
    assert!(
        enospc > 0 && eio > 0 && failed_creates > 0,
        "faults not injected"
    );
    assert!(failed > 0, "no write failed");
    assert!(acknowledged.len() > 100, "too few writes acknowledged");
    let replayed = log.close_and_reopen_after_crash(wal, &acknowledged);
    assert!(replayed.len() >= acknowledged.len());
}

#[test]
fn a_withdrawn_record_is_never_written_unless_it_was_already_durable() {
    let log = FaultyLog::new();
    let (wal, disk) = (log.start(), &log.disk);
    wal.append(1, &ops(1));
    wal.sync().unwrap();
    // a short write of record 2, which its writer then withdraws
    disk.with(|f| f.room = Some(30));
    wal.append(2, &ops(2));
    assert!(wal.sync().is_err());
    assert!(wal.withdraw(2));
    disk.with(|f| f.room = None);
    wal.append(3, &ops(3));
    assert_eq!(wal.sync().unwrap(), 3);
    // record 4's sync fails, but another writer's sync writes it before it is withdrawn
    wal.append(4, &ops(4));
    disk.with(|f| f.failing_syncs = 1);
    assert!(wal.sync().is_err());
    assert_eq!(wal.sync().unwrap(), 4);
    assert!(!wal.withdraw(4), "a durable record cannot be withdrawn");
    let replayed = log.close_and_reopen_after_crash(wal, &[1, 3, 4]);
    assert_eq!(replayed, vec![1, 3, 4]);
}
