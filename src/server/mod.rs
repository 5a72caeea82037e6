//! The Grafana plugin server: the `secretsmanagerplugin.SecretsManager` gRPC service over a
//! [`SecretStore`](crate::backends::SecretStore), with go-plugin's auxiliary services (`grpc.health.v1` reporting `plugin` as
//! SERVING, `plugin.GRPCController/Shutdown`), run until a shutdown signal.
//!
//! - [`handshake`]: go-plugin's launch protocol (cookie, version, listener, the stdout line).
//! - [`auth`]: `serve`'s bearer token (the plugin mode relies on the handshake instead).
//! - [`tls`]: AutoMTLS (server certificate, pinned client certificate).
//! - [`service`]: the six RPCs: convert, one store call, respond.
//! - [`audit`]: the hash-chained audit log and its verifier.
//! - [`errors`]: the one place that turns a store error into `userFriendlyError` text.
//! - [`logging`]: hclog-format JSON lines on stderr.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::transport::server::Connected;

pub mod audit;
pub mod auth;
pub mod errors;
pub mod handshake;
pub mod logging;
pub mod service;
pub mod tls;

/// Code generated from `proto/` (Grafana's service and go-plugin's controller), server and client.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations
)]
pub mod proto {
    /// `secretsmanagerplugin`: Grafana's secrets-manager plugin service.
    pub mod secretsmanager {
        tonic::include_proto!("secretsmanagerplugin");
    }
    /// `plugin`: go-plugin's `GRPCController`.
    pub mod controller {
        tonic::include_proto!("plugin");
    }
}

use proto::controller::grpc_controller_server::{GrpcController, GrpcControllerServer};
use proto::controller::Empty;
use proto::secretsmanager::secrets_manager_server::SecretsManagerServer;

/// How long in-flight calls may take to finish once shutdown has begun. go-plugin's host kills
/// the process 2 s after asking it to stop, so we give up on stragglers a little before that.
pub const DRAIN_LIMIT: Duration = Duration::from_millis(1500);

/// gRPC health service name go-plugin hosts check.
pub const HEALTH_SERVICE: &str = "plugin";

/// The server failed to run (the listener or the HTTP/2 layer, not a single call).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The transport failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A cloneable "stop now" switch shared by the controller service, signal handlers and callers.
#[derive(Debug, Clone)]
pub struct ShutdownSwitch {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for ShutdownSwitch {
    fn default() -> Self {
        Self::new()
    }
}

impl ShutdownSwitch {
    /// A switch in the "running" position.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Asks the server to stop (idempotent).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether [`trigger`](Self::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Completes once the switch is triggered.
    pub async fn triggered(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail while we hold it.
        let _ = rx.wait_for(|v| *v).await;
    }
}

/// go-plugin's controller: `Shutdown` flips the switch; the server then drains and returns.
#[derive(Debug)]
struct Controller {
    shutdown: ShutdownSwitch,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(
        &self,
        _request: tonic::Request<Empty>,
    ) -> Result<tonic::Response<Empty>, tonic::Status> {
        tracing::info!("shutdown requested by the plugin host");
        self.shutdown.trigger();
        Ok(tonic::Response::new(Empty {}))
    }
}

/// Serves the plugin API on `incoming` until `shutdown` completes or a host calls
/// `GRPCController/Shutdown`; then lets in-flight calls finish (at most [`DRAIN_LIMIT`]) and
/// returns. With a `token` (`serve`), every call of every service (health and Shutdown included)
/// must carry it as `authorization: Bearer <token>`; others end with `UNAUTHENTICATED` before any
/// handler runs. Plugin mode passes `None`: the go-plugin handshake decides who connects.
pub async fn run<I, IO, IE>(
    incoming: I,
    service: service::SecretsService,
    token: Option<auth::BearerToken>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError>
where
    I: Stream<Item = Result<IO, IE>>,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let switch = ShutdownSwitch::new();
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status(HEALTH_SERVICE, tonic_health::ServingStatus::Serving)
        .await;

    let secrets = SecretsManagerServer::new(service)
        // GetAllSecrets answers with every secret in one message (10,000 x 64 KiB must fit).
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    let controller = GrpcControllerServer::new(Controller {
        shutdown: switch.clone(),
    });

    let signal = {
        let switch = switch.clone();
        async move {
            tokio::select! {
                () = shutdown => switch.trigger(),
                () = switch.triggered() => {}
            }
            tracing::debug!("draining in-flight calls");
        }
    };

    let serve = tonic::transport::Server::builder()
        .layer(tonic::service::InterceptorLayer::new(auth::Gate::new(
            token,
        )))
        .add_service(health_service)
        .add_service(controller)
        .add_service(secrets)
        .serve_with_incoming_shutdown(incoming, signal);
    tokio::pin!(serve);
    tokio::select! {
        result = &mut serve => result?,
        () = async { switch.triggered().await; tokio::time::sleep(DRAIN_LIMIT).await } => {
            tracing::warn!(limit_ms = DRAIN_LIMIT.as_millis() as u64, "in-flight calls did not finish in time; stopping anyway");
        }
    }
    tracing::info!("server stopped");
    Ok(())
}
