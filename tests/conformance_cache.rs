//! The conformance suite on the read cache in front of the `memory` backend, built the way the
//! plugin and `serve` build their store (settings, then `cache::wrap`), with a TTL long enough
//! that every read after the first is answered from the cache unless a write invalidated it.

use secrets_broker::backends::{self, cache, testing};
use secrets_broker::config::{Config, Settings, Source};

#[tokio::test]
async fn conformance_suite_through_the_cache() {
    let mut settings = Settings::default();
    settings.insert("backend", "memory", Source::Flag);
    settings.insert("cache_ttl", "10m", Source::Flag);
    let config = Config::from_settings(&settings).expect("valid settings");
    assert!(config.cache.is_on());
    let store = cache::wrap(
        backends::build(&config.backend).await.expect("open"),
        config.cache,
    );
    assert_eq!(store.name(), "memory");
    assert!(format!("{store:?}").starts_with("ReadCache"), "{store:?}");
    testing::run_all(store.as_ref()).await;
}
