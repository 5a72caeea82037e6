//! Tests of the read cache over the real `memory` backend, with a counting wrapper that counts
//! (and can hold back, fail or jitter) the backend calls the cache makes.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

use tokio::sync::Semaphore;

use super::*;
use crate::backends::memory::MemoryStore;
use crate::backends::Error;

/// The memory backend, counting `get`s; `get` can be made to wait for permits, to fail, and
/// every call to yield a random number of times before and after the memory operation.
#[derive(Debug, Default)]
struct Counting {
    inner: MemoryStore,
    gets: AtomicUsize,
    failure: Mutex<Option<Error>>,
    gate: Option<Semaphore>,
    jitter: AtomicBool,
    /// `set` stores the value and then answers this error (a write that landed but whose
    /// answer was lost, such as a timeout after the backend took it).
    set_failure: Mutex<Option<Error>>,
}

impl Counting {
    fn gated() -> Self {
        Self {
            gate: Some(Semaphore::new(0)),
            ..Self::default()
        }
    }

    fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }

    fn fail_with(&self, e: Option<Error>) {
        *self.failure.lock().unwrap() = e;
    }

    async fn jitter(&self) {
        if self.jitter.load(Ordering::Relaxed) {
            for _ in 0..rand::random::<u8>() % 4 {
                tokio::task::yield_now().await;
            }
        }
    }
}

#[async_trait]
impl SecretStore for Counting {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn get(&self, key: &SecretKey) -> Result<Option<SecretValue>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        if let Some(e) = self.failure.lock().unwrap().clone() {
            return Err(e);
        }
        self.jitter().await;
        let answer = self.inner.get(key).await;
        self.jitter().await;
        answer
    }
    async fn set(&self, key: &SecretKey, value: &SecretValue) -> Result<()> {
        self.jitter().await;
        let done = self.inner.set(key, value).await;
        self.jitter().await;
        match self.set_failure.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => done,
        }
    }
    async fn delete(&self, key: &SecretKey) -> Result<()> {
        self.jitter().await;
        let done = self.inner.delete(key).await;
        self.jitter().await;
        done
    }
    async fn list(&self, filter: &ListFilter) -> Result<Vec<SecretKey>> {
        self.inner.list(filter).await
    }
    async fn rename_key(&self, rename: &Rename) -> Result<()> {
        self.inner.rename_key(rename).await
    }
    async fn get_all(&self) -> Result<Vec<Item>> {
        self.inner.get_all().await
    }
}

fn key(ns: &str) -> SecretKey {
    SecretKey::new(1, ns, "datasource").unwrap()
}

fn value(v: &str) -> SecretValue {
    SecretValue::new(v).unwrap()
}

fn config(ttl: Duration) -> CacheConfig {
    CacheConfig {
        ttl,
        max_bytes: DEFAULT_MAX_BYTES,
        max_stale: Duration::ZERO,
    }
}

fn cache(backend: &Arc<Counting>, config: CacheConfig) -> ReadCache {
    ReadCache::new(backend.clone(), config)
}

async fn read(cache: &ReadCache, ns: &str) -> Option<String> {
    cache
        .get(&key(ns))
        .await
        .unwrap()
        .map(|v| v.expose().to_string())
}

