//! The conformance suite on the `local` backend, and what only the local backend promises:
//! durability across reopen, no plaintext on disk, key checks, file modes, the directory lock and
//! concurrent writers.

use std::path::Path;
use std::sync::Arc;

use secrets_broker::backends::local::{EncryptionKey, LocalConfig, LocalStore};
use secrets_broker::backends::{self, local, testing, BackendConfig, Error, SecretStore};
use secrets_broker::config::{Settings, Source};
use secrets_broker::domain::{ListFilter, SecretKey, SecretValue};

fn key(org: i64, ns: &str) -> SecretKey {
    SecretKey::new(org, ns, "datasource").expect("valid key")
}

fn value(s: &str) -> SecretValue {
    SecretValue::new(s).expect("valid value")
}

fn open(dir: &Path) -> LocalStore {
    LocalStore::open(&LocalConfig::new(dir)).expect("store opens")
}

fn open_err(config: &LocalConfig) -> Error {
    LocalStore::open(config).expect_err("open must fail")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test]
async fn conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("data"));
    testing::run_all(&store).await;
    testing::longest_key_parts(&store).await;
}

#[tokio::test]
async fn reopen_keeps_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = key(1, "survivor");
    {
        let store = open(dir.path());
        store.set(&k, &value("still here")).await.expect("set");
        store
            .set(&key(1, "deleted"), &value("x"))
            .await
            .expect("set");
        store.delete(&key(1, "deleted")).await.expect("delete");
        store
            .set(&key(2, "old"), &value("moved"))
            .await
            .expect("set");
        store.rename(&key(2, "old"), "new").await.expect("rename");
    }
    let store = open(dir.path());
    let got = store.get(&k).await.expect("get");
    assert_eq!(got.as_ref().map(SecretValue::expose), Some("still here"));
    assert_eq!(store.get(&key(1, "deleted")).await.expect("get"), None);
    assert_eq!(store.get(&key(2, "old")).await.expect("get"), None);
    let moved = store.get(&key(2, "new")).await.expect("get");
    assert_eq!(moved.as_ref().map(SecretValue::expose), Some("moved"));
    assert_eq!(store.get_all().await.expect("get_all").len(), 2);
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files += 1;
                let bytes = std::fs::read(&path).expect("read file");
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        files >= 3,
        "expected the database files to exist, found {files}"
    );
    hits
}

#[tokio::test]
async fn no_plaintext_value_in_any_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = format!("PLAINTEXT-MARKER-{}", uuid::Uuid::new_v4());
    let big = format!("{marker}{}", "y".repeat(30_000));
    {
        let store = open(dir.path());
        store.set(&key(1, "a"), &value(&marker)).await.expect("set");
        store.set(&key(1, "big"), &value(&big)).await.expect("set");
        // Enough large values that sled moves pages into separate blob files.
        let large = format!("{marker}{}", "q".repeat(60_000));
        for i in 0..20 {
            store
                .set(&key(1, &format!("large-{i}")), &value(&large))
                .await
                .expect("set");
        }
        store.set(&key(1, "b"), &value(&marker)).await.expect("set");
        store.rename(&key(1, "b"), "c").await.expect("rename");
        store.set(&key(1, "d"), &value(&marker)).await.expect("set");
        store.delete(&key(1, "d")).await.expect("delete");
        // While open, after every write was acknowledged (so flushed).
        assert_eq!(
            files_containing(dir.path(), marker.as_bytes()),
            Vec::<String>::new()
        );
    }
    assert_eq!(
        files_containing(dir.path(), marker.as_bytes()),
        Vec::<String>::new()
    );
    // Sanity check of the scan itself: namespaces are stored in clear, so one must be found.
    assert!(!files_containing(dir.path(), b"big\0\x01datasource").is_empty());
}

#[tokio::test]
async fn many_large_values_survive_reopen_in_both_durability_modes() {
    for fsync in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = LocalConfig::new(dir.path());
        config.fsync = fsync;
        let big = |i: usize| format!("{i}-{}", "é".repeat(30_000));
        {
            let store = LocalStore::open(&config).expect("open");
            for i in 0..24 {
                store
                    .set(&key(1, &format!("n{i}")), &value(&big(i)))
                    .await
                    .expect("set");
            }
        }
        let store = LocalStore::open(&config).expect("reopen");
        for i in 0..24 {
            let got = store.get(&key(1, &format!("n{i}"))).await.expect("get");
            assert_eq!(
                got.as_ref().map(SecretValue::expose),
                Some(big(i).as_str()),
                "fsync={fsync}"
            );
        }
    }
}

