//! A Grafana secrets-manager plugin and secrets broker with pluggable backends.
//!
//! # Layout
//! - [`domain`]: the key, the value (never printed) and list filters.
//! - [`config`]: settings from `GF_PLUGIN_*`, a config file and flags, validated into [`config::Config`].
//! - [`backends`]: the [`backends::SecretStore`] seam and the backends behind it.
//! - [`migrate`]: the migration engine and the `verify`/`reconcile` commands (their comparison is
//!   [`backends::reconcile`], shared with the mirror backend).
//! - [`server`]: the Grafana plugin server (go-plugin handshake, gRPC service, hclog logs).

pub mod backends;
pub mod config;
pub mod domain;
pub mod migrate;
pub mod server;
