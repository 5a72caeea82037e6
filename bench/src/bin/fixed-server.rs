//! `fixed-server`: answers every HTTP request with the same 200 JSON body. It does no work per request, so
//! its throughput under `sm-load` is the ceiling of this machine, network stack and load generator.

use anyhow::Context;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use tokio::net::TcpListener;

/// Fixed-answer HTTP/1.1 server (keep-alive), the throughput ceiling for the benchmarks.
#[derive(Debug, Parser)]
#[command(name = "fixed-server")]
struct Args {
    /// Address to listen on (port 0 picks a free port; the bound address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// Shaped like a GetSecretValue answer so response sizes are comparable.
const BODY: &str = r#"{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-0-AbCdEf","CreatedDate":1700000000.0,"Name":"bench-0","SecretString":"{\"password\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV\"}","VersionId":"6f1a8b36-2d4f-4c57-9d2e-9b1f0a6f4a11","VersionStages":["AWSCURRENT"]}"#;

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the request body so the connection can be reused.
    let _ = req.into_body().collect().await;
    let mut resp = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    h.insert(
        "x-amzn-requestid",
        hyper::header::HeaderValue::from_static("00000000-0000-0000-0000-000000000000"),
    );
    Ok(resp)
}

async fn serve(listen: String) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                .await;
        });
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(serve(args.listen))
}
