//! One migration run: take the destination's lease, read the destination, then stream the source
//! in batches (classifying each secret by digest as it arrives, so copying overlaps with a slow
//! source such as legacy_sql's PBKDF2 per value), copy with a bounded number of workers through
//! the AIMD pacer (retrying transient failures), read every copy back in batches (`get_many`)
//! and compare digests, checkpoint what is verified, delete verified secrets from the source
//! only when asked, release the lease and report.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::checkpoint::{write_atomically, Checkpoint};
use super::guard::Lease;
use super::metrics::MigrationMetrics;
use super::pacing::{Pacer, PacerConfig};
use super::plan::{in_checkpoint, record, Classifier, CopyReason, CopyStep, Plan, Step};
use super::progress::{Mode, Progress};
use super::report::{Failure, PlannedStep, Report, Stage};
use super::{dst_err, src_err, Clock, Error};
use crate::backends::reconcile::{backoff, with_retries};
use crate::backends::{self, SecretStore};
use crate::domain::{Item, SecretKey};

/// How to run a migration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent copy workers (at least 1).
    pub workers: usize,
    /// Pacing of writes to the destination.
    pub destination_pacing: PacerConfig,
    /// Pacing of deletes in the source (`--delete-source`).
    pub source_pacing: PacerConfig,
    /// Only plan; write nothing (no lease, no checkpoint).
    pub dry_run: bool,
    /// Delete each verified secret from the source.
    pub delete_source: bool,
    /// Checkpoint file; `None` = no checkpoint.
    pub checkpoint: Option<PathBuf>,
    /// Lease time to live (renewed every third of it).
    pub lease_ttl: Duration,
    /// Attempts per call on transient errors before a secret counts as failed.
    pub max_attempts: u32,
    /// Description of the source (report, checkpoint identity).
    pub source_id: String,
    /// Description of the destination.
    pub destination_id: String,
    /// Progress display.
    pub progress: Mode,
    /// Clock for the lease.
    pub clock: Arc<dyn Clock>,
    /// Where the run's progress is counted (for `--metrics-listen`).
    pub metrics: Arc<MigrationMetrics>,
}

impl Options {
    /// Defaults: 32 workers, no pacing ceiling, 30 s lease, 12 attempts, no checkpoint.
    pub fn new(source_id: impl Into<String>, destination_id: impl Into<String>) -> Self {
        Self {
            workers: 32,
            destination_pacing: PacerConfig::default(),
            source_pacing: PacerConfig::default(),
            dry_run: false,
            delete_source: false,
            checkpoint: None,
            lease_ttl: Duration::from_secs(30),
            max_attempts: 12,
            source_id: source_id.into(),
            destination_id: destination_id.into(),
            progress: Mode::Quiet,
            clock: Arc::new(super::SystemClock),
            metrics: Arc::new(MigrationMetrics::new()),
        }
    }
}

/// Shared state of the copy workers.
struct Ctx {
    dst: Arc<dyn SecretStore>,
    pacer: Pacer,
    checkpoint: Option<Mutex<Checkpoint>>,
    lost: Mutex<Option<String>>,
    stop: AtomicBool,
    retries: AtomicU64,
    max_attempts: u32,
    metrics: Arc<MigrationMetrics>,
}

