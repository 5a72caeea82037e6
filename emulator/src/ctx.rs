//! Per-request context handed to every operation: who is calling (account, region), the time, the
//! shared state, secret lookup (name / full ARN / partial ARN) and the write path into the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::clock::Clock as _;
use crate::error::ApiError;
use crate::model::{self, Secret, SecretData};
use crate::state::{AccountWrite, Origin, RegionWrite, Writer};
pub use crate::state::{Accounts, Region, State};
use crate::store::Store;
use crate::Shared;

/// Context of one API request.
#[derive(Debug)]
pub struct Ctx {
    /// Emulator-wide state and configuration.
    pub shared: Arc<Shared>,
    /// Account of the caller.
    pub account: String,
    /// Region from the SigV4 credential scope.
    pub region: String,
    /// Request id sent back as `x-amzn-RequestId`.
    pub request_id: String,
    /// The emulator clock at the start of the request (epoch seconds).
    pub now: f64,
    durable_seq: AtomicU64,
}

/// How an id resolved against a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Found: the secret's name.
    Found(String),
    /// No such secret.
    Missing,
}

impl Ctx {
    /// A context for `account`/`region` at the current emulator time.
    pub fn new(shared: Arc<Shared>, account: String, region: String) -> Ctx {
        Ctx::with_request_id(shared, account, region, crate::model::random_uuid())
    }

    /// A context answering with an existing request id.
    pub fn with_request_id(
        shared: Arc<Shared>,
        account: String,
        region: String,
        request_id: String,
    ) -> Ctx {
        let now = shared.clock.now();
        Ctx {
            shared,
            account,
            region,
            request_id,
            now,
            durable_seq: AtomicU64::new(0),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// `arn:aws:secretsmanager:{region}:{account}:secret:`.
    pub fn arn_prefix(&self) -> String {
        model::arn_prefix(&self.region, &self.account)
    }

    /// Runs `f` on this account's region under the read lock.
    pub fn read<R>(&self, f: impl FnOnce(Option<&Region>) -> R) -> R {
        let g = self.shared.state.read_accounts();
        f(g.get(&self.account).and_then(|a| a.get(&self.region)))
    }

    /// Runs `f` on this account's region under the write lock; if it succeeds, what it changed
    /// (and what the replicas of the secrets it changed take from them) is committed to the store
    /// and the request waits for durability before answering.
    /// `f` must check everything before mutating (an error must leave the region unchanged).
    pub fn write<R>(
        &self,
        f: impl FnOnce(&mut RegionWrite<'_>) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        self.commit(true, |w| f(&mut w.region(&self.account, &self.region)))
    }

    /// Like [`Ctx::write`] but over all regions of the caller's account (replication).
    pub fn write_account<R>(
        &self,
        f: impl FnOnce(&mut AccountWrite<'_>) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        self.commit(false, |w| f(&mut w.account(&self.account)))
    }

    /// Like [`Ctx::write`] but over every account (cross-account replication).
    pub fn write_all<R>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        self.commit(false, f)
    }

    /// Every write path ends here: runs `f` in a transaction, lets replicas follow (regional ones
    /// when `regional`), commits to the store and notes the sequence to wait on.
    fn commit<R>(
        &self,
        regional: bool,
        f: impl FnOnce(&mut Writer<'_>) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut t = self.shared.state.begin();
        let r = f(&mut t.writer())?;
        let tx = t.finish(Some(Origin {
            account: &self.account,
            region: &self.region,
            now: self.now,
            regional,
        }));
        let seq = self.store().commit(tx).map_err(|e| {
            tracing::error!(error = %e, "store commit failed");
            ApiError::internal("The service failed to persist the change.")
        })?;
        drop(t);
        self.durable_seq.fetch_max(seq, Ordering::SeqCst);
        Ok(r)
    }

    /// Runs `f` under the write lock and commits what it changed without waiting for the flush
    /// (bookkeeping such as LastAccessedDate, which AWS keeps only to the day; replicas do not
    /// follow it).
    pub fn touch(&self, f: impl FnOnce(&mut RegionWrite<'_>)) {
        let mut t = self.shared.state.begin();
        f(&mut t.writer().region(&self.account, &self.region));
        let tx = t.finish(None);
        if let Err(e) = self.store().commit(tx) {
            tracing::warn!(error = %e, "store commit of bookkeeping failed");
        }
    }

    /// The highest store sequence this request wrote (0 if none).
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::SeqCst)
    }

    /// Reads the value of a version (by its record number) in this context's region.
    pub fn value(&self, rec: u64) -> Result<Option<SecretData>, ApiError> {
        self.value_in(&self.region, rec)
    }

    /// Reads the value of a version (by its record number) in `region` (replicas read their
    /// primary's values: a replica's copy of a version keeps the primary's record number).
    pub fn value_in(&self, region: &str, rec: u64) -> Result<Option<SecretData>, ApiError> {
        self.value_at(&self.account, region, rec)
    }

    /// Reads the value of a version (by its record number) of `account` in `region` (a
    /// cross-account replica in sync reads its primary's account).
    pub fn value_at(
        &self,
        account: &str,
        region: &str,
        rec: u64,
    ) -> Result<Option<SecretData>, ApiError> {
        self.store().value(account, region, rec).map_err(|e| {
            tracing::error!(error = %e, "store read failed");
            ApiError::internal("The service failed to read the secret value.")
        })
    }

    /// Whether a secret's recovery window has ended (it is gone, to be purged lazily).
    pub fn expired(&self, s: &Secret) -> bool {
        s.purge_at.is_some_and(|t| t <= self.now)
    }

    /// Resolves a SecretId (name, full ARN or partial ARN) in `region`.
    /// Expired secrets count as missing; a partial ARN that is also another secret's full ARN is
    /// ambiguous (InvalidParameterException).
    pub fn resolve(&self, region: &Region, id: &str) -> Result<Lookup, ApiError> {
        let live = |name: &str| region.get(name).filter(|s| !self.expired(s));
        if !id.starts_with("arn:") {
            return Ok(match live(id) {
                Some(_) => Lookup::Found(id.to_string()),
                None => Lookup::Missing,
            });
        }
        let prefix = self.arn_prefix();
        let Some(rest) = id.strip_prefix(&prefix) else {
            return Ok(Lookup::Missing);
        };
        // full ARN: name + "-" + 6-char suffix
        let full = if rest.len() > 7 && rest.is_char_boundary(rest.len() - 7) {
            let (name, suffix) = rest.split_at(rest.len() - 7);
            live(name)
                .filter(|s| s.arn.len() >= 6 && s.arn.ends_with(suffix))
                .map(|s| s.name.clone())
        } else {
            None
        };
        let partial = live(rest).map(|s| s.name.clone());
        match (full, partial) {
            (Some(a), Some(b)) if a != b => Err(ApiError::invalid_parameter(format!(
                "The ARN {id} is ambiguous: it is the full ARN of secret {a} and a partial ARN of secret {b}. Use the secret's name or a different full ARN."
            ))),
            (Some(a), _) => Ok(Lookup::Found(a)),
            (None, Some(b)) => Ok(Lookup::Found(b)),
            (None, None) => Ok(Lookup::Missing),
        }
    }

    /// Resolves a SecretId to a name or answers ResourceNotFoundException.
    pub fn find(&self, region: &Region, id: &str) -> Result<String, ApiError> {
        match self.resolve(region, id)? {
            Lookup::Found(n) => Ok(n),
            Lookup::Missing => Err(ApiError::secret_not_found()),
        }
    }
}
