//! Plugin mode (what Grafana runs: go-plugin handshake, then the gRPC API until Shutdown or
//! SIGTERM) and `serve` (the same API on a TCP address, every call authenticated by a bearer
//! token, until SIGINT or SIGTERM).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use secrets_broker::backends;
use secrets_broker::backends::cache::ReadCache;
use secrets_broker::backends::metrics::Metered;
use secrets_broker::config::LogLevel;
use secrets_broker::server::audit::AuditLog;
use secrets_broker::server::auth::{BearerToken, GeneratedTokenFile, TokenError};
use secrets_broker::server::metrics::{self, Registry};
use secrets_broker::server::service::SecretsService;
use secrets_broker::server::{self, handshake, tls::AutoMtls};

use super::{start, GlobalOpts};

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (plain gRPC, no TLS: keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "ADDR")]
    listen: SocketAddr,
    /// Allow a non-loopback --listen address (anyone who can connect can read every secret).
    #[arg(long)]
    allow_remote: bool,
    /// File holding the bearer token every call must send as `authorization: Bearer <token>`
    /// (mode 0600: refused when its group or others can read it). Without it a token is
    /// generated into a new private directory and its file's path printed on stdout.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Also answer `GET /metrics` (Prometheus text, no token: it holds no key or value) on this
    /// address; the same as setting `metrics_listen`, which it overrides.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Allow a non-loopback --metrics-listen address.
    #[arg(long)]
    metrics_allow_remote: bool,
}