impl Ctx {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn mark_verified(&self, key: &SecretKey, digest: &str) {
        if let Some(cp) = &self.checkpoint {
            lock(cp).mark_verified(key, digest.to_string());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Outcome {
    Verified,
    Failed(Failure),
    Stopped,
}

/// Counts a copy's final outcome in the run's metrics.
fn count(metrics: &MigrationMetrics, outcome: &Outcome) {
    match outcome {
        Outcome::Verified => metrics.verified(),
        Outcome::Failed(_) => metrics.failed(),
        Outcome::Stopped => {}
    }
}

fn failure(key: &SecretKey, stage: Stage, reason: impl Into<String>) -> Outcome {
    Outcome::Failed(Failure {
        key: record(key),
        stage,
        reason: reason.into(),
    })
}

/// Writes one secret to the destination through the pacer, retrying transient failures.
/// `None` when written (it still has to be read back), otherwise the outcome.
async fn write_one(ctx: &Ctx, item: &Item) -> Option<Outcome> {
    let mut attempt = 0;
    loop {
        if ctx.stopped() {
            return Some(Outcome::Stopped);
        }
        ctx.pacer.acquire().await;
        match ctx.dst.set(&item.key, &item.value).await {
            Ok(()) => {
                ctx.pacer.on_success();
                return None;
            }
            Err(e) if e.is_transient() && attempt + 1 < ctx.max_attempts => {
                ctx.pacer.on_throttle();
                ctx.retries.fetch_add(1, Ordering::Relaxed);
                ctx.metrics.retried();
                attempt += 1;
                backoff(attempt).await;
            }
            Err(e) => return Some(failure(&item.key, Stage::Copy, e.to_string())),
        }
    }
}

/// Reads back a batch of written secrets with one `get_many` and compares digests.
async fn verify_batch(ctx: &Ctx, written: &[(Item, String)]) -> Vec<Outcome> {
    let keys: Vec<SecretKey> = written.iter().map(|(i, _)| i.key.clone()).collect();
    let read = with_retries(ctx.max_attempts, || ctx.dst.get_many(&keys)).await;
    let values = match read {
        Ok(v) if v.len() == written.len() => v,
        Ok(_) => {
            let why = "the destination answered a read-back with the wrong number of values";
            return written
                .iter()
                .map(|(i, _)| failure(&i.key, Stage::Verify, why))
                .collect();
        }
        Err(e) => {
            return written
                .iter()
                .map(|(i, _)| failure(&i.key, Stage::Verify, e.to_string()))
                .collect()
        }
    };
    written
        .iter()
        .zip(values)
        .map(|((item, digest), value)| match value {
            Some(v) if v.digest() == *digest => {
                ctx.mark_verified(&item.key, digest);
                Outcome::Verified
            }
            Some(_) => failure(
                &item.key,
                Stage::Verify,
                "read back a different value than was written (SHA-256 digests differ)",
            ),
            None => failure(
                &item.key,
                Stage::Verify,
                "not found when read back after writing",
            ),
        })
        .collect()
}

/// Runs the migration from `source` to `destination`.
pub async fn migrate(
    source: Arc<dyn SecretStore>,
    destination: Arc<dyn SecretStore>,
    opts: &Options,
) -> Result<Report, Error> {
    if opts.workers == 0 {
        return Err(Error::Options("workers must be at least 1".into()));
    }
    if opts.max_attempts == 0 {
        return Err(Error::Options("max attempts must be at least 1".into()));
    }
    let started = Instant::now();
    let lease = if opts.dry_run {
        None
    } else {
        Some(Arc::new(
            Lease::acquire(destination.clone(), opts.clock.clone(), opts.lease_ttl).await?,
        ))
    };
    let result = run(source, destination, opts, lease.clone(), started).await;
    if let Some(lease) = lease {
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "could not release the migration lease; it expires by itself");
        }
    }
    result
}

/// Copy steps read from the source but not yet taken by a worker (backpressure on the read),
/// and written secrets not yet read back.
const STEP_QUEUE: usize = 1024;
/// Read-backs per `get_many` call (AWS's BatchGetSecretValue takes 20 names).
const VERIFY_BATCH: usize = 20;

/// What became of each copy step that was taken: its item, its digest and its outcome.
type Outcomes = Arc<Mutex<Vec<(Item, String, Outcome)>>>;

/// The migration proper (the lease, if any, is held by the caller): load the state, start the
/// copy workers and verifiers, feed them from the source, then tally, delete and report.
async fn run(
    source: Arc<dyn SecretStore>,
    destination: Arc<dyn SecretStore>,
    opts: &Options,
    lease: Option<Arc<Lease>>,
    started: Instant,
) -> Result<Report, Error> {
    if opts.dry_run {
        return dry_run(source, destination, opts, started).await;
    }
    let (ctx, classifier) = load_state(&destination, opts).await?;
    let mut report = Report {
        source: opts.source_id.clone(),
        destination: opts.destination_id.clone(),
        ..Report::default()
    };
    let (stop_background, background_stop) = tokio::sync::oneshot::channel();
    let background = spawn_background(ctx.clone(), lease, background_stop);

    // Copy phase: `workers` tasks take steps from one queue, which the source read below fills
    // batch by batch, so copying overlaps with a slow source (legacy_sql decrypts every value).
    let progress = Arc::new(Progress::start(opts.progress, "copy", 0));
    let (steps, queue) = tokio::sync::mpsc::channel::<CopyStep>(STEP_QUEUE);
    let outcomes = Outcomes::default();
    // Written secrets wait here for their read-back, which verifiers do in batches.
    let (written_tx, written_rx) = tokio::sync::mpsc::channel::<(Item, String)>(STEP_QUEUE);
    let mut workers = spawn_copiers(&ctx, opts.workers, queue, &outcomes, &progress, written_tx);
    let mut verifiers = spawn_verifiers(&ctx, opts.workers, written_rx, &outcomes, &progress);
    let mut planner = Planner {
        ctx: ctx.clone(),
        classifier,
        steps,
        skipped: Vec::new(),
        progress: progress.clone(),
    };
    let read = read_source(&source, opts.max_attempts, &mut planner, &mut report).await;
    let (classifier, skipped) = planner.close();
    if read.is_err() {
        ctx.stop.store(true, Ordering::SeqCst);
    }
    while workers.join_next().await.is_some() {}
    while verifiers.join_next().await.is_some() {}
    progress.finish();
    report.extra_in_destination = classifier.unmatched().len();
    if let Err(e) = read {
        // Keep what was verified for the rerun, then report the source's error.
        let _ = stop_background.send(());
        let _ = background.await;
        if let Some(cp) = &ctx.checkpoint {
            lock(cp).save()?;
        }
        return Err(src_err(source.as_ref())(e));
    }
    let verified_items = tally(&outcomes, skipped, &mut report);

    if opts.delete_source && !ctx.stopped() {
        delete_verified(&source, &ctx, opts, verified_items, &mut report).await;
    }
    // Stop the background task and wait for it: aborting it could leave a checkpoint write
    // running on the blocking pool, which would recreate the checkpoint after it is removed.
    let _ = stop_background.send(());
    let _ = background.await;
    finish(&ctx, report, started)
}

/// Reads the destination (what is already there) and loads the checkpoint: the classifier for
/// the source's secrets and the workers' shared state.
async fn load_state(
    destination: &Arc<dyn SecretStore>,
    opts: &Options,
) -> Result<(Arc<Ctx>, Classifier), Error> {
    let dst_items = with_retries(opts.max_attempts, || destination.get_all())
        .await
        .map_err(dst_err(destination.as_ref()))?;
    let checkpoint = match &opts.checkpoint {
        Some(path) => Some(Checkpoint::load_or_new(
            path,
            &opts.source_id,
            &opts.destination_id,
        )?),
        None => None,
    };
    let ctx = Arc::new(Ctx {
        dst: destination.clone(),
        pacer: Pacer::new(opts.destination_pacing),
        checkpoint: checkpoint.map(Mutex::new),
        lost: Mutex::new(None),
        stop: AtomicBool::new(false),
        retries: AtomicU64::new(0),
        max_attempts: opts.max_attempts,
        metrics: Arc::clone(&opts.metrics),
    });
    Ok((ctx, Classifier::new(dst_items)))
}

/// Starts `workers` copy tasks: each takes steps from `queue`, writes them through the pacer
/// (with retries) and passes what it wrote on to the verifiers, recording any other outcome.
fn spawn_copiers(
    ctx: &Arc<Ctx>,
    workers: usize,
    queue: tokio::sync::mpsc::Receiver<CopyStep>,
    outcomes: &Outcomes,
    progress: &Arc<Progress>,
    written: tokio::sync::mpsc::Sender<(Item, String)>,
) -> tokio::task::JoinSet<()> {
    let queue = Arc::new(tokio::sync::Mutex::new(queue));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (ctx, queue, outcomes, progress, written) = (
            ctx.clone(),
            queue.clone(),
            outcomes.clone(),
            progress.clone(),
            written.clone(),
        );
        tasks.spawn(async move {
            loop {
                let next = queue.lock().await.recv().await;
                let Some(step) = next else {
                    break;
                };
                match write_one(&ctx, &step.item).await {
                    None => {
                        if let Err(back) = written.send((step.item, step.digest)).await {
                            let (item, digest) = back.0;
                            lock(&outcomes).push((item, digest, Outcome::Stopped));
                        }
                    }
                    Some(outcome) => {
                        progress.inc();
                        count(&ctx.metrics, &outcome);
                        lock(&outcomes).push((step.item, step.digest, outcome));
                    }
                }
            }
        });
    }
    tasks
}

