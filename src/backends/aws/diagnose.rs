//! `doctor`'s checks of the `aws` backend, by harmless calls: the region, the credentials (from
//! the settings or the SDK's chain, and whether AWS accepts them), the endpoint's reachability,
//! each IAM action the backend calls, and the KMS key.
//!
//! - IAM: ListSecrets (one result, under the prefix) and, on a name under the prefix that cannot
//!   exist (`<prefix>secrets-broker-doctor-<random>`), GetSecretValue, DescribeSecret,
//!   PutSecretValue, DeleteSecret, RestoreSecret, TagResource and BatchGetSecretValue. AWS checks
//!   the permission before it looks the secret up, so ResourceNotFoundException proves the
//!   permission and AccessDeniedException its absence; nothing is written because the secret
//!   does not exist.
//! - CreateSecret cannot be checked without creating a secret, and a KMS key's encrypt
//!   permission only by a write: `Probe::write` creates one probe secret (with the configured
//!   KMS key, description and tags), reads it back and force-deletes it. Without it that check is
//!   a warning naming the flag.
//! - KMS decrypt: GetSecretValue of one secret this broker instance owns (found by ListSecrets
//!   under the prefix) proves `kms:Decrypt` on the key that encrypted it; DescribeSecret tells
//!   which key that is, compared with `kms_key_id`. The value is dropped unread.

use std::collections::HashMap;

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use aws_sdk_secretsmanager::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::config::AwsConfig;
use super::errors::{is_access_denied_code, is_credentials_code};
use super::naming::{Naming, RESERVED_TAG_PREFIX};
use crate::backends::diagnosis::{Finding, Probe};

/// The value of the probe secret written with `Probe::write` (not a secret).
const PROBE_VALUE: &str = "secrets-broker doctor probe; safe to delete";
/// Attempts per probe call: a doctor run should answer quickly when the endpoint is unreachable.
const PROBE_ATTEMPTS: u32 = 2;

/// How one call ended.
enum Outcome {
    /// The call succeeded.
    Answered,
    /// ResourceNotFoundException: the caller may make the call.
    NotFound,
    /// AccessDeniedException (what AWS said, which names the identity and the action).
    Denied(String),
    /// DecryptionFailure: KMS could not decrypt the value (what AWS said).
    Undecryptable(String),
    /// AWS did not accept the credentials (code, what AWS said).
    BadCredentials(String, String),
    /// The endpoint could not be reached or did not answer in time.
    Unreachable(String),
    /// Anything else (code or description).
    Other(String),
}

fn outcome<T, E>(result: Result<T, SdkError<E, HttpResponse>>) -> Outcome
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let err = match result {
        Ok(_) => return Outcome::Answered,
        Err(e) => e,
    };
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("unknown").to_string();
            let said = e.message().unwrap_or("no message").to_string();
            if code == "ResourceNotFoundException" {
                Outcome::NotFound
            } else if code == "DecryptionFailure" {
                Outcome::Undecryptable(said)
            } else if is_access_denied_code(&code) {
                Outcome::Denied(said)
            } else if is_credentials_code(&code) {
                Outcome::BadCredentials(code, said)
            } else {
                Outcome::Other(format!("{code}: {said}"))
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            Outcome::Unreachable(DisplayErrorContext(&err).to_string())
        }
        _ => Outcome::Other(DisplayErrorContext(&err).to_string()),
    }
}

