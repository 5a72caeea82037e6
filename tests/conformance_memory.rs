//! The conformance suite on the `memory` backend, opened the way `serve` opens it: from
//! settings with `backend = memory`.

use secrets_broker::backends::{self, testing};
use secrets_broker::config::{backend_from_settings, Settings, Source};

#[tokio::test]
async fn conformance_suite() {
    let mut settings = Settings::default();
    settings.insert("backend", "memory", Source::Flag);
    let config = backend_from_settings(&settings).expect("valid settings");
    assert_eq!(config.name(), "memory");
    let store = backends::build(&config).await.expect("open");
    assert_eq!(store.name(), "memory");
    testing::run_all(store.as_ref()).await;
}
