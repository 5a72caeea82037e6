//! Turning stored text into plaintext and back, with errors that name the row: base64 flavours,
//! the envelope, CPU-bound decryption off the async runtime (in parallel chunks for bulk reads),
//! and the plausibility checks that expose a wrong secret_key.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use zeroize::Zeroizing;

use super::crypto::{self, CryptoError, Envelope, B64_RAW};
use super::datakeys::DataKey;
use crate::backends::Error;

/// What to call a stored value in errors: `secrets row id 7 (org 1, namespace "a", type "b")`.
/// Never contains the value.
#[derive(Debug, Clone)]
pub struct RowName(pub String);

impl RowName {
    /// A `secrets` row.
    pub fn secret(id: i64, org: i64, ns: &str, kind: &str) -> Self {
        Self(format!(
            "secrets row id {id} (org {org}, namespace {ns:?}, type {kind:?})"
        ))
    }
}

impl fmt::Display for RowName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the plaintext must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Any UTF-8 text.
    Text,
    /// A JSON object (data-source secrets).
    JsonObject,
}

/// A stored value split into what decrypts it and the inner blob.
#[derive(Debug)]
pub struct Parsed {
    /// The row, for errors.
    pub row: RowName,
    /// The data key id, or `None` for a pre-envelope value (secret_key directly).
    pub key_id: Option<String>,
    /// The inner blob (`*alg*` marker, salt, …).
    pub inner: Vec<u8>,
    /// What the plaintext must look like.
    pub expect: Expect,
}

/// Decodes the base64 text of a value (`engine` is the flavour the column uses) and reads its
/// envelope prefix.
pub fn parse(
    row: RowName,
    text: Option<&str>,
    engine: &impl Engine,
    expect: Expect,
) -> Result<Parsed, Error> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Err(Error::Corrupt(format!("{row}: the value is empty or NULL")));
    };
    let blob = engine
        .decode(text.trim())
        .map_err(|_| Error::Corrupt(format!("{row}: the value is not valid base64")))?;
    let (key_id, inner) = match crypto::split_envelope(&blob) {
        Ok(Envelope::DataKey { id, payload }) => (Some(id), payload.to_vec()),
        Ok(Envelope::SecretKey(payload)) => (None, payload.to_vec()),
        Err(e) => return Err(Error::Corrupt(format!("{row}: {e}"))),
    };
    Ok(Parsed {
        row,
        key_id,
        inner,
        expect,
    })
}

/// The message for a value that decrypts to something implausible.
pub fn mismatch(row: &RowName, what: &str) -> Error {
    Error::Crypto(format!(
        "{row} does not decrypt to {what}: the secret_key does not match this database (or the \
         row is corrupt)"
    ))
}

/// Decrypts one parsed value with `password` (the data key, or the secret_key) and checks it.
/// CPU-bound (one PBKDF2): call from a blocking thread.
pub fn open(p: &Parsed, password: &[u8]) -> Result<String, Error> {
    let plain = crypto::decrypt(&p.inner, password).map_err(|e| crypto_error(&p.row, e))?;
    check_plaintext(&p.row, plain, p.expect)
}

/// Names the row in a decryption failure.
fn crypto_error(row: &RowName, e: CryptoError) -> Error {
    match e {
        CryptoError::Authentication => Error::Crypto(format!(
            "{row}: {e}: the secret_key does not match this database, or the row was altered"
        )),
        other => Error::Corrupt(format!("{row}: {other}")),
    }
}

/// UTF-8 (and JSON object, when expected) or the "secret_key does not match" error.
pub fn check_plaintext(
    row: &RowName,
    plain: Zeroizing<Vec<u8>>,
    expect: Expect,
) -> Result<String, Error> {
    let text = String::from_utf8(plain.to_vec()).map_err(|e| {
        let mut bytes = e.into_bytes();
        zeroize::Zeroize::zeroize(&mut bytes);
        mismatch(row, "UTF-8 text")
    })?;
    if expect == Expect::JsonObject
        && !matches!(
            serde_json::from_str::<serde_json::Value>(&text),
            Ok(serde_json::Value::Object(_))
        )
    {
        drop(Zeroizing::new(text));
        return Err(mismatch(row, "a JSON object"));
    }
    Ok(text)
}

/// A parsed value with the password that opens it.
#[derive(Debug)]
pub struct Job {
    /// The value.
    pub parsed: Parsed,
    /// Its data key, or `None` for the secret_key.
    pub key: Option<DataKey>,
}

/// Jobs per unit of work in [`open_all_batched`]: a few interleaved PBKDF2 groups, small enough
/// that a core slowed by other work does not hold up the end, and that results flow early.
const CHUNK: usize = 8 * broker_kdf::LANES;