/// Every finding about the `aws` backend configured by `config`.
pub(super) async fn diagnose(config: &AwsConfig, probe: &Probe) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut quick = config.clone();
    quick.max_attempts = quick.max_attempts.min(PROBE_ATTEMPTS);
    let sdk = match quick.sdk_config().await {
        Ok(c) => c,
        Err(e) => {
            out.push(Finding::problem(
                "aws.region",
                "AWS region",
                e.to_string(),
                "aws_region = eu-west-1   (the region of your secrets, in [plugin.secretsbroker-secretsmanager])",
            ));
            return out;
        }
    };
    let client = AwsConfig::client_for(&sdk);
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    out.push(Finding::ok(
        "aws.region",
        "AWS region",
        match &config.region {
            Some(_) => format!("{region} (setting aws_region)"),
            None => format!("{region} (from the SDK's chain: AWS_REGION or the profile)"),
        },
    ));
    if !credentials(config, &sdk, &mut out).await {
        return out;
    }
    let endpoint = config
        .endpoint_url
        .clone()
        .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"));
    let naming = Naming::new(config.prefix.clone());
    if !reachable(config, &client, &endpoint, &region, &mut out).await {
        return out;
    }
    let probe_name = format!(
        "{}secrets-broker-doctor-{}",
        config.prefix,
        uuid::Uuid::new_v4().simple()
    );
    permissions(config, &client, &probe_name, &region, &mut out).await;
    kms_decrypt(config, &client, &naming, probe.write, &mut out).await;
    if probe.write {
        write_probe(config, &client, &probe_name, &mut out).await;
    } else {
        out.push(Finding::warning(
            "aws.iam.CreateSecret",
            "IAM secretsmanager:CreateSecret and secretsmanager:TagResource on create, and the KMS key's encrypt permission",
            "not checked: that takes creating a secret",
            "secrets-broker doctor --write-probe …   (creates, reads and force-deletes one probe secret under the prefix)",
        ));
    }
    out
}

/// The credentials the client signs with: resolved (the chain, or the assumed role), or a
/// problem naming what to set.
async fn credentials(
    config: &AwsConfig,
    sdk: &aws_config::SdkConfig,
    out: &mut Vec<Finding>,
) -> bool {
    let subject = "AWS credentials";
    let source = match (&config.access_key_id, &config.role_arn) {
        (Some(_), None) => "settings aws_access_key_id / aws_secret_access_key".to_string(),
        (Some(_), Some(arn)) => format!("role {arn}, assumed with the keys in the settings"),
        (None, Some(arn)) => format!("role {arn}, assumed with the SDK's default chain"),
        (None, None) => {
            "the SDK's default chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, web identity, container or \
             instance role)"
                .to_string()
        }
    };
    let Some(provider) = sdk.credentials_provider() else {
        out.push(Finding::problem(
            "aws.credentials",
            subject,
            "none configured",
            "set aws_access_key_id and aws_secret_access_key, or run Grafana with an instance role or AWS_PROFILE",
        ));
        return false;
    };
    match provider.provide_credentials().await {
        Ok(creds) => {
            let id = creds.access_key_id();
            let shown: String = id.chars().take(4).collect();
            out.push(Finding::ok(
                "aws.credentials",
                subject,
                format!(
                    "found, from {source}: access key id {shown}… (AWS has not yet been asked \
                     whether it accepts them)"
                ),
            ));
            true
        }
        Err(e) => {
            out.push(Finding::problem(
                "aws.credentials",
                subject,
                format!(
                    "none could be loaded from {source}: {}",
                    DisplayErrorContext(&e)
                ),
                "set aws_access_key_id and aws_secret_access_key, or give the Grafana service an \
                 instance role, AWS_PROFILE or AWS_* variables (and for aws_role_arn: a trust \
                 policy that lets this identity assume the role)",
            ));
            false
        }
    }
}

/// ListSecrets of at most `max` names under the prefix.
fn list_under_prefix(
    client: &Client,
    config: &AwsConfig,
    max: i32,
) -> aws_sdk_secretsmanager::operation::list_secrets::builders::ListSecretsFluentBuilder {
    let req = client.list_secrets().max_results(max);
    if config.prefix.is_empty() {
        return req;
    }
    req.filters(
        Filter::builder()
            .key(FilterNameStringType::Name)
            .values(config.prefix.clone())
            .build(),
    )
}

