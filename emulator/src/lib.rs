//! An offline AWS Secrets Manager: the real AWS JSON 1.1 protocol over HTTP/1.1, persisted in sled,
//! with a controllable clock, SigV4 verification and fault injection.
//!
//! Start one from a test with [`Emulator::builder`]:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let emu = secretsmanager_emulator::Emulator::builder().in_memory().start().await?;
//! println!("endpoint: {}", emu.endpoint());
//! emu.clock().advance(std::time::Duration::from_secs(86_400));
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout (each layer calls only the layers below it)
//!
//! - `server.rs`: hyper server; routes `POST /` (the AWS API) and `/_emulator/*` (`admin/`), and
//!   records every API request in the console's request log. `admin/`: the admin endpoint (and
//!   `admin/rotation.rs`, its rotation part). `console/`: the web console at `/_emulator/ui` and
//!   its read-only admin endpoints. `http.rs`: the response type and JSON / AWS error answers
//!   they share.
//! - `sigv4.rs`: Authorization parsing (region and account come from the credential scope) and
//!   optional exact signature verification. `faults.rs`: throttling, error rates, latency.
//! - `protocol.rs` ([`protocol::Input`]): typed member access with AWS ValidationException messages.
//! - `ops/`: the operations, one function each, and the background work beside them (the purge
//!   sweep in `ops/purge.rs`, scheduled rotations in `ops/rotation/`). **`ops/mod.rs` maps each
//!   `X-Amz-Target` operation name to an [`ops::Handler`]**: `Handler::Sync(fn(&Ctx, Input) ->
//!   Result<Value, ApiError>)` or `Handler::Async(fn(Arc<Ctx>, Input) -> BoxFuture<...>)` for
//!   operations that must await (rotation calling a hook). `password.rs` holds
//!   GetRandomPassword and the password generator; `policy/` the resource-policy grammar.
//! - `ctx.rs` ([`ctx::Ctx`]): per-request context: account, region, `now`, secret lookup
//!   (`resolve`/`find`: name, full ARN, partial ARN), `read` (read lock) and `write` (a
//!   transaction over the state; the answer waits until the write-ahead log holding it is synced).
//! - `state/` ([`state::State`]): the in-memory secrets and the only way to change them: write
//!   handles that record every change, replicas following their primary, and the change set
//!   turned into the store's records ([`store::Tx`]).
//! - `model/`: [`model::Secret`], [`model::Version`], values and digests, label moves
//!   (`attach_label`), pruning, ARNs, what a secret records about its replicas.
//! - `store.rs`: the only module touching sled: record layout, commits (pending in memory, logged in
//!   `sled_sync::wal`), checkpoints into sled, replay at start; `data_dir.rs` makes the data
//!   directory 0700 and its files 0600. `value_cache.rs`: the version
//!   records it has read from sled.

pub mod admin;
pub mod clock;
pub mod console;
pub mod ctx;
pub mod data_dir;
pub mod error;
pub mod faults;
pub mod http;
pub mod kms;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod password;
pub mod policy;
pub mod protocol;
pub mod server;
pub mod sigv4;
pub mod state;
pub mod store;
pub mod value_cache;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use clock::{Clock, ClockHandle};
pub use error::ApiError;
pub use faults::{FaultRule, FaultSettings};
pub use ops::{replication, rotation};

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The store could not be opened or loaded.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Static configuration of a running emulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Account used when the access key id is not a 12-digit account id.
    pub account_id: String,
    /// Access key id -> secret access key. Empty: any well-formed SigV4 request is accepted.
    pub credentials: HashMap<String, String>,
    /// KMS keys known besides the default (key ids, key ARNs, alias names or alias ARNs).
    pub kms_keys: Vec<String>,
    /// Maximum request body size in bytes.
    pub max_body: usize,
    /// Rotation hooks (Lambda ARN -> local HTTP endpoint) and strict mode (rotation.rs).
    pub rotation: rotation::RotationSettings,
    /// Token admin requests may carry in `X-Emulator-Admin-Token` instead of a SigV4 signature.
    /// With it or with `credentials`, unauthenticated admin requests are refused (admin.rs).
    pub admin_token: Option<String>,
    /// Host names (besides loopback names and IP literals) state-changing admin requests may name
    /// in their `Host` header.
    pub allowed_hosts: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            account_id: "123456789012".into(),
            credentials: HashMap::new(),
            kms_keys: Vec::new(),
            max_body: 2 * 1024 * 1024,
            rotation: rotation::RotationSettings::default(),
            admin_token: None,
            allowed_hosts: Vec::new(),
        }
    }
}

/// State shared by all requests.
#[derive(Debug)]
pub struct Shared {
    /// In-memory secrets.
    pub state: state::State,
    /// Durable store.
    pub store: Arc<store::Store>,
    /// Emulator clock.
    pub clock: Arc<clock::OffsetClock>,
    /// Configuration.
    pub config: Config,
    /// Fault injection and per-operation call counts.
    pub faults: faults::Faults,
    /// The last API requests and per-second totals, for the web console (console/).
    pub requests: console::RequestLog,
    /// The Prometheus metrics (`/metrics`).
    pub metrics: metrics::EmulatorMetrics,
}

