//! Benchmark harness library: SigV4 signing, latency statistics, the AWS JSON 1.1 load generator, the
//! plugin protocol's gRPC messages and the report table shared by the `bench` binaries.
//!
//! Layout:
//! - [`sigv4`]: AWS Signature Version 4 for the load generator's requests.
//! - [`stats`]: latency recording, percentiles and the one-JSON-line result shape.
//! - [`load`]: workloads (seed, read, write, mixed, create, migrate) over keep-alive HTTP/1.1 connections.
//! - [`plugin`]: Grafana's `secretsmanagerplugin` messages and a client over the go-plugin Unix socket.
//! - [`report`]: medians over rounds and the Markdown table with targets.
//! - [`side_by_side`]: the emulator beside a reference build of it, measured in the same rounds.

pub mod http1;
pub mod load;
pub mod plugin;
pub mod report;
pub mod side_by_side;
pub mod sigv4;
pub mod stats;