/// ListSecrets (one result under the prefix): the endpoint answers, accepts the credentials, and
/// the identity may list.
async fn reachable(
    config: &AwsConfig,
    client: &Client,
    endpoint: &str,
    region: &str,
    out: &mut Vec<Finding>,
) -> bool {
    let req = list_under_prefix(client, config, 1);
    let subject = format!("Secrets Manager endpoint {endpoint}");
    let result = outcome(req.send().await);
    match result {
        Outcome::Unreachable(why) => {
            out.push(Finding::problem(
                "aws.endpoint",
                subject,
                format!("cannot be reached: {why}"),
                format!(
                    "check aws_endpoint_url{} and aws_region ({region}), DNS, proxies \
                     (HTTPS_PROXY) and firewalls between this host and the endpoint",
                    config
                        .endpoint_url
                        .as_deref()
                        .map(|u| format!(" ({u})"))
                        .unwrap_or_default()
                ),
            ));
            return false;
        }
        Outcome::BadCredentials(code, said) => {
            out.push(Finding::ok("aws.endpoint", subject, "answers"));
            out.push(Finding::problem(
                "aws.credentials.accepted",
                "AWS credentials",
                format!("rejected by AWS ({code}: {said})"),
                format!(
                    "correct aws_access_key_id / aws_secret_access_key (or the credentials of the \
                     default chain, or aws_role_arn); check that aws_region ({region}) is right \
                     and the host's clock is correct"
                ),
            ));
            return false;
        }
        _ => {}
    }
    out.push(Finding::ok("aws.endpoint", subject, "answers"));
    out.push(Finding::ok(
        "aws.credentials.accepted",
        "AWS credentials",
        "accepted by AWS",
    ));
    out.push(iam_finding(
        "ListSecrets",
        result,
        &format!("listing names under {:?}", config.prefix),
        config,
        region,
    ));
    true
}

/// The finding for one IAM action from the outcome of its probe.
fn iam_finding(
    action: &str,
    result: Outcome,
    what: &str,
    config: &AwsConfig,
    region: &str,
) -> Finding {
    let check = format!("aws.iam.{action}");
    let subject = format!("IAM secretsmanager:{action}");
    match result {
        Outcome::Answered => Finding::ok(&check, subject, format!("allowed ({what}: answered)")),
        Outcome::NotFound => Finding::ok(
            &check,
            subject,
            format!("allowed ({what}: AWS answered ResourceNotFoundException, after checking the permission)"),
        ),
        Outcome::Denied(said) => Finding::problem(
            &check,
            subject,
            format!("denied ({what}; AWS said: {said})"),
            format!(
                "grant the broker's identity: {{\"Effect\": \"Allow\", \"Action\": \
                 \"secretsmanager:{action}\", \"Resource\": \
                 \"arn:aws:secretsmanager:{region}:<account id>:secret:{}*\"}}",
                config.prefix
            ),
        ),
        Outcome::BadCredentials(code, said) => Finding::problem(
            &check,
            subject,
            format!("not checked: AWS rejected the credentials ({code}: {said})"),
            "correct the credentials (see aws.credentials.accepted)",
        ),
        Outcome::Unreachable(why) | Outcome::Other(why) | Outcome::Undecryptable(why) => Finding::warning(
            &check,
            subject,
            format!("could not be checked ({what}): {why}"),
            "run doctor again; if it persists, check the endpoint",
        ),
    }
}