/// Starts the verifiers (one per [`VERIFY_BATCH`] workers): each reads back what was written,
/// [`VERIFY_BATCH`] secrets at a time, and records the outcomes.
fn spawn_verifiers(
    ctx: &Arc<Ctx>,
    workers: usize,
    written: tokio::sync::mpsc::Receiver<(Item, String)>,
    outcomes: &Outcomes,
    progress: &Arc<Progress>,
) -> tokio::task::JoinSet<()> {
    let written = Arc::new(tokio::sync::Mutex::new(written));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers.div_ceil(VERIFY_BATCH).max(1) {
        let (ctx, written, outcomes, progress) = (
            ctx.clone(),
            written.clone(),
            outcomes.clone(),
            progress.clone(),
        );
        tasks.spawn(async move {
            while let Some(batch) = next_written_batch(&written).await {
                let results = verify_batch(&ctx, &batch).await;
                let mut done = lock(&outcomes);
                for ((item, digest), outcome) in batch.into_iter().zip(results) {
                    progress.inc();
                    count(&ctx.metrics, &outcome);
                    done.push((item, digest, outcome));
                }
            }
        });
    }
    tasks
}

/// Waits for the next written secret and takes up to [`VERIFY_BATCH`] that are already waiting;
/// `None` once every copy worker has finished.
async fn next_written_batch(
    written: &tokio::sync::Mutex<tokio::sync::mpsc::Receiver<(Item, String)>>,
) -> Option<Vec<(Item, String)>> {
    let mut rx = written.lock().await;
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < VERIFY_BATCH {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// The planning side of the source read: classifies each secret as it arrives, queues the copy
/// steps for the workers and keeps the skipped secrets (already in the destination).
struct Planner {
    ctx: Arc<Ctx>,
    classifier: Classifier,
    steps: tokio::sync::mpsc::Sender<CopyStep>,
    skipped: Vec<(Item, String)>,
    progress: Arc<Progress>,
}

impl Planner {
    /// Closes the copy queue (the workers finish what is in it); the classifier, for what it did
    /// not match, and the skipped secrets.
    fn close(self) -> (Classifier, Vec<(Item, String)>) {
        (self.classifier, self.skipped)
    }

    /// Classifies one batch from the source and counts it in `report`; `false` when the copy
    /// queue is closed (no worker is left to take a step).
    async fn plan_batch(&mut self, batch: Vec<Item>, report: &mut Report) -> bool {
        for item in batch {
            let cp = self.ctx.checkpoint.as_ref();
            let step = self.classifier.classify(item, |k, d| {
                cp.is_some_and(|c| in_checkpoint(Some(&lock(c)), k, d))
            });
            match step {
                Step::Copy(c) => {
                    report.total += 1;
                    self.progress.add_total(1);
                    self.ctx.metrics.planned();
                    if self.steps.send(c).await.is_err() {
                        return false;
                    }
                }
                Step::Skip(s) => {
                    report.total += 1;
                    report.skipped += 1;
                    self.ctx.metrics.skipped();
                    report.resumed += usize::from(s.from_checkpoint);
                    self.ctx.mark_verified(&s.item.key, &s.digest);
                    self.skipped.push((s.item, s.digest));
                }
                Step::Ignore => {}
            }
        }
        true
    }
}

/// Streams the source in batches into `planner`, retrying a read that failed transiently before
/// delivering anything (up to `max_attempts` tries).
async fn read_source(
    source: &Arc<dyn SecretStore>,
    max_attempts: u32,
    planner: &mut Planner,
    report: &mut Report,
) -> backends::Result<()> {
    let mut attempt = 0;
    loop {
        let (batches, mut incoming) = tokio::sync::mpsc::channel::<Vec<Item>>(4);
        let src = source.clone();
        let reader = tokio::spawn(async move { src.get_all_batched(batches).await });
        let mut received = false;
        while let Some(batch) = incoming.recv().await {
            received = true;
            if !planner.plan_batch(batch, report).await {
                break;
            }
            if planner.ctx.stopped() {
                break;
            }
        }
        drop(incoming); // a reader still sending sees the closed channel and stops
        let res = reader.await.unwrap_or_else(|e| {
            Err(backends::Error::Storage(format!(
                "the source read task failed: {e}"
            )))
        });
        match res {
            // Retry a read that failed before delivering anything; a partial one is not
            // repeated (its secrets are already queued): the run fails and a rerun resumes.
            Err(e) if e.is_transient() && !received && attempt + 1 < max_attempts => {
                attempt += 1;
                backoff(attempt).await;
            }
            other => return other,
        }
    }
}

/// Counts the outcomes into `report` (copied, failures, verified); the verified secrets (copied
/// or skipped), with their digests.
fn tally(
    outcomes: &Outcomes,
    skipped: Vec<(Item, String)>,
    report: &mut Report,
) -> Vec<(Item, String)> {
    let mut verified_items = skipped;
    let outcomes = std::mem::take(&mut *lock(outcomes));
    for (item, digest, outcome) in outcomes {
        match outcome {
            Outcome::Verified => {
                report.copied += 1;
                verified_items.push((item, digest));
            }
            Outcome::Failed(f) => report.failures.push(f),
            Outcome::Stopped => {}
        }
    }
    report.verified = verified_items.len();
    verified_items
}

/// Completes the report (failures sorted, retries, rate, timing), removes the checkpoint of a
/// complete run or saves it for a rerun, and fails if the lease was lost.
fn finish(ctx: &Ctx, mut report: Report, started: Instant) -> Result<Report, Error> {
    let lost = lock(&ctx.lost).clone();
    report.failed = report.failures.len();
    report.failures.sort_by(|a, b| a.key.cmp(&b.key));
    report.retries = ctx.retries.load(Ordering::Relaxed);
    report.final_write_rate = ctx.pacer.rate();
    report.elapsed_secs = started.elapsed().as_secs_f64();
    report.copied_per_sec = report.copied as f64 / report.elapsed_secs.max(1e-9);
    if let Some(cp) = &ctx.checkpoint {
        let mut cp = lock(cp);
        if lost.is_none() && report.failed == 0 {
            // Complete: nothing to resume. A rerun is still idempotent (digests are compared).
            match std::fs::remove_file(cp.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(error = %e, "could not remove the finished checkpoint"),
            }
        } else {
            cp.save()?;
        }
    }
    match lost {
        Some(holder) => Err(Error::GuardLost { holder }),
        None => Ok(report),
    }
}

/// `--dry-run`: reads both stores, prints the plan; no lease, no checkpoint, no write.
async fn dry_run(
    source: Arc<dyn SecretStore>,
    destination: Arc<dyn SecretStore>,
    opts: &Options,
    started: Instant,
) -> Result<Report, Error> {
    let src_items = with_retries(opts.max_attempts, || source.get_all())
        .await
        .map_err(src_err(source.as_ref()))?;
    let dst_items = with_retries(opts.max_attempts, || destination.get_all())
        .await
        .map_err(dst_err(destination.as_ref()))?;
    let plan = Plan::build(src_items, dst_items, None);
    Ok(Report {
        source: opts.source_id.clone(),
        destination: opts.destination_id.clone(),
        dry_run: true,
        total: plan.copy.len() + plan.skip.len(),
        skipped: plan.skip.len(),
        extra_in_destination: plan.extra_in_destination.len(),
        plan: planned_steps(&plan),
        elapsed_secs: started.elapsed().as_secs_f64(),
        ..Report::default()
    })
}

fn planned_steps(plan: &Plan) -> Vec<PlannedStep> {
    let copy = plan.copy.iter().map(|c| PlannedStep {
        key: record(&c.item.key),
        action: match c.reason {
            CopyReason::New => "copy_new",
            CopyReason::Changed => "copy_changed",
        },
    });
    let skip = plan.skip.iter().map(|s| PlannedStep {
        key: record(&s.item.key),
        action: "skip_unchanged",
    });
    let extra = plan.extra_in_destination.iter().map(|k| PlannedStep {
        key: record(k),
        action: "leave_only_in_destination",
    });
    copy.chain(skip).chain(extra).collect()
}

/// Renews the lease every third of its ttl and saves the checkpoint every 500 ms when it changed.
fn spawn_background(
    ctx: Arc<Ctx>,
    lease: Option<Arc<Lease>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let renew_every = lease
            .as_ref()
            .map(|l| l.ttl() / 3)
            .unwrap_or(Duration::from_secs(3600))
            .max(Duration::from_millis(10));
        let mut last_renew = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(500).min(renew_every));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop => return,
            }
            if let Some(cp) = &ctx.checkpoint {
                let snapshot = {
                    let mut cp = lock(cp);
                    cp.is_dirty()
                        .then(|| cp.snapshot().map(|b| (cp.path().to_path_buf(), b)))
                };
                if let Some(Ok((path, bytes))) = snapshot {
                    let res =
                        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes)).await;
                    if let Ok(Err(e)) = res {
                        tracing::warn!(error = %e, "could not save the checkpoint");
                    }
                }
            }
            if let Some(lease) = &lease {
                if last_renew.elapsed() >= renew_every {
                    last_renew = tokio::time::Instant::now();
                    match lease.renew().await {
                        Ok(()) => {}
                        Err(Error::GuardLost { holder }) => {
                            tracing::error!(%holder, "the migration lease was taken over; stopping");
                            *lock(&ctx.lost) = Some(holder);
                            ctx.stop.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, "could not renew the migration lease"),
                    }
                }
            }
        }
    })
}

