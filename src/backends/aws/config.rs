//! Settings of the `aws` backend (`GF_PLUGIN_*` keys) and the construction of the SDK client
//! from them: credentials, region, endpoint, assume-role, retries and timeouts.

use std::fmt;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::config::retry::{RetryPartition, TokenBucket};

use super::naming::{self, RESERVED_TAG_PREFIX};
use crate::backends::settings::{ConfigError, Settings};
use crate::backends::{Error, Result};

/// Settings keys this backend reads.
pub const KEYS: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region",
    "kms_key_id",
    "secret_name_prefix",
    "secret_description",
    "aws_endpoint_url",
    "aws_role_arn",
    "aws_external_id",
    "aws_role_session_name",
    "aws_tags",
    "aws_recovery_window_days",
    "aws_deleted_name_policy",
    "aws_connect_timeout_ms",
    "aws_operation_timeout_ms",
    "aws_max_attempts",
    "aws_retry_initial_backoff_ms",
];

/// Default name prefix: keeps Grafana's secrets apart from everything else in the account.
pub const DEFAULT_PREFIX: &str = "grafana/";
/// Default recovery window: 7 days, AWS's minimum (see the module doc of `aws`).
pub const DEFAULT_RECOVERY_WINDOW_DAYS: i64 = 7;
/// Default number of attempts per API call (AWS's standard mode uses 3).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// What `set` does with a name still in its recovery window after a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedNamePolicy {
    /// RestoreSecret, then PutSecretValue (the default: keeps version history, one extra call).
    Restore,
    /// DeleteSecret with ForceDeleteWithoutRecovery, then CreateSecret afresh.
    Recreate,
}

/// Settings of the aws backend.
#[derive(Clone)]
pub struct AwsConfig {
    /// Explicit access key id; with [`Self::secret_access_key`], else the SDK's default chain.
    pub access_key_id: Option<String>,
    /// Explicit secret access key (redacted in `Debug`).
    pub secret_access_key: Option<String>,
    /// Session token for explicit temporary credentials (redacted in `Debug`).
    pub session_token: Option<String>,
    /// Region; else the SDK's chain (AWS_REGION, profile, IMDS).
    pub region: Option<String>,
    /// KMS key for CreateSecret; else AWS's default `aws/secretsmanager` key.
    pub kms_key_id: Option<String>,
    /// Name prefix isolating this Grafana instance.
    pub prefix: String,
    /// Description put on created secrets.
    pub description: Option<String>,
    /// Endpoint override (the emulator, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// Role to assume with STS.
    pub role_arn: Option<String>,
    /// External id for the assumed role.
    pub external_id: Option<String>,
    /// Session name for the assumed role.
    pub role_session_name: Option<String>,
    /// Extra tags on every created secret.
    pub tags: Vec<(String, String)>,
    /// DeleteSecret recovery window in days: 7–30, or 0 for deletion without recovery.
    pub recovery_window_days: i64,
    /// What to do with a name in its recovery window.
    pub deleted_name_policy: DeletedNamePolicy,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one whole operation, retries included.
    pub operation_timeout: Duration,
    /// Attempts per API call (1 = no retry).
    pub max_attempts: u32,
    /// First retry delay (doubles per attempt, with jitter, capped at 20 s).
    pub retry_initial_backoff: Duration,
}

/// Credentials are never printed.
impl fmt::Debug for AwsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("AwsConfig")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("region", &self.region)
            .field("kms_key_id", &self.kms_key_id)
            .field("prefix", &self.prefix)
            .field("description", &self.description)
            .field("endpoint_url", &self.endpoint_url)
            .field("role_arn", &self.role_arn)
            .field("external_id", &redacted(&self.external_id))
            .field("role_session_name", &self.role_session_name)
            .field("tags", &self.tags)
            .field("recovery_window_days", &self.recovery_window_days)
            .field("deleted_name_policy", &self.deleted_name_policy)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("retry_initial_backoff", &self.retry_initial_backoff)
            .finish()
    }
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            region: None,
            kms_key_id: None,
            prefix: DEFAULT_PREFIX.into(),
            description: None,
            endpoint_url: None,
            role_arn: None,
            external_id: None,
            role_session_name: None,
            tags: Vec::new(),
            recovery_window_days: DEFAULT_RECOVERY_WINDOW_DAYS,
            deleted_name_policy: DeletedNamePolicy::Restore,
            connect_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(30),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_initial_backoff: Duration::from_millis(100),
        }
    }
}