impl Shared {
    /// Loads the store's content into memory (at start).
    fn load(&self) -> Result<usize, store::StoreError> {
        let loaded = self.store.load()?;
        let mut g = self
            .state
            .accounts
            .write()
            .unwrap_or_else(|e| e.into_inner());
        g.clear();
        // loaded secrets may be scheduled for deletion: the next sweep looks at every one
        self.state.set_next_purge(0.0);
        let mut n = 0;
        for (acct, regions) in loaded {
            for (region, secrets) in regions {
                let r = g
                    .entry(acct.clone())
                    .or_default()
                    .entry(region)
                    .or_default();
                for s in secrets {
                    n += 1;
                    r.insert(s.name.clone(), Box::new(s));
                }
            }
        }
        Ok(n)
    }

    /// Wipes all secrets and puts the clock back at the system clock (admin reset).
    pub fn reset(&self) -> Result<(), store::StoreError> {
        let mut g = self
            .state
            .accounts
            .write()
            .unwrap_or_else(|e| e.into_inner());
        self.store.clear()?;
        g.clear();
        self.clock.reset();
        Ok(())
    }
}

/// Builder for an [`Emulator`].
#[derive(Debug, Default)]
pub struct EmulatorBuilder {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    config: Config,
    faults: FaultSettings,
    cache_bytes: Option<u64>,
}

impl EmulatorBuilder {
    /// Listen address (default 127.0.0.1:0).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }
    /// Persist in sled under `dir` (default: in memory).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }
    /// Keep everything in memory (the default).
    pub fn in_memory(mut self) -> Self {
        self.data_dir = None;
        self
    }
    /// Default account id (used when the access key id is not a 12-digit account id).
    pub fn account_id(mut self, id: impl Into<String>) -> Self {
        self.config.account_id = id.into();
        self
    }
    /// Verify SigV4 signatures for this access key (may be called several times).
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.config
            .credentials
            .insert(access_key_id.into(), secret_access_key.into());
        self
    }
    /// Accept this token in `X-Emulator-Admin-Token` on admin requests, and refuse admin requests
    /// carrying neither it nor a valid SigV4 signature.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.config.admin_token = Some(token.into());
        self
    }
    /// A host name (besides loopback names and IP literals) state-changing admin requests may use.
    pub fn allowed_host(mut self, host: impl Into<String>) -> Self {
        self.config.allowed_hosts.push(host.into());
        self
    }
    /// A KMS key the emulator knows (key id, key ARN, alias name or alias ARN).
    pub fn kms_key(mut self, key: impl Into<String>) -> Self {
        self.config.kms_keys.push(key.into());
        self
    }
    /// Initial fault settings.
    pub fn faults(mut self, f: FaultSettings) -> Self {
        self.faults = f;
        self
    }
    /// sled page-cache size in bytes (default 2 MiB: sled's real use is well above this figure,
    /// and 8 MiB cost about 8 MiB of peak RSS over a benchmark round with no measurable read gain).
    pub fn cache_bytes(mut self, n: u64) -> Self {
        self.cache_bytes = Some(n);
        self
    }
    /// Maximum request body in bytes (default 2 MiB).
    pub fn max_body(mut self, n: usize) -> Self {
        self.config.max_body = n;
        self
    }

    /// Rotation settings: Lambda ARN -> local endpoint mappings and strict mode (shared, changeable later).
    pub fn rotation(mut self, settings: rotation::RotationSettings) -> Self {
        self.config.rotation = settings;
        self
    }

    /// Opens the store, loads it and starts serving.
    pub async fn start(self) -> Result<Emulator, StartError> {
        let store = store::Store::open(
            self.data_dir.as_deref(),
            self.cache_bytes.unwrap_or(2 << 20),
        )?;
        let clock = Arc::new(clock::OffsetClock::new());
        let shared = Arc::new(Shared {
            state: state::State::default(),
            store,
            clock: clock.clone(),
            config: self.config,
            faults: faults::Faults::new(self.faults),
            requests: console::RequestLog::default(),
            metrics: metrics::EmulatorMetrics::new(),
        });
        let n = shared.load()?;
        let addr = self
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        tracing::info!(%local, secrets = n, durable = shared.store.is_durable(), "secrets manager emulator listening");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // Scheduled rotations (rotation.rs) run when the emulator clock passes NextRotationDate.
        tokio::spawn(ops::rotation::ticker(
            Arc::downgrade(&shared),
            stop_rx.clone(),
            std::time::Duration::from_millis(200),
        ));
        // Secrets past their recovery window are removed every second (ops/purge.rs).
        tokio::spawn(ops::purge::sweeper(
            Arc::downgrade(&shared),
            stop_rx.clone(),
            std::time::Duration::from_secs(1),
        ));
        let task = tokio::spawn(server::serve(listener, shared.clone(), stop_rx));
        Ok(Emulator {
            addr: local,
            shared,
            clock: ClockHandle(clock),
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    clock: ClockHandle,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Emulator {
    /// A builder (in memory, 127.0.0.1:0, account 123456789012, no signature verification).
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The emulator's clock (advance it to expire recovery windows, age versions, ...).
    pub fn clock(&self) -> &ClockHandle {
        &self.clock
    }
    /// Fault injection control (same as the admin endpoint).
    pub fn faults(&self) -> &faults::Faults {
        &self.shared.faults
    }
    /// Rotation settings (map rotation function ARNs to local endpoints, strict mode).
    pub fn rotation(&self) -> &rotation::RotationSettings {
        &self.shared.config.rotation
    }
    /// Shared state (for in-process inspection).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
    /// Stops serving, waits for the server task and flushes the store.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        if let Err(e) = self.shared.store.flush() {
            tracing::error!(error = %e, "flush at shutdown failed");
        }
        self.shared.store.shutdown().await;
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