#[tokio::test]
async fn wrong_key_refuses_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LocalConfig::new(dir.path()).with_key(EncryptionKey::generate());
    {
        let store = LocalStore::open(&config).expect("open");
        store.set(&key(1, "a"), &value("v")).await.expect("set");
    }
    let other = LocalConfig::new(dir.path()).with_key(EncryptionKey::generate());
    let e = open_err(&other);
    assert!(matches!(e, Error::Crypto(_)), "{e}");
    assert!(e.to_string().contains("does not match the data"), "{e}");
    // The right key still works afterwards: the failed open changed nothing.
    let store = LocalStore::open(&config).expect("reopen with the right key");
    assert!(store.get(&key(1, "a")).await.expect("get").is_some());
}

#[tokio::test]
async fn lost_generated_key_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        store.set(&key(1, "a"), &value("v")).await.expect("set");
    }
    std::fs::remove_file(dir.path().join("broker.key")).expect("remove key");
    let e = open_err(&LocalConfig::new(dir.path())).to_string();
    assert!(
        e.contains("just generated") && e.contains("broker.key"),
        "{e}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn key_file_and_dir_are_owner_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("nested").join("data");
    drop(open(&data));
    assert_eq!(mode(&data.join("broker.key")), 0o600);
    assert_eq!(mode(&data), 0o700);
    let text = std::fs::read_to_string(data.join("broker.key")).expect("read key");
    assert!(EncryptionKey::from_base64(&text).is_ok());
}

#[cfg(unix)]
#[tokio::test]
async fn group_readable_key_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(dir.path()));
    let key_file = dir.path().join("broker.key");
    chmod(&key_file, 0o640);
    let e = open_err(&LocalConfig::new(dir.path()));
    assert!(matches!(e, Error::PermissionDenied(_)), "{e}");
    assert!(e.to_string().contains("chmod 600"), "{e}");
    chmod(&key_file, 0o600);
    drop(open(dir.path()));
}

fn settings(pairs: &[(&str, &str)]) -> Settings {
    let mut s = Settings::default();
    for (k, v) in pairs {
        s.insert(
            *k,
            *v,
            Source::Env(format!("GF_PLUGIN_{}", k.to_uppercase())),
        );
    }
    s
}

#[cfg(unix)]
#[tokio::test]
async fn key_file_setting_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("my.key");
    std::fs::write(&key_path, EncryptionKey::generate().to_base64().as_bytes()).expect("write");
    chmod(&key_path, 0o600);
    let data = dir.path().join("data");
    let s = settings(&[
        ("data_dir", data.to_str().expect("utf-8 path")),
        (
            "encryption_key_file",
            key_path.to_str().expect("utf-8 path"),
        ),
    ]);
    let built = secrets_broker::config::backend_from_settings(&s).expect("valid settings");
    let Some(config) = built.settings::<LocalConfig>().cloned() else {
        panic!("local is the default backend");
    };
    {
        let store = backends::build(&BackendConfig::new(&local::BACKEND, config.clone()))
            .await
            .expect("build");
        store.set(&key(3, "x"), &value("v")).await.expect("set");
    }
    assert!(
        !data.join("broker.key").exists(),
        "no key generated when one is configured"
    );
    chmod(&key_path, 0o644);
    let e = open_err(&config).to_string();
    assert!(
        e.contains("encryption_key_file") && e.contains("0644"),
        "{e}"
    );
    chmod(&key_path, 0o600);
    std::fs::write(&key_path, "not-a-key").expect("write");
    let e = open_err(&config).to_string();
    assert!(
        e.contains("encryption_key_file") && e.contains("base64"),
        "{e}"
    );
}

#[tokio::test]
async fn second_open_of_the_same_dir_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = open(dir.path());
    let e = open_err(&LocalConfig::new(dir.path())).to_string();
    assert!(e.contains("is in use by another process"), "{e}");
    assert!(e.contains(&dir.path().display().to_string()), "{e}");
    first
        .set(&key(1, "a"), &value("v"))
        .await
        .expect("first store still works");
    drop(first);
    drop(open(dir.path()));
}

#[tokio::test]
async fn bad_list_filter_is_an_error_not_an_empty_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    // A bad filter cannot be built, so it never reaches the store as an empty answer.
    assert!(matches!(
        ListFilter::new(Some(-1), "a", "datasource").map_err(Error::from),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        ListFilter::new(None, "", "datasource").map_err(Error::from),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        store.rename(&key(1, "a"), "").await,
        Err(Error::InvalidInput(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn SecretStore> = Arc::new(open(dir.path()));
    let mut tasks = Vec::new();
    for t in 0..32i64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..8 {
                let k = key(t, &format!("ns-{i}"));
                store
                    .set(&k, &value(&format!("v-{t}-{i}")))
                    .await
                    .expect("set");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let all = store.get_all().await.expect("get_all");
    assert_eq!(all.len(), 32 * 8);
    for item in &all {
        let i = item.key.namespace().trim_start_matches("ns-");
        assert_eq!(item.value.expose(), format!("v-{}-{i}", item.key.org_id()));
    }
}