/// The harmless calls on `name`, which does not exist.
async fn permissions(
    config: &AwsConfig,
    client: &Client,
    name: &str,
    region: &str,
    out: &mut Vec<Finding>,
) {
    let on = format!("on {name:?}, a name that does not exist");
    let get = outcome(client.get_secret_value().secret_id(name).send().await);
    out.push(iam_finding(
        "GetSecretValue",
        get,
        &format!("GetSecretValue {on}"),
        config,
        region,
    ));
    let batch = outcome(
        client
            .batch_get_secret_value()
            .secret_id_list(name)
            .send()
            .await,
    );
    out.push(iam_finding(
        "BatchGetSecretValue",
        batch,
        &format!("BatchGetSecretValue {on}"),
        config,
        region,
    ));
    let describe = outcome(client.describe_secret().secret_id(name).send().await);
    out.push(iam_finding(
        "DescribeSecret",
        describe,
        &format!("DescribeSecret {on}"),
        config,
        region,
    ));
    let put = outcome(
        client
            .put_secret_value()
            .secret_id(name)
            .secret_string(PROBE_VALUE)
            .send()
            .await,
    );
    out.push(iam_finding(
        "PutSecretValue",
        put,
        &format!("PutSecretValue {on}"),
        config,
        region,
    ));
    let mut delete = client.delete_secret().secret_id(name);
    delete = if config.recovery_window_days == 0 {
        delete.force_delete_without_recovery(true)
    } else {
        delete.recovery_window_in_days(config.recovery_window_days)
    };
    let delete = outcome(delete.send().await);
    out.push(iam_finding(
        "DeleteSecret",
        delete,
        &format!("DeleteSecret {on}"),
        config,
        region,
    ));
    let restore = outcome(client.restore_secret().secret_id(name).send().await);
    out.push(iam_finding(
        "RestoreSecret",
        restore,
        &format!("RestoreSecret {on}"),
        config,
        region,
    ));
    let tag = outcome(
        client
            .tag_resource()
            .secret_id(name)
            .tags(
                Tag::builder()
                    .key(format!("{RESERVED_TAG_PREFIX}doctor"))
                    .value("probe")
                    .build(),
            )
            .send()
            .await,
    );
    out.push(iam_finding(
        "TagResource",
        tag,
        &format!("TagResource {on} (CreateSecret with tags needs it)"),
        config,
        region,
    ));
}

/// Whether the configured key and the one a secret reports name the same key (an id, an ARN
/// ending in it, or the same alias).
fn same_key(configured: &str, used: &str) -> bool {
    configured == used
        || used.ends_with(&format!("/{configured}"))
        || configured.ends_with(&format!("/{used}"))
}

/// Decrypts one secret this instance owns (value dropped) and compares its KMS key with
/// `kms_key_id`.
async fn kms_decrypt(
    config: &AwsConfig,
    client: &Client,
    naming: &Naming,
    write_probe: bool,
    out: &mut Vec<Finding>,
) {
    let configured = config.kms_key_id.as_deref();
    let subject = format!(
        "KMS key {}",
        configured.unwrap_or("aws/secretsmanager (the default; kms_key_id is not set)")
    );
    let req = list_under_prefix(client, config, 20);
    let owned = match req.send().await {
        Ok(page) => page.secret_list().iter().find_map(|e| {
            let tags: HashMap<String, String> = e
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            (e.deleted_date().is_none() && naming.is_owned(&tags)).then(|| {
                (
                    e.name().unwrap_or_default().to_string(),
                    e.kms_key_id().map(str::to_string),
                )
            })
        }),
        Err(_) => None, // ListSecrets' own finding says why
    };
    let Some((name, used)) = owned else {
        let detail = "not checked: no secret of this broker exists yet to decrypt";
        out.push(match configured {
            None => Finding::ok(
                "aws.kms",
                subject,
                format!("{detail} (the default key needs no grant)"),
            ),
            Some(_) if write_probe => Finding::ok(
                "aws.kms",
                subject,
                format!("{detail}; the write probe below encrypts and decrypts with it"),
            ),
            Some(_) => Finding::warning(
                "aws.kms",
                subject,
                detail,
                "secrets-broker doctor --write-probe …   (encrypts and decrypts one probe secret)",
            ),
        });
        return;
    };
    match outcome(client.get_secret_value().secret_id(&name).send().await) {
        Outcome::Answered => {
            let used_text = used.as_deref().unwrap_or("aws/secretsmanager (the default)");
            match (configured, used.as_deref()) {
                (Some(c), u) if !same_key(c, u.unwrap_or("aws/secretsmanager")) => {
                    out.push(Finding::warning(
                        "aws.kms",
                        subject,
                        format!(
                            "secret {name:?} decrypts, but it is encrypted with {used_text}, not \
                             kms_key_id: secrets created before kms_key_id changed keep their \
                             key, so the broker's identity needs kms:Decrypt on both"
                        ),
                        format!("keep kms:Decrypt on {used_text} for the broker's identity"),
                    ))
                }
                _ => out.push(Finding::ok(
                    "aws.kms",
                    subject,
                    format!("decrypts secret {name:?} (encrypted with {used_text}); the value was not shown"),
                )),
            }
        }
        Outcome::Undecryptable(why) => out.push(Finding::problem(
            "aws.kms",
            subject,
            format!("secret {name:?} cannot be decrypted: {why}"),
            "enable the KMS key and grant the broker's identity kms:Decrypt on it (in the key policy or an IAM policy)",
        )),
        Outcome::Denied(said) => out.push(Finding::problem(
            "aws.kms",
            subject,
            format!("not checked: GetSecretValue of {name:?} was denied ({said})"),
            "grant secretsmanager:GetSecretValue (see aws.iam.GetSecretValue)",
        )),
        Outcome::NotFound => out.push(Finding::warning(
            "aws.kms",
            subject,
            format!("not checked: secret {name:?} disappeared while being checked"),
            "run doctor again",
        )),
        Outcome::BadCredentials(_, why) | Outcome::Unreachable(why) | Outcome::Other(why) => {
            out.push(Finding::warning(
                "aws.kms",
                subject,
                format!("could not be checked: {why}"),
                "run doctor again",
            ))
        }
    }
}

