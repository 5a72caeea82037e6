//! Offline AWS Secrets Manager emulator (placeholder until the core lands).
pub mod password;
pub mod policy;
pub mod rotation;
pub fn placeholder() {}