fn parse_tags(settings: &Settings, key: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(raw) = settings.get(key) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| settings.error(key, format!("expected k=v pairs, got {pair:?}")))?;
        let (k, v) = (k.trim(), v.trim());
        let ok = |s: &str| {
            s.chars()
                .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
        };
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 || !ok(k) || !ok(v) {
            return Err(settings.error(
                key,
                format!("tag {k:?}: keys are 1-128 and values 0-256 of letters, digits, spaces and _.:/=+-@"),
            ));
        }
        if k.starts_with(RESERVED_TAG_PREFIX) || k.starts_with("aws:") {
            return Err(settings.error(key, format!("tag key {k:?} is reserved")));
        }
        out.push((k.to_string(), v.to_string()));
    }
    if out.len() > 20 {
        return Err(settings.error(key, "at most 20 extra tags (AWS allows 50 in all)"));
    }
    Ok(out)
}

fn millis(settings: &Settings, key: &str, default: Duration) -> Result<Duration, ConfigError> {
    match settings.parse::<u64>(key, "a number of milliseconds")? {
        None => Ok(default),
        Some(0) => Err(settings.error(key, "must be greater than 0")),
        Some(ms) => Ok(Duration::from_millis(ms)),
    }
}

impl AwsConfig {
    /// Reads this backend's keys.
    pub fn from_settings(s: &Settings) -> Result<Self, ConfigError> {
        let d = Self::default();
        let own = |k: &str| s.get(k).map(str::to_string);
        let access_key_id = own("aws_access_key_id");
        let secret_access_key = own("aws_secret_access_key");
        match (&access_key_id, &secret_access_key) {
            (Some(_), None) => {
                return Err(s.error(
                    "aws_secret_access_key",
                    "is required with aws_access_key_id",
                ))
            }
            (None, Some(_)) => {
                return Err(s.error(
                    "aws_access_key_id",
                    "is required with aws_secret_access_key",
                ))
            }
            _ => {}
        }
        let prefix = s
            .get("secret_name_prefix")
            .unwrap_or(DEFAULT_PREFIX)
            .to_string();
        naming::check_prefix(&prefix).map_err(|m| s.error("secret_name_prefix", m))?;
        let recovery_window_days = s
            .parse::<i64>("aws_recovery_window_days", "0 or 7 to 30")?
            .unwrap_or(d.recovery_window_days);
        if recovery_window_days != 0 && !(7..=30).contains(&recovery_window_days) {
            return Err(s.error(
                "aws_recovery_window_days",
                "must be 0 (delete without recovery) or 7 to 30 (AWS's limits)",
            ));
        }
        let deleted_name_policy = match s.get("aws_deleted_name_policy").map(str::trim) {
            None | Some("restore") => DeletedNamePolicy::Restore,
            Some("recreate") => DeletedNamePolicy::Recreate,
            Some(_) => {
                return Err(s.error("aws_deleted_name_policy", "expected restore or recreate"))
            }
        };
        let max_attempts = s
            .parse::<u32>("aws_max_attempts", "a number of attempts from 1 to 20")?
            .unwrap_or(d.max_attempts);
        if !(1..=20).contains(&max_attempts) {
            return Err(s.error("aws_max_attempts", "must be from 1 to 20"));
        }
        if let Some(url) = s.get("aws_endpoint_url") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(s.error("aws_endpoint_url", "must start with http:// or https://"));
            }
        }
        if own("aws_role_arn").is_none() {
            for k in ["aws_external_id", "aws_role_session_name"] {
                if s.get(k).is_some() {
                    return Err(s.error(k, "is only used with aws_role_arn, which is not set"));
                }
            }
        }
        Ok(Self {
            access_key_id,
            secret_access_key,
            session_token: own("aws_session_token"),
            region: own("aws_region"),
            kms_key_id: own("kms_key_id"),
            prefix,
            description: own("secret_description"),
            endpoint_url: own("aws_endpoint_url"),
            role_arn: own("aws_role_arn"),
            external_id: own("aws_external_id"),
            role_session_name: own("aws_role_session_name"),
            tags: parse_tags(s, "aws_tags")?,
            recovery_window_days,
            deleted_name_policy,
            connect_timeout: millis(s, "aws_connect_timeout_ms", d.connect_timeout)?,
            operation_timeout: millis(s, "aws_operation_timeout_ms", d.operation_timeout)?,
            max_attempts,
            retry_initial_backoff: millis(
                s,
                "aws_retry_initial_backoff_ms",
                d.retry_initial_backoff,
            )?,
        })
    }

    /// The SDK's retry settings: standard mode with exponential backoff and jitter.
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.retry_initial_backoff)
            .with_max_backoff(Duration::from_secs(20))
    }

    /// The SDK's timeouts.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }

    /// Builds the Secrets Manager client: explicit keys or the default chain, optional
    /// assume-role, region, endpoint, retries and timeouts.
    pub async fn client(&self) -> Result<aws_sdk_secretsmanager::Client> {
        Ok(Self::client_for(&self.sdk_config().await?))
    }

    /// The SDK configuration the client is built from: credentials (explicit keys or the
    /// default chain, optionally an assumed role), region, endpoint, retries and timeouts.
    pub async fn sdk_config(&self) -> Result<aws_config::SdkConfig> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(self.retry_config())
            .timeout_config(self.timeout_config());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                id.clone(),
                secret.clone(),
                self.session_token.clone(),
                None,
                "grafana-secrets-broker settings",
            ));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let base = loader.load().await;
        if base.region().is_none() {
            return Err(Error::Config(
                "no AWS region: set aws_region (or AWS_REGION / a profile region)".into(),
            ));
        }
        Ok(match &self.role_arn {
            None => base,
            Some(arn) => {
                let mut role = AssumeRoleProvider::builder(arn.clone()).session_name(
                    self.role_session_name
                        .clone()
                        .unwrap_or_else(|| "grafana-secrets-broker".into()),
                );
                if let Some(ext) = &self.external_id {
                    role = role.external_id(ext.clone());
                }
                let provider = role.configure(&base).build().await;
                base.into_builder()
                    .credentials_provider(
                        aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                    )
                    .build()
            }
        })
    }

    /// The Secrets Manager client for `conf` (see [`Self::sdk_config`]).
    pub fn client_for(conf: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
        // The SDK's default retry quota (a token bucket shared by every client of the process)
        // stops *all* retries once a burst of throttling has drained it, turning a throttled
        // minute into errors on every Grafana call. Retries here are bounded by max_attempts and
        // exponential backoff instead.
        let partition = RetryPartition::custom("grafana-secrets-broker")
            .token_bucket(TokenBucket::unlimited())
            .build();
        let sm = aws_sdk_secretsmanager::config::Builder::from(conf)
            .retry_partition(partition)
            .interceptor(super::attempts::AttemptCounter)
            .build();
        aws_sdk_secretsmanager::Client::from_conf(sm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::settings::test_pairs::from_plugin_env as settings;

    #[test]
    fn defaults_and_debug_redaction() {
        let c = AwsConfig::from_settings(&settings(&[
            ("aws_access_key_id", "AKIDEXAMPLE"),
            ("aws_secret_access_key", "wJalrXUtnFEMI-very-secret"),
        ]))
        .expect("valid");
        assert_eq!(c.prefix, DEFAULT_PREFIX);
        assert_eq!(c.recovery_window_days, 7);
        assert_eq!(c.deleted_name_policy, DeletedNamePolicy::Restore);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("very-secret"), "{dbg}");
        assert!(dbg.contains("AKIDEXAMPLE"));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (pairs, key) in [
            (vec![("aws_access_key_id", "x")], "aws_secret_access_key"),
            (
                vec![("aws_recovery_window_days", "3")],
                "aws_recovery_window_days",
            ),
            (
                vec![("aws_deleted_name_policy", "keep")],
                "aws_deleted_name_policy",
            ),
            (
                vec![("secret_name_prefix", "has space")],
                "secret_name_prefix",
            ),
            (vec![("aws_tags", "novalue")], "aws_tags"),
            (
                vec![("aws_tags", "grafana-secrets-broker:owner=x")],
                "aws_tags",
            ),
            (vec![("aws_max_attempts", "0")], "aws_max_attempts"),
            (
                vec![("aws_endpoint_url", "localhost:1")],
                "aws_endpoint_url",
            ),
            (vec![("aws_external_id", "e")], "aws_external_id"),
            (
                vec![("aws_operation_timeout_ms", "0")],
                "aws_operation_timeout_ms",
            ),
        ] {
            let err = AwsConfig::from_settings(&settings(&pairs)).expect_err(key);
            assert_eq!(err.key, key, "{err}");
        }
    }

    #[test]
    fn tags_and_policy_parse() {
        let c = AwsConfig::from_settings(&settings(&[
            ("aws_tags", "team=obs, env = prod"),
            ("aws_deleted_name_policy", "recreate"),
            ("aws_recovery_window_days", "0"),
        ]))
        .expect("valid");
        assert_eq!(
            c.tags,
            vec![("team".into(), "obs".into()), ("env".into(), "prod".into())]
        );
        assert_eq!(c.deleted_name_policy, DeletedNamePolicy::Recreate);
        assert_eq!(c.recovery_window_days, 0);
    }
}