/// CreateSecret of `name` as the backend creates secrets (KMS key, description, extra tags),
/// GetSecretValue, then DeleteSecret without recovery.
async fn write_probe(config: &AwsConfig, client: &Client, name: &str, out: &mut Vec<Finding>) {
    let subject = format!("write probe: secret {name:?}");
    let mut req = client
        .create_secret()
        .name(name)
        .secret_string(PROBE_VALUE)
        .set_kms_key_id(config.kms_key_id.clone())
        .set_description(config.description.clone())
        .tags(
            Tag::builder()
                .key(format!("{RESERVED_TAG_PREFIX}doctor"))
                .value("probe")
                .build(),
        );
    for (k, v) in &config.tags {
        req = req.tags(Tag::builder().key(k).value(v).build());
    }
    let created = req.send().await;
    let kms = config.kms_key_id.as_deref().unwrap_or("aws/secretsmanager");
    if let Err(e) = created {
        let code = e.code().unwrap_or("unknown").to_string();
        let said = e.message().unwrap_or("no message").to_string();
        let fix = if is_access_denied_code(&code) {
            format!(
                "grant secretsmanager:CreateSecret and secretsmanager:TagResource on \
                 arn:aws:secretsmanager:<region>:<account id>:secret:{}*",
                config.prefix
            )
        } else {
            format!(
                "check kms_key_id ({kms}): the key must exist in this region, be enabled, and \
                 allow the broker's identity kms:GenerateDataKey and kms:Decrypt"
            )
        };
        let detail = match &e {
            SdkError::ServiceError(_) => format!("CreateSecret failed: {code}: {said}"),
            other => format!("CreateSecret failed: {}", DisplayErrorContext(other)),
        };
        out.push(Finding::problem(
            "aws.iam.CreateSecret",
            subject,
            detail,
            fix,
        ));
        return;
    }
    let read = outcome(client.get_secret_value().secret_id(name).send().await);
    let deleted = outcome(
        client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await,
    );
    out.push(match read {
        Outcome::Answered => Finding::ok(
            "aws.iam.CreateSecret",
            subject.clone(),
            format!("created with tags and KMS key {kms}, and read back: CreateSecret, TagResource and the key's encrypt and decrypt permissions work"),
        ),
        Outcome::Other(why)
        | Outcome::Undecryptable(why)
        | Outcome::Denied(why)
        | Outcome::Unreachable(why)
        | Outcome::BadCredentials(_, why) => {
            Finding::problem(
                "aws.kms",
                subject.clone(),
                format!("created, but cannot be read back: {why}"),
                format!("grant the broker's identity kms:Decrypt on {kms} and secretsmanager:GetSecretValue"),
            )
        }
        Outcome::NotFound => Finding::warning(
            "aws.iam.CreateSecret",
            subject.clone(),
            "created, but not found when read back (eventual consistency?)",
            "run doctor again",
        ),
    });
    match deleted {
        Outcome::Answered | Outcome::NotFound => {}
        Outcome::Denied(why)
        | Outcome::Other(why)
        | Outcome::Undecryptable(why)
        | Outcome::Unreachable(why)
        | Outcome::BadCredentials(_, why) => out.push(Finding::problem(
            "aws.write_probe.cleanup",
            subject,
            format!("was created but could not be deleted: {why}"),
            format!(
                "aws secretsmanager delete-secret --secret-id '{name}' --force-delete-without-recovery"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::diagnosis::Status;
    use aws_sdk_secretsmanager::operation::batch_get_secret_value::BatchGetSecretValueOutput;
    use aws_sdk_secretsmanager::operation::delete_secret::DeleteSecretError;
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
    use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
    use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;
    use aws_sdk_secretsmanager::operation::restore_secret::RestoreSecretError;
    use aws_sdk_secretsmanager::operation::tag_resource::TagResourceError;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    fn meta(code: &str, message: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message(message).build()
    }

    fn not_found() -> ErrorMetadata {
        meta(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        )
    }

    /// Real AWS answers a denied action with AccessDeniedException (the emulator has no IAM):
    /// that action is a problem whose fix grants it under the prefix; the actions answered with
    /// ResourceNotFoundException are allowed.
    #[tokio::test]
    async fn a_denied_action_is_named_with_its_grant_and_not_found_proves_the_others() {
        let list = mock!(Client::list_secrets).then_output(|| ListSecretsOutput::builder().build());
        let get = mock!(Client::get_secret_value).then_error(|| {
            GetSecretValueError::generic(meta(
                "AccessDeniedException",
                "User: arn:aws:iam::123456789012:user/grafana is not authorized to perform: \
                 secretsmanager:GetSecretValue because no identity-based policy allows it",
            ))
        });
        let batch = mock!(Client::batch_get_secret_value)
            .then_output(|| BatchGetSecretValueOutput::builder().build());
        let describe =
            mock!(Client::describe_secret).then_error(|| DescribeSecretError::generic(not_found()));
        let put = mock!(Client::put_secret_value)
            .then_error(|| PutSecretValueError::generic(not_found()));
        let delete =
            mock!(Client::delete_secret).then_error(|| DeleteSecretError::generic(not_found()));
        let restore =
            mock!(Client::restore_secret).then_error(|| RestoreSecretError::generic(not_found()));
        let tag = mock!(Client::tag_resource).then_error(|| TagResourceError::generic(not_found()));
        let client = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            &[&list, &get, &batch, &describe, &put, &delete, &restore, &tag]
        );
        let config = AwsConfig::default();
        let mut out = Vec::new();
        assert!(reachable(&config, &client, "https://example", "eu-west-1", &mut out).await);
        permissions(
            &config,
            &client,
            "grafana/secrets-broker-doctor-x",
            "eu-west-1",
            &mut out,
        )
        .await;
        let by_check = |c: &str| {
            out.iter()
                .find(|f| f.check == c)
                .unwrap_or_else(|| panic!("{c} in {out:#?}"))
        };
        let denied = by_check("aws.iam.GetSecretValue");
        assert_eq!(denied.status, Status::Problem);
        assert!(denied.detail.contains("is not authorized"), "{denied:?}");
        let fix = denied.fix.as_deref().unwrap_or_default();
        assert!(
            fix.contains("\"Action\": \"secretsmanager:GetSecretValue\"")
                && fix.contains("arn:aws:secretsmanager:eu-west-1:<account id>:secret:grafana/*"),
            "{fix}"
        );
        // ListSecrets and the six other probes on the name that does not exist are allowed.
        let others: Vec<&Finding> = out
            .iter()
            .filter(|f| f.check.starts_with("aws.iam.") && f.check != "aws.iam.GetSecretValue")
            .collect();
        assert_eq!(others.len(), 7, "{out:#?}");
        assert!(others.iter().all(|f| f.status == Status::Ok), "{out:#?}");
        assert_eq!(put.num_calls(), 1);
    }
}
