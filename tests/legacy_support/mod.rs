//! Helpers shared by the `legacy_*` integration tests: the fixture, an independent decoder
//! written from the format description (not using the backend's code), and fresh databases on
//! the PostgreSQL / MariaDB servers named by `BROKER_TEST_POSTGRES_URL` / `BROKER_TEST_MYSQL_URL`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use aes::cipher::{AsyncStreamCipher, KeyIvInit};
use base64::Engine;
use secrets_broker::backends::legacy_sql::LegacySqlConfig;
use sqlx::Connection;

/// Grafana's default secret_key (the fixture's).
pub const DEFAULT_KEY: &str = "SW2YcwTIb9zpOOhoPsMm";

/// The fixture directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grafana")
}

/// A private copy of the fixture database (the fixture itself is never opened for writing).
pub fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("grafana.db");
    std::fs::copy(fixtures().join("grafana-11.1.0-envelope.db"), &path).expect("copy fixture");
    (dir, path)
}

/// SQLite URL of a file.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A writable config with table creation on a fresh SQLite file.
pub fn fresh_sqlite(dir: &Path, key: &str) -> LegacySqlConfig {
    let mut c = LegacySqlConfig::new(sqlite_url(&dir.join("broker.db")), key);
    c.create_tables = true;
    c
}

/// Independent decoder, from the spec: PBKDF2-HMAC-SHA256(10,000) + AES-256-CFB, with the
/// optional `*alg*` marker (aes-cfb only here).
pub fn spec_decrypt_cfb(blob: &[u8], password: &[u8]) -> Vec<u8> {
    let body = if blob.first() == Some(&b'*') {
        let end = 1 + blob[1..]
            .iter()
            .position(|&b| b == b'*')
            .expect("marker end");
        let alg = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&blob[1..end])
            .expect("marker b64");
        assert_eq!(alg, b"aes-cfb");
        &blob[end + 1..]
    } else {
        blob
    };
    let (salt, rest) = body.split_at(8);
    let (iv, ct) = rest.split_at(16);
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, 10_000, &mut key);
    let mut out = ct.to_vec();
    cfb_mode::Decryptor::<aes::Aes256>::new(&key.into(), iv.into()).decrypt(&mut out);
    out
}

/// Independent encoder with a given salt and IV (to compare bytes).
pub fn spec_encrypt_cfb(plain: &[u8], password: &[u8], salt: &[u8], iv: &[u8]) -> Vec<u8> {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, 10_000, &mut key);
    let mut ct = plain.to_vec();
    cfb_mode::Encryptor::<aes::Aes256>::new(&key.into(), iv.into()).encrypt(&mut ct);
    let mut out = b"*YWVzLWNmYg*".to_vec();
    out.extend_from_slice(salt);
    out.extend_from_slice(iv);
    out.extend_from_slice(&ct);
    out
}

/// Splits `#b64(id)#rest`.
pub fn spec_split_envelope(blob: &[u8]) -> (String, Vec<u8>) {
    assert_eq!(blob[0], b'#');
    let end = 1 + blob[1..]
        .iter()
        .position(|&b| b == b'#')
        .expect("envelope end");
    let id = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&blob[1..end])
        .expect("id b64");
    (
        String::from_utf8(id).expect("id utf8"),
        blob[end + 1..].to_vec(),
    )
}

/// Which server a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Server {
    /// PostgreSQL.
    Postgres,
    /// MariaDB / MySQL.
    MySql,
}

/// A database created for this test run on a server, dropped on `drop_db`.
pub struct ServerDb {
    pub server: Server,
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

/// Creates a fresh database on the server named by the env var, or prints why it is skipped.
/// Panics (fails the test) when the variable is set but the server is unreachable.
pub async fn server_db(server: Server) -> Option<ServerDb> {
    let var = match server {
        Server::Postgres => "BROKER_TEST_POSTGRES_URL",
        Server::MySql => "BROKER_TEST_MYSQL_URL",
    };
    let Ok(admin_url) = std::env::var(var) else {
        println!("skipped: {var} is not set");
        return None;
    };
    let name = format!(
        "gsb_legacy_{}_{}",
        std::process::id(),
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..12)
            .unwrap_or("x")
    );
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .expect("URL with a database path");
    match server {
        Server::Postgres => {
            let mut c = sqlx::PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("{var} is set but unreachable: {e}"));
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .await
                .expect("create database");
        }
        Server::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("{var} is set but unreachable: {e}"));
            sqlx::query(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
                .execute(&mut c)
                .await
                .expect("create database");
        }
    }
    let url = format!("{base}/{name}");
    Some(ServerDb {
        server,
        admin_url,
        name,
        url,
    })
}

impl ServerDb {
    /// Drops the database (best effort; call at the end of the test).
    pub async fn drop_db(self) {
        match self.server {
            Server::Postgres => {
                if let Ok(mut c) = sqlx::PgConnection::connect(&self.admin_url).await {
                    let _ = sqlx::query(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ))
                    .execute(&mut c)
                    .await;
                }
            }
            Server::MySql => {
                if let Ok(mut c) = sqlx::MySqlConnection::connect(&self.admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {}", self.name))
                        .execute(&mut c)
                        .await;
                }
            }
        }
    }
}