#[tokio::test]
async fn least_recently_used_entries_leave_first_and_bytes_stay_bounded() {
    let backend = Arc::new(Counting::default());
    // Four keys of 2 + 10 bytes with 100-byte values: room for exactly three entries.
    let one = entry_bytes(&key("k0"), Some(&value(&"x".repeat(100))));
    let cache = cache(
        &backend,
        CacheConfig {
            max_bytes: 3 * one + one / 2,
            ..config(Duration::from_secs(60))
        },
    );
    for i in 0..4 {
        backend
            .inner
            .set(&key(&format!("k{i}")), &value(&"x".repeat(100)))
            .await
            .unwrap();
    }
    for ns in ["k0", "k1", "k2"] {
        read(&cache, ns).await;
    }
    assert_eq!(backend.gets(), 3);
    assert_eq!(cache.stats().bytes as usize, 3 * one);
    read(&cache, "k0").await; // a hit: k0 is now the most recently used
    assert_eq!(backend.gets(), 3);
    read(&cache, "k3").await; // evicts k1, the least recently used
    let stats = cache.stats();
    assert_eq!((stats.evictions, stats.entries), (1, 3));
    assert!(stats.bytes as usize <= 3 * one + one / 2);
    for ns in ["k0", "k2", "k3"] {
        read(&cache, ns).await;
    }
    assert_eq!(backend.gets(), 4, "k0, k2 and k3 must still be cached");
    read(&cache, "k1").await;
    assert_eq!(backend.gets(), 5, "k1 must have been evicted");

    // An entry bigger than the whole budget is answered but not kept.
    backend
        .inner
        .set(&key("huge"), &value(&"y".repeat(4 * one)))
        .await
        .unwrap();
    read(&cache, "huge").await;
    read(&cache, "huge").await;
    assert_eq!(backend.gets(), 7);
    assert!(cache.stats().bytes as usize <= 3 * one + one / 2);
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_the_ttl_and_are_swept() {
    let backend = Arc::new(Counting::default());
    let cache = cache(&backend, config(Duration::from_secs(5)));
    backend.inner.set(&key("db"), &value("v1")).await.unwrap();
    assert_eq!(read(&cache, "db").await.as_deref(), Some("v1"));
    // Changed behind the cache's back (another replica, a rotation): unseen within the TTL.
    backend.inner.set(&key("db"), &value("v2")).await.unwrap();
    tokio::time::advance(Duration::from_millis(4_999)).await;
    assert_eq!(read(&cache, "db").await.as_deref(), Some("v1"));
    assert_eq!(backend.gets(), 1);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(read(&cache, "db").await.as_deref(), Some("v2"));
    assert_eq!(backend.gets(), 2);
    // Nobody reads: the sweeper drops (and so wipes) the expired entry.
    assert_eq!(cache.stats().entries, 1);
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(cache.stats().entries, 0);
    assert_eq!(cache.stats().bytes, 0);
}

/// The error `get("db")` answers.
async fn failure(cache: &ReadCache) -> Error {
    cache
        .get(&key("db"))
        .await
        .expect_err("answered while the backend fails")
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_answers_an_expired_value_only_within_max_stale() {
    let backend = Arc::new(Counting::default());
    backend.inner.set(&key("db"), &value("v1")).await.unwrap();

    // Without max_stale: the error, as soon as the entry is older than the TTL.
    let strict = cache(&backend, config(Duration::from_secs(1)));
    read(&strict, "db").await;
    backend.fail_with(Some(Error::Unavailable("down".into())));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(matches!(failure(&strict).await, Error::Unavailable(_)));
    backend.fail_with(None);

    let lenient = cache(
        &backend,
        CacheConfig {
            max_stale: Duration::from_secs(10),
            ..config(Duration::from_secs(1))
        },
    );
    read(&lenient, "db").await;
    backend.fail_with(Some(Error::Throttled("slow down".into())));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(read(&lenient, "db").await.as_deref(), Some("v1"));
    assert_eq!(lenient.stats().stale_answers, 1);
    // A failure that is not transient (revoked permission) is never papered over.
    backend.fail_with(Some(Error::PermissionDenied("revoked".into())));
    assert!(matches!(
        failure(&lenient).await,
        Error::PermissionDenied(_)
    ));
    // Past TTL + max_stale: the backend's error.
    backend.fail_with(Some(Error::Unavailable("down".into())));
    tokio::time::advance(Duration::from_secs(9)).await;
    assert!(matches!(failure(&lenient).await, Error::Unavailable(_)));
    // The failures were not cached: the backend answers again, the next read sees it.
    backend.fail_with(None);
    assert_eq!(read(&lenient, "db").await.as_deref(), Some("v1"));
}

/// Starts `n` concurrent reads of `db`, waits until all of them missed (one holds the backend
/// call, held back by the gate), then opens the gate.
async fn concurrent_misses(
    backend: &Arc<Counting>,
    cache: &Arc<ReadCache>,
    n: u64,
) -> Vec<Result<Option<SecretValue>>> {
    let before = cache.stats().misses;
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get(&key("db")).await })
        })
        .collect();
    while cache.stats().misses < before + n {
        tokio::task::yield_now().await;
    }
    backend.gate.as_ref().unwrap().add_permits(1);
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_one_key_make_one_backend_call() {
    let backend = Arc::new(Counting::gated());
    backend.inner.set(&key("db"), &value("v")).await.unwrap();
    let cache = Arc::new(cache(&backend, config(Duration::from_secs(60))));

    let answers = concurrent_misses(&backend, &cache, 50).await;
    assert_eq!(backend.gets(), 1);
    assert_eq!(cache.stats().joined, 49);
    for a in answers {
        assert_eq!(a.unwrap().unwrap().expose(), "v");
    }

    // A failing call: every waiter gets its error, and it is not cached.
    backend.delete(&key("db")).await.unwrap();
    cache.delete(&key("db")).await.unwrap();
    backend.fail_with(Some(Error::Unavailable("down".into())));
    let answers = concurrent_misses(&backend, &cache, 20).await;
    assert_eq!(backend.gets(), 2);
    for a in answers {
        assert!(matches!(a, Err(Error::Unavailable(_))), "{a:?}");
    }
    backend.fail_with(None);
    backend.gate.as_ref().unwrap().add_permits(1);
    assert_eq!(read(&cache, "db").await, None);
    assert_eq!(backend.gets(), 3, "the failure was cached");
}

