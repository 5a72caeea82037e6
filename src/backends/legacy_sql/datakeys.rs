//! Grafana data keys: how Grafana names a new one (its short UID), labels it
//! (`YYYY-MM-DD/root@secretKey.v1`), encrypts it with the secret_key, and the in-memory cache
//! that decrypts each data key only once.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, NaiveDate, Utc};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use zeroize::Zeroizing;

use super::crypto;

/// Grafana's default (and only key-file based) encryption provider.
pub const PROVIDER: &str = "secretKey.v1";
/// The scope of secrets written without a scope (`secrets.WithoutScope()`).
pub const SCOPE: &str = "root";
/// Length of a raw data key (Grafana's `newRandomDataKey`).
pub const DATA_KEY_LEN: usize = 16;
/// Epoch of the snowflake ids Grafana's `util.GenerateShortUID` uses (bwmarrin/snowflake's
/// default, 2010-11-04T01:42:54.657Z).
const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;
const HEX_LETTERS: &[u8] = b"abcdef";

/// Whether `provider` is the secret_key provider (Grafana normalizes the legacy `secretKey`).
pub fn is_secret_key_provider(provider: &str) -> bool {
    provider == PROVIDER || provider == "secretKey"
}

/// The label of the active data key on `day`: `2024-08-13/root@secretKey.v1`.
pub fn label_for(day: NaiveDate) -> String {
    format!("{}/{SCOPE}@{PROVIDER}", day.format("%Y-%m-%d"))
}

/// A decrypted data key. `Debug` shows only its id.
#[derive(Clone)]
pub struct DataKey {
    /// `data_keys.name`, the id written in the envelope prefix.
    pub id: String,
    /// The raw key bytes (the PBKDF2 password of every value it encrypts).
    pub key: Arc<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({:?}, <redacted>)", self.id)
    }
}

/// A data key about to be inserted, as Grafana's `newDataKey` builds it.
#[derive(Debug)]
pub struct NewDataKey {
    /// The decrypted key.
    pub key: DataKey,
    /// `data_keys.label`.
    pub label: String,
    /// `data_keys.encrypted_data`: `*YWVzLWNmYg*` + salt + iv + encrypted 16 bytes.
    pub encrypted: Vec<u8>,
}

/// A new random 16-byte data key for `label`, encrypted with `secret_key` (aes-cfb, as the
/// `secretKey.v1` provider does) and named with a Grafana short UID.
pub fn new_data_key(label: &str, secret_key: &[u8], now: DateTime<Utc>) -> NewDataKey {
    let mut raw = Zeroizing::new(vec![0u8; DATA_KEY_LEN]);
    OsRng.fill_bytes(&mut raw);
    let encrypted = crypto::encrypt_cfb(&raw, secret_key);
    NewDataKey {
        key: DataKey {
            id: short_uid(now),
            key: Arc::new(raw),
        },
        label: label.to_string(),
        encrypted,
    }
}

struct Snowflake {
    node: i64,
    last_ms: i64,
    step: i64,
}

static SNOWFLAKE: Mutex<Option<Snowflake>> = Mutex::new(None);

/// A Grafana short UID as `util.GenerateShortUID` makes it since Grafana 10: a letter `a`–`f`,
/// a snowflake id (41-bit milliseconds since the snowflake epoch, 10-bit random node, 12-bit
/// step) in lower-case base 36, and another letter `a`–`f`. Example: `ddupgsivkv5z4c`.
pub fn short_uid(now: DateTime<Utc>) -> String {
    let ms = now.timestamp_millis() - SNOWFLAKE_EPOCH_MS;
    let id = {
        let mut guard = SNOWFLAKE.lock().unwrap_or_else(PoisonError::into_inner);
        let sf = guard.get_or_insert_with(|| Snowflake {
            node: OsRng.gen_range(0..1024),
            last_ms: -1,
            step: 0,
        });
        let mut ms = ms.max(sf.last_ms);
        if ms == sf.last_ms {
            sf.step = (sf.step + 1) & 0xfff;
            if sf.step == 0 {
                ms += 1; // step exhausted within this millisecond: borrow the next one
            }
        } else {
            sf.step = 0;
        }
        sf.last_ms = ms;
        (ms << 22) | (sf.node << 12) | sf.step
    };
    let mut out = String::with_capacity(16);
    out.push(char::from(
        HEX_LETTERS[OsRng.gen_range(0..HEX_LETTERS.len())],
    ));
    out.push_str(&base36(id));
    out.push(char::from(
        HEX_LETTERS[OsRng.gen_range(0..HEX_LETTERS.len())],
    ));
    out
}

fn base36(mut n: i64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n <= 0 {
        return "0".into();
    }
    let mut buf = Vec::new();
    while n > 0 {
        buf.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    buf.reverse();
    String::from_utf8_lossy(&buf).into_owned()
}

/// Decrypted data keys by id (each decrypted once per process), plus the current key per label.
#[derive(Default)]
pub struct DataKeyCache {
    by_id: Mutex<HashMap<String, DataKey>>,
    current: Mutex<Option<(String, DataKey)>>,
}

impl fmt::Debug for DataKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self
            .by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        write!(f, "DataKeyCache({n} keys)")
    }
}

impl DataKeyCache {
    /// The cached key `id`.
    pub fn get(&self, id: &str) -> Option<DataKey> {
        self.by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Caches a decrypted key.
    pub fn insert(&self, key: DataKey) {
        self.by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.id.clone(), key);
    }

    /// The cached current key for `label`, if any.
    pub fn current(&self, label: &str) -> Option<DataKey> {
        match &*self.current.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((l, k)) if l == label => Some(k.clone()),
            _ => None,
        }
    }

    /// Remembers `key` as the current key for `label` (and caches it by id).
    pub fn set_current(&self, label: &str, key: DataKey) {
        self.insert(key.clone());
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((label.to_string(), key));
    }

    /// Number of keys cached by id.
    pub fn len(&self) -> usize {
        self.by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no key is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn short_uid_decodes_to_its_time_like_grafanas() {
        // The fixture's data key `ddupgsivkv5z4c` was created at 2024-08-13 13:37:51.
        let core = &"ddupgsivkv5z4c"[1..13];
        let n = i64::from_str_radix(core, 36).unwrap();
        let ms = (n >> 22) + SNOWFLAKE_EPOCH_MS;
        let t = Utc.timestamp_millis_opt(ms).unwrap();
        assert_eq!(t.format("%F %T").to_string(), "2024-08-13 13:37:51");

        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let a = short_uid(now);
        let b = short_uid(now);
        assert_ne!(a, b);
        for uid in [&a, &b] {
            assert!(HEX_LETTERS.contains(&uid.as_bytes()[0]), "{uid}");
            let n = i64::from_str_radix(&uid[1..uid.len() - 1], 36).unwrap();
            assert_eq!((n >> 22) + SNOWFLAKE_EPOCH_MS, now.timestamp_millis());
        }
    }

    #[test]
    fn label_and_new_key() {
        let now = Utc.with_ymd_and_hms(2024, 8, 13, 13, 37, 51).unwrap();
        assert_eq!(label_for(now.date_naive()), "2024-08-13/root@secretKey.v1");
        let k = new_data_key("l", b"secret", now);
        assert_eq!(k.encrypted.len(), 12 + 8 + 16 + 16);
        let back = crypto::decrypt(&k.encrypted, b"secret").unwrap();
        assert_eq!(back.as_slice(), k.key.key.as_slice());
        assert!(!format!("{k:?}").contains("key: ["));
    }
}