/// Decrypts every job on all cores and returns the results in order.
pub async fn open_all(
    jobs: Vec<Job>,
    secret_key: Arc<Zeroizing<Vec<u8>>>,
) -> Result<Vec<Result<String, Error>>, Error> {
    let n = jobs.len();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let collect = async move {
        let mut out: Vec<Option<Result<String, Error>>> = (0..n).map(|_| None).collect();
        while let Some(batch) = rx.recv().await {
            for (i, res) in batch {
                out[i] = Some(res);
            }
        }
        out
    };
    let (done, out) = tokio::join!(open_all_batched(jobs, secret_key, tx), collect);
    done?;
    Ok(out
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| Err(Error::Storage("a decryption result went missing".into())))
        })
        .collect())
}

/// Decrypts every job on all cores: one blocking worker per core takes chunks of [`CHUNK`]
/// jobs from a shared counter (so the cores stay balanced whatever else runs) and sends each
/// chunk's `(job index, result)` pairs as soon as it is done. Stops early when `sink` closes.
pub async fn open_all_batched(
    jobs: Vec<Job>,
    secret_key: Arc<Zeroizing<Vec<u8>>>,
    sink: tokio::sync::mpsc::Sender<Vec<(usize, Result<String, Error>)>>,
) -> Result<(), Error> {
    if jobs.is_empty() {
        return Ok(());
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let jobs = Arc::new(jobs);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = cores.min(jobs.len().div_ceil(CHUNK));
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (jobs, next, sk, sink) = (
            Arc::clone(&jobs),
            Arc::clone(&next),
            Arc::clone(&secret_key),
            sink.clone(),
        );
        tasks.push(tokio::task::spawn_blocking(move || loop {
            let start = next.fetch_add(CHUNK, std::sync::atomic::Ordering::Relaxed);
            if start >= jobs.len() {
                return;
            }
            let part = &jobs[start..(start + CHUNK).min(jobs.len())];
            if sink.blocking_send(open_chunk(start, part, &sk)).is_err() {
                return; // the consumer stopped
            }
        }));
    }
    drop(sink);
    for t in tasks {
        t.await
            .map_err(|e| Error::Storage(format!("a decryption task failed: {e}")))?;
    }
    Ok(())
}

/// Decrypts `part` (jobs `start..`) with its PBKDF2s interleaved.
fn open_chunk(
    start: usize,
    part: &[Job],
    secret_key: &[u8],
) -> Vec<(usize, Result<String, Error>)> {
    let inputs: Vec<(&[u8], &[u8])> = part
        .iter()
        .map(|j| {
            let pw: &[u8] = match &j.key {
                Some(k) => k.key.as_slice(),
                None => secret_key,
            };
            (j.parsed.inner.as_slice(), pw)
        })
        .collect();
    crypto::decrypt_many(&inputs)
        .into_iter()
        .zip(part)
        .enumerate()
        .map(|(i, (plain, j))| {
            let res = plain
                .map_err(|e| crypto_error(&j.parsed.row, e))
                .and_then(|plain| check_plaintext(&j.parsed.row, plain, j.parsed.expect));
            (start + i, res)
        })
        .collect()
}

/// Encrypts `value` as Grafana's `secrets` table stores it: aes-cfb under the data key, the
/// `#id#` envelope, unpadded standard base64. CPU-bound.
pub fn seal_for_secrets_table(value: &[u8], key: &DataKey) -> String {
    let inner = crypto::encrypt_cfb(value, key.key.as_slice());
    B64_RAW.encode(crypto::wrap_envelope(&key.id, &inner))
}

/// Go's `json.Marshal` of a `map[string]string`: sorted keys, and `<`, `>`, `&`, U+2028 and
/// U+2029 escaped as Go does.
pub fn go_json(map: &std::collections::BTreeMap<String, String>) -> Result<String, Error> {
    let s = serde_json::to_string(map)
        .map_err(|e| Error::Storage(format!("cannot encode JSON: {e}")))?;
    Ok(s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_json_escapes_like_go() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("b".to_string(), "<x&y>".to_string());
        m.insert("a".to_string(), "1".to_string());
        assert_eq!(
            go_json(&m).unwrap(),
            r#"{"a":"1","b":"\u003cx\u0026y\u003e"}"#
        );
    }

    #[test]
    fn parse_errors_name_the_row() {
        let row = RowName::secret(7, 1, "ns", "t");
        let e = parse(row.clone(), Some("!!!"), &B64_RAW, Expect::Text).unwrap_err();
        assert!(e.to_string().contains("secrets row id 7"), "{e}");
        let e = parse(row, None, &B64_RAW, Expect::Text).unwrap_err();
        assert!(e.to_string().contains("NULL"), "{e}");
    }
}