#[tokio::test]
async fn writes_through_the_cache_are_read_at_once_and_absent_is_cached() {
    let backend = Arc::new(Counting::default());
    let cache = cache(&backend, config(Duration::from_secs(60)));
    assert_eq!(read(&cache, "a").await, None);
    assert_eq!(read(&cache, "a").await, None);
    assert_eq!(backend.gets(), 1, "absent is cached like a value");

    cache.set(&key("a"), &value("v1")).await.unwrap();
    assert_eq!(read(&cache, "a").await.as_deref(), Some("v1"));
    cache.set(&key("a"), &value("v2")).await.unwrap();
    assert_eq!(read(&cache, "a").await.as_deref(), Some("v2"));
    read(&cache, "b").await;
    cache.rename(&key("a"), "b").await.unwrap();
    assert_eq!(read(&cache, "a").await, None);
    assert_eq!(read(&cache, "b").await.as_deref(), Some("v2"));
    cache.delete(&key("b")).await.unwrap();
    assert_eq!(read(&cache, "b").await, None);
    let gets = backend.gets();
    assert_eq!(read(&cache, "b").await, None);
    assert_eq!(backend.gets(), gets);

    // list and get_all always ask the backend.
    cache.set(&key("c"), &value("v3")).await.unwrap();
    let all = cache.get_all().await.unwrap();
    assert_eq!(all.len(), 1);
}

/// A write that fails may still have landed: the cache must not keep answering the old value.
#[tokio::test]
async fn a_failed_write_invalidates_too() {
    let backend = Arc::new(Counting::default());
    let cache = cache(&backend, config(Duration::from_secs(60)));
    cache.set(&key("a"), &value("v1")).await.unwrap();
    assert_eq!(read(&cache, "a").await.as_deref(), Some("v1"));
    *backend.set_failure.lock().unwrap() = Some(Error::Unavailable("timed out".into()));
    assert!(cache.set(&key("a"), &value("v2")).await.is_err());
    assert_eq!(read(&cache, "a").await.as_deref(), Some("v2"));
}

