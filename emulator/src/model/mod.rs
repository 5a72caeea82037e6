//! The data model: secrets, versions, staging labels, ARNs and names, with the label-moving rules of
//! AWS Secrets Manager (AWSCURRENT / AWSPREVIOUS / AWSPENDING and custom labels).

mod data;
pub mod replica;
mod secret;
mod version;

use rand::Rng;

pub use data::{Digest, SecretData};
pub use secret::{LabelError, Rotation, Secret};
pub use version::{Stored, Version};

/// The label of the current version.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The label of the previous current version.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
/// The label of a rotation candidate.
pub const AWSPENDING: &str = "AWSPENDING";
/// Maximum number of versions AWS keeps before pruning unlabelled ones (older than 24 h).
pub const MAX_VERSIONS: usize = 100;
/// Versions younger than this are never pruned.
pub const PRUNE_MIN_AGE_SECS: f64 = 86_400.0;
/// Maximum number of staging labels on one version.
pub const MAX_LABELS_PER_VERSION: usize = 20;
/// Maximum number of tags on a secret.
pub const MAX_TAGS: usize = 50;
/// The default KMS key alias of Secrets Manager.
pub const DEFAULT_KMS_ALIAS: &str = "alias/aws/secretsmanager";

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Checks a secret name: 1-512 characters from `A-Za-z0-9/_+=.@-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 512 && valid_name_chars(name)
}

/// Whether every character of `name` may appear in a secret name (`A-Za-z0-9/_+=.@-`).
pub fn valid_name_chars(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
}

/// The AWS partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The ARN prefix for secrets in an account and region (`arn:aws:secretsmanager:r:a:secret:`).
pub fn arn_prefix(region: &str, account: &str) -> String {
    format!(
        "arn:{}:secretsmanager:{region}:{account}:secret:",
        partition(region)
    )
}

/// A random 6-character alphanumeric ARN suffix.
pub fn random_suffix() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// A new random version id (UUID v4).
pub fn new_version_id() -> String {
    random_uuid()
}

/// A random UUID (v4) from the thread's CSPRNG: request ids and version ids need uniqueness, and
/// `Uuid::new_v4` costs a `getrandom` system call on every request.
pub fn random_uuid() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests;
