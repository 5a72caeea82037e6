//! A smoke measurement of throughput with keep-alive connections and signed requests (ignored by
//! default; run with `cargo test -p secretsmanager-emulator --release --test throughput -- --ignored
//! --nocapture`). It asserts only loose lower bounds; BENCHMARKS.md has the real figures.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secretsmanager_emulator::{sigv4, Emulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Conn {
    r: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    async fn new(addr: std::net::SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            r: BufReader::new(s),
            host: addr.to_string(),
        }
    }

    async fn call(&mut self, target: &str, body: &str) -> u16 {
        let (auth, date) = sigv4::sign_post(
            "AKID",
            "secret",
            "us-east-1",
            &self.host,
            target,
            body.as_bytes(),
            chrono::Utc::now(),
        );
        let req = format!(
            "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-amz-json-1.1\r\nx-amz-date: {date}\r\nx-amz-target: {target}\r\nauthorization: {auth}\r\ncontent-length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.r.get_mut().write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let b = self.r.read_u8().await.unwrap();
            head.push(b);
        }
        let head = String::from_utf8(head).unwrap();
        let status: u16 = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        self.r.read_exact(&mut body).await.unwrap();
        status
    }
}

async fn run(
    addr: std::net::SocketAddr,
    conc: usize,
    dur: Duration,
    make: fn(usize, u64) -> (&'static str, String),
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conc {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(addr).await;
            let mut i = 0u64;
            while start.elapsed() < dur {
                let (t, b) = make(w, i);
                assert_eq!(c.call(t, &b).await, 200);
                i += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run explicitly"]
async fn throughput_smoke() {
    // SM_EMULATOR_ADDR=127.0.0.1:4566 measures an already running (e.g. release) sm-emulator.
    let dir = tempfile::tempdir().unwrap();
    let external: Option<std::net::SocketAddr> = std::env::var("SM_EMULATOR_ADDR")
        .ok()
        .map(|a| a.parse().unwrap());
    let emu = match external {
        Some(_) => None,
        None => Some(
            Emulator::builder()
                .data_dir(dir.path())
                .start()
                .await
                .unwrap(),
        ),
    };
    let addr = external.unwrap_or_else(|| emu.as_ref().unwrap().addr());
    raw_reset(addr).await;
    let mut c = Conn::new(addr).await;
    for w in 0..16 {
        let body = format!(
            r#"{{"Name":"bench/{w}","SecretString":"value-{w}","ClientRequestToken":"{w:08}-0000-4000-8000-000000000000"}}"#
        );
        assert_eq!(c.call("secretsmanager.CreateSecret", &body).await, 200);
    }
    let reads = run(addr, 16, Duration::from_secs(3), |w, _| {
        (
            "secretsmanager.GetSecretValue",
            format!(r#"{{"SecretId":"bench/{w}"}}"#),
        )
    })
    .await;
    let writes = run(addr, 16, Duration::from_secs(3), |w, i| {
        (
            "secretsmanager.PutSecretValue",
            format!(r#"{{"SecretId":"bench/{w}","SecretString":"v{i}","ClientRequestToken":"{w:08}-1111-4000-8000-{:012}"}}"#, i + 1),
        )
    })
    .await;
    println!("GetSecretValue c=16: {reads:.0}/s; durable PutSecretValue c=16: {writes:.0}/s");
    assert!(reads > 1000.0 && writes > 200.0);
    if let Some(emu) = emu {
        emu.shutdown().await;
    }
}

async fn raw_reset(addr: std::net::SocketAddr) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("POST /_emulator/reset HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    assert!(buf.starts_with(b"HTTP/1.1 200"));
}