#[tokio::test]
async fn settings_and_defaults() {
    let load = |pairs: &[(&str, &str)]| {
        Settings::load(
            None,
            pairs
                .iter()
                .map(|(k, v)| (format!("GF_PLUGIN_{}", k.to_uppercase()), v.to_string())),
            [],
        )
        .unwrap()
    };
    let memory = BackendConfig::new(
        &crate::backends::memory::BACKEND,
        crate::backends::memory::MemoryConfig,
    );
    let s = load(&[]);
    let c = CacheConfig::from_settings(&s, &memory).unwrap();
    assert!(
        !c.is_on(),
        "memory reads stay in the process: no cache by default"
    );
    assert_eq!(c.max_bytes, DEFAULT_MAX_BYTES);
    let s = load(&[
        ("cache_ttl", "500ms"),
        ("cache_max_bytes", "2MiB"),
        ("cache_max_stale", "2m"),
    ]);
    let c = CacheConfig::from_settings(&s, &memory).unwrap();
    assert_eq!(
        c,
        CacheConfig {
            ttl: Duration::from_millis(500),
            max_bytes: 2 << 20,
            max_stale: Duration::from_secs(120),
        }
    );
    assert_eq!(
        CacheConfig::from_settings(&load(&[("cache_ttl", "30")]), &memory)
            .unwrap()
            .ttl,
        Duration::from_secs(30)
    );
    for bad in ["5 parsecs", "-1s", "1.5s", "s"] {
        let e = CacheConfig::from_settings(&load(&[("cache_ttl", bad)]), &memory).unwrap_err();
        assert_eq!(e.key, "cache_ttl", "{bad}");
    }
    let e = CacheConfig::from_settings(&load(&[("cache_max_bytes", "1TB")]), &memory).unwrap_err();
    assert_eq!(e.key, "cache_max_bytes");

    // aws: on by default with DEFAULT_TTL; 0 turns it off; a mirror follows its primary.
    let aws = load(&[("backend", "aws"), ("aws_region", "eu-west-1")]);
    let backend = crate::backends::backend_named(&aws, "backend", "aws").unwrap();
    assert_eq!(
        CacheConfig::from_settings(&aws, &backend).unwrap().ttl,
        DEFAULT_TTL
    );
    let off = load(&[("aws_region", "eu-west-1"), ("cache_ttl", "0")]);
    assert!(!CacheConfig::from_settings(&off, &backend).unwrap().is_on());
    let mirror = |primary: &str, secondary: &str| {
        let s = load(&[
            ("aws_region", "eu-west-1"),
            ("mirror_primary", primary),
            ("mirror_secondary", secondary),
        ]);
        let backend = crate::backends::backend_named(&s, "backend", "mirror").unwrap();
        CacheConfig::from_settings(&s, &backend).unwrap().is_on()
    };
    assert!(mirror("aws", "memory"));
    assert!(!mirror("memory", "aws"));
}

/// One completed operation on one key, with logical times from one shared counter.
#[derive(Debug, Clone)]
struct Op {
    key: usize,
    value: Option<String>,
    start: u64,
    end: u64,
}

/// Whether `read` returned a value that was the latest acknowledged write of its key at some
/// moment during the read: a write `w` of that value (or the initial absence) that started
/// before the read ended and that no write overwrote completely before the read started (no
/// write that started after `w` was acknowledged and was itself acknowledged before the read
/// started).
fn read_is_coherent(read: &Op, writes: &[Op]) -> bool {
    let initial = Op {
        key: read.key,
        value: None,
        start: 0,
        end: 0,
    };
    let same_key: Vec<&Op> = writes.iter().filter(|w| w.key == read.key).collect();
    std::iter::once(&initial)
        .chain(same_key.iter().copied())
        .filter(|w| w.value == read.value && w.start < read.end)
        .any(|w| {
            !same_key
                .iter()
                .any(|later| later.start > w.end && later.end < read.start)
        })
}