/// Deletes verified secrets from the source, each only if its value there is still the one that
/// was verified in the destination.
async fn delete_verified(
    source: &Arc<dyn SecretStore>,
    ctx: &Arc<Ctx>,
    opts: &Options,
    items: Vec<(Item, String)>,
    report: &mut Report,
) {
    let pacer = Pacer::new(opts.source_pacing);
    let progress = Progress::start(opts.progress, "delete", items.len() as u64);
    for (item, digest) in items {
        if ctx.stopped() {
            break;
        }
        let key = &item.key;
        let current = with_retries(opts.max_attempts, || source.get(key)).await;
        let fail = |reason: String| Failure {
            key: record(key),
            stage: Stage::DeleteSource,
            reason,
        };
        match current {
            Ok(Some(v)) if v.digest() == digest => {}
            Ok(Some(_)) => {
                report.failures.push(fail(
                    "the source value changed during the migration; not deleted (rerun to copy it)"
                        .into(),
                ));
                continue;
            }
            Ok(None) => continue,
            Err(e) => {
                report.failures.push(fail(e.to_string()));
                continue;
            }
        }
        let mut attempt = 0;
        let res = loop {
            pacer.acquire().await;
            match source.delete(key).await {
                Err(e) if e.is_transient() && attempt + 1 < opts.max_attempts => {
                    pacer.on_throttle();
                    ctx.retries.fetch_add(1, Ordering::Relaxed);
                    ctx.metrics.retried();
                    attempt += 1;
                    backoff(attempt).await;
                }
                other => break other,
            }
        };
        match res {
            Ok(()) => {
                pacer.on_success();
                report.deleted += 1;
                if let Some(cp) = &ctx.checkpoint {
                    lock(cp).mark_deleted(key);
                }
            }
            Err(e) => report.failures.push(fail(e.to_string())),
        }
        progress.inc();
    }
    progress.finish();
}
