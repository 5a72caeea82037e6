//! The `secrets-broker` binary: Grafana plugin mode, standalone server and admin commands.

fn main() {}
