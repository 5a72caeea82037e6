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

/// A fresh SQLite file `broker.db` in a new temporary folder: the folder (removed on drop), a
/// writable config with table creation and `secret_key` = `key`, and the file's URL.
pub fn fresh_sqlite(key: &str) -> (tempfile::TempDir, LegacySqlConfig, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = sqlite_url(&dir.path().join("broker.db"));
    let mut c = LegacySqlConfig::new(url.clone(), key);
    c.create_tables = true;
    (dir, c, url)
}

/// Independent decoder, from the spec: PBKDF2-HMAC-SHA256(10,000) + AES-256-CFB, with the
/// optional `*alg*` marker (aes-cfb only here).
pub fn spec_decrypt_cfb(blob: &[u8], password: &[u8]) -> Vec<u8> {
    let body = if blob.first() == Some(&b'*') {
        let (alg, rest) = spec_split_framed(blob, b'*');
        assert_eq!(alg, b"aes-cfb");
        rest
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
    let (id, rest) = spec_split_framed(blob, b'#');
    (String::from_utf8(id).expect("id utf8"), rest.to_vec())
}

/// Splits `<frame>b64(field)<frame>rest` (the frame byte is `blob[0]`): the decoded field and
/// the rest.
fn spec_split_framed(blob: &[u8], frame: u8) -> (Vec<u8>, &[u8]) {
    let end = 1 + blob[1..]
        .iter()
        .position(|&b| b == frame)
        .unwrap_or_else(|| panic!("no closing {:?}", frame as char));
    let field = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&blob[1..end])
        .unwrap_or_else(|e| panic!("field between {:?} is not base64: {e}", frame as char));
    (field, &blob[end + 1..])
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
    let create = match server {
        Server::Postgres => format!("CREATE DATABASE {name}"),
        Server::MySql => format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
    };
    server
        .execute(&admin_url, &create)
        .await
        .unwrap_or_else(|e| panic!("{var} is set but creating a database there failed: {e}"));
    let url = format!("{base}/{name}");
    Some(ServerDb {
        server,
        admin_url,
        name,
        url,
    })
}

impl Server {
    /// Runs one statement on the server's database at `url`.
    async fn execute(self, url: &str, statement: &str) -> Result<(), sqlx::Error> {
        match self {
            Server::Postgres => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                sqlx::query(statement).execute(&mut c).await?;
            }
            Server::MySql => {
                let mut c = sqlx::MySqlConnection::connect(url).await?;
                sqlx::query(statement).execute(&mut c).await?;
            }
        }
        Ok(())
    }
}

impl ServerDb {
    /// Drops the database (best effort; call at the end of the test).
    pub async fn drop_db(self) {
        let drop = match self.server {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Server::MySql => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let _ = self.server.execute(&self.admin_url, &drop).await;
    }
}