#[test]
fn the_coherence_check_rejects_a_stale_read() {
    let w = |value: &str, start, end| Op {
        key: 0,
        value: Some(value.into()),
        start,
        end,
    };
    let writes = vec![w("a", 1, 2), w("b", 3, 4)];
    let read = |value: Option<&str>, start, end| Op {
        key: 0,
        value: value.map(String::from),
        start,
        end,
    };
    assert!(
        !read_is_coherent(&read(Some("a"), 5, 6), &writes),
        "stale a"
    );
    assert!(
        !read_is_coherent(&read(None, 5, 6), &writes),
        "stale absent"
    );
    assert!(read_is_coherent(&read(Some("b"), 5, 6), &writes));
    assert!(
        read_is_coherent(&read(Some("a"), 2, 6), &writes),
        "b not yet acknowledged"
    );
    assert!(
        read_is_coherent(&read(Some("b"), 2, 6), &writes),
        "b in flight"
    );
    assert!(
        !read_is_coherent(&read(Some("b"), 0, 2), &writes),
        "b from the future"
    );
}

/// Several tasks write (set and delete) and read the same few keys through the cache at once;
/// every read must answer a value that was the latest acknowledged write at some moment during
/// the read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_under_concurrent_writers_are_never_stale() {
    const KEYS: usize = 3;
    const TASKS: usize = 4;
    const OPS: usize = 400;
    let backend = Arc::new(Counting::default());
    backend.jitter.store(true, Ordering::Relaxed);
    let cache = Arc::new(cache(&backend, config(Duration::from_secs(60))));
    let clock = Arc::new(AtomicU64::new(1));
    let ns = |k: usize| format!("coherence-{k}");

    let mut tasks = Vec::new();
    for writer in 0..TASKS {
        let (cache, clock) = (cache.clone(), clock.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            for n in 0..OPS {
                let k = rand::random::<usize>() % KEYS;
                let v = (rand::random::<u8>() % 5 != 0).then(|| format!("w{writer}-{n}"));
                let start = clock.fetch_add(1, Ordering::SeqCst);
                match &v {
                    Some(v) => cache.set(&key(&ns(k)), &value(v)).await.unwrap(),
                    None => cache.delete(&key(&ns(k))).await.unwrap(),
                }
                let end = clock.fetch_add(1, Ordering::SeqCst);
                done.push(Op {
                    key: k,
                    value: v,
                    start,
                    end,
                });
            }
            (done, Vec::new())
        }));
    }
    for _ in 0..TASKS {
        let (cache, clock) = (cache.clone(), clock.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            for _ in 0..OPS * 2 {
                let k = rand::random::<usize>() % KEYS;
                let start = clock.fetch_add(1, Ordering::SeqCst);
                let got = cache.get(&key(&ns(k))).await.unwrap();
                let end = clock.fetch_add(1, Ordering::SeqCst);
                done.push(Op {
                    key: k,
                    value: got.map(|v| v.expose().to_string()),
                    start,
                    end,
                });
            }
            (Vec::new(), done)
        }));
    }
    let (mut writes, mut reads) = (Vec::new(), Vec::new());
    for t in tasks {
        let (w, r) = t.await.unwrap();
        writes.extend(w);
        reads.extend(r);
    }
    let stale: Vec<&Op> = reads
        .iter()
        .filter(|r| !read_is_coherent(r, &writes))
        .collect();
    assert!(
        stale.is_empty(),
        "{} stale reads, e.g. {:?}",
        stale.len(),
        &stale[..stale.len().min(3)]
    );
    // The cache was exercised: some reads were answered from it, some went to the backend.
    let stats = cache.stats();
    assert!(stats.hits > 0 && stats.backend_reads > 0, "{stats:?}");
}