/// The token `serve` requires: from `--token-file`, or generated into a private directory under
/// `$XDG_RUNTIME_DIR`, else `$TMPDIR`, else `/tmp` (removed at exit). The path is printed on
/// stdout (the second line, after the address); the token itself never is, nor logged.
fn serve_token(
    args: &ServeArgs,
) -> Result<(BearerToken, PathBuf, Option<GeneratedTokenFile>), TokenError> {
    if let Some(path) = &args.token_file {
        return Ok((BearerToken::load(path)?, path.clone(), None));
    }
    let parent = ["XDG_RUNTIME_DIR", "TMPDIR"]
        .iter()
        .filter_map(|k| std::env::var_os(k).filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .find(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let (token, file) = BearerToken::generate_in(&parent)?;
    Ok((token, file.path.clone(), Some(file)))
}

/// Opens the configured backend (its calls counted) behind the read cache its settings ask for,
/// and the audit log (the one place the plugin and `serve` build their service), with the
/// registry of the metrics they export.
async fn open_store(
    config: &secrets_broker::config::Config,
) -> Option<(SecretsService, Arc<Registry>)> {
    let (store, backend_calls, read_cache) = match backends::build(&config.backend).await {
        Ok(store) => {
            tracing::info!(
                backend = store.name(),
                description = config.backend.backend().description,
                cache_ttl_ms = config.cache.ttl.as_millis() as u64,
                cache_max_bytes = config.cache.max_bytes,
                cache_max_stale_ms = config.cache.max_stale.as_millis() as u64,
                "backend ready"
            );
            let (store, calls) = Metered::wrap(store);
            if config.cache.is_on() {
                let cache = Arc::new(ReadCache::new(store, config.cache));
                let store: Arc<dyn backends::SecretStore> = cache.clone();
                (store, calls, Some(cache))
            } else {
                (store, calls, None)
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot open the backend");
            return None;
        }
    };
    let audit = match &config.audit {
        None => None,
        Some(target) => match AuditLog::open(target, config.backend.name()) {
            Ok(log) => {
                tracing::info!(target = ?target, "audit log open");
                Some(Arc::new(log))
            }
            Err(e) => {
                tracing::error!(key = "audit_log", "{e}");
                return None;
            }
        },
    };
    let service = SecretsService::with_audit(store, audit);
    let uses_aws = matches!(config.backend.name(), "aws" | "mirror");
    let registry = Registry::new(
        Arc::clone(service.metrics()),
        Some(backend_calls),
        read_cache,
        uses_aws,
    );
    Some((service, Arc::new(registry)))
}

/// Starts answering `GET /metrics` on `addr` (checked for loopback unless `allow_remote`) in a
/// task of its own; the bound address (useful with port 0).
async fn start_metrics_listener(
    addr: SocketAddr,
    allow_remote: bool,
    registry: &Arc<Registry>,
) -> Result<SocketAddr, metrics::MetricsListenError> {
    let listener = metrics::bind(addr, allow_remote).await?;
    let bound = listener.local_addr().unwrap_or(addr);
    let registry = Arc::clone(registry);
    tokio::spawn(metrics::serve_http(
        listener,
        Arc::new(move || registry.render()),
    ));
    tracing::info!(address = %bound, "serving metrics at /metrics");
    Ok(bound)
}

/// The SIGTERM and SIGINT handlers, installed by this call (each an error when it cannot be).
#[cfg(unix)]
fn term_and_int_handlers() -> (
    std::io::Result<tokio::signal::unix::Signal>,
    std::io::Result<tokio::signal::unix::Signal>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    )
}

/// Completes on SIGTERM. SIGINT is logged and ignored, as go-plugin plugins do: a Ctrl-C in the
/// host's terminal reaches the whole process group, and the host stops its plugins itself
/// (GRPCController/Shutdown) once it has finished with them.
///
/// The handlers are installed when this is called, not when the future is first polled: the
/// caller calls it before announcing itself, so a signal that arrives once the host has read the
/// handshake line never meets the default action (which ends the process).
fn plugin_stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = term_and_int_handlers();
    async move {
        #[cfg(unix)]
        {
            let (Ok(mut term), Ok(mut int)) = handlers else {
                tracing::warn!("cannot install signal handlers");
                return std::future::pending().await;
            };
            loop {
                tokio::select! {
                    _ = term.recv() => {
                        tracing::info!("SIGTERM received; stopping");
                        return;
                    }
                    _ = int.recv() => tracing::debug!("SIGINT received; ignored (the host stops plugins)"),
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. Like [`plugin_stop_signal`], the handlers are
/// installed by the call, before the address is announced.
fn serve_stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = term_and_int_handlers();
    async move {
        #[cfg(unix)]
        match handlers {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                tracing::warn!("cannot install signal handlers; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("stop signal received; stopping");
    }
}

/// Writes the handshake line on stdout and flushes it: the only thing we ever write there.
fn announce(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Plugin mode: the cookie was checked by the caller.
pub async fn run_plugin(global: &GlobalOpts) -> ExitCode {
    let Some(config) = start(global, LogLevel::Info) else {
        return ExitCode::FAILURE;
    };
    let env = |k: &str| std::env::var(k).ok();
    if let Err(e) = handshake::negotiate_version(env("PLUGIN_PROTOCOL_VERSIONS").as_deref()) {
        tracing::error!("{e}");
        return ExitCode::FAILURE;
    }
    let mtls = match env("PLUGIN_CLIENT_CERT").filter(|c| !c.trim().is_empty()) {
        None => None,
        Some(pem) => match AutoMtls::new(&pem) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let Some((service, registry)) = open_store(&config).await else {
        return ExitCode::FAILURE;
    };
    if let Some(addr) = config.metrics_listen {
        // The setting was checked for loopback (or explicitly allowed) when it was read. A port
        // that cannot be bound (still held by the plugin's previous process, say) must not keep
        // Grafana from its secrets: the plugin serves without the listener (Grafana's
        // /metrics/plugins/<id> still works) and says so.
        if let Err(e) = start_metrics_listener(addr, true, &registry).await {
            tracing::error!(
                key = "metrics_listen",
                "{e}; serving without the metrics listener"
            );
        }
    }
    let result = serve_plugin(service, registry, mtls, &env).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Listens where go-plugin's host expects this platform's plugins (a private Unix socket; TCP in
/// the host's port range elsewhere), then announces and serves.
async fn serve_plugin(
    service: SecretsService,
    registry: Arc<Registry>,
    mtls: Option<AutoMtls>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let (listener, socket) =
            handshake::PrivateSocket::bind_first(&handshake::socket_parents(env))?;
        let address = socket.path.display().to_string();
        let accepted = tokio_stream::wrappers::UnixListenerStream::new(listener);
        announce_and_serve("unix", &address, accepted, service, registry, mtls).await?;
        drop(socket);
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let (min, max) = handshake::port_range(env)?;
        let listener = handshake::bind_tcp_in_range(min, max).await?;
        let address = listener.local_addr()?.to_string();
        let accepted = tokio_stream::wrappers::TcpListenerStream::new(listener);
        announce_and_serve("tcp", &address, accepted, service, registry, mtls).await
    }
}

/// Announces the handshake line for `address` on `network`, then serves `service` on the
/// `accepted` connections (inside AutoMTLS when it is on), with `pluginv2.Diagnostics` over
/// `registry`, until Grafana stops the plugin.
async fn announce_and_serve<S, IO>(
    network: &str,
    address: &str,
    accepted: S,
    service: SecretsService,
    registry: Arc<Registry>,
    mtls: Option<AutoMtls>,
) -> anyhow::Result<()>
where
    S: tokio_stream::Stream<Item = std::io::Result<IO>> + Unpin + Send + 'static,
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
{
    let line = handshake::handshake_line(
        network,
        address,
        mtls.as_ref().map(|m| m.server_cert.as_ref()),
    );
    let stop = plugin_stop_signal();
    announce(&line)?;
    tracing::info!(address, mtls = mtls.is_some(), "plugin listening");
    match mtls {
        Some(m) => server::run(m.incoming(accepted), service, None, Some(registry), stop).await?,
        None => server::run(accepted, service, None, Some(registry), stop).await?,
    }
    Ok(())
}

/// `serve`: the plugin API over plain gRPC on a TCP address.
pub async fn run_serve(global: &GlobalOpts, args: &ServeArgs) -> ExitCode {
    let Some(config) = start(global, LogLevel::Info) else {
        return ExitCode::FAILURE;
    };
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        tracing::error!(
            listen = %args.listen,
            "refusing to serve secrets without TLS on a non-loopback address; pass --allow-remote to do it anyway"
        );
        return ExitCode::FAILURE;
    }
    let (token, token_path, _generated) = match serve_token(args) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let Some((service, registry)) = open_store(&config).await else {
        return ExitCode::FAILURE;
    };
    let metrics_at = match args.metrics_listen {
        Some(addr) => Some((addr, args.metrics_allow_remote)),
        None => config.metrics_listen.map(|addr| (addr, true)),
    };
    let metrics_address = match metrics_at {
        None => None,
        Some((addr, allow_remote)) => {
            match start_metrics_listener(addr, allow_remote, &registry).await {
                Ok(bound) => Some(bound),
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %args.listen, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let address = listener
        .local_addr()
        .map_or_else(|_| args.listen.to_string(), |a| a.to_string());
    let stop = serve_stop_signal();
    let token_file = token_path.display().to_string();
    tracing::info!(address, token_file, "serving the plugin API over plain gRPC; every call must send the bearer token in the token file");
    // Scripts read the bound address (useful with port 0) and the token file from stdout.
    let _ = writeln!(
        std::io::stdout(),
        "listening on {address}\ntoken file {token_file}"
    );
    if let Some(bound) = metrics_address {
        let _ = writeln!(std::io::stdout(), "metrics on http://{bound}/metrics");
    }
    let accepted = tokio_stream::wrappers::TcpListenerStream::new(listener);
    match server::run(accepted, service, Some(token), Some(registry), stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
