//! Error paths of the `aws` backend against SDK clients mocked with `aws-smithy-mocks`: each test
//! scripts the service's answers and checks the store's outcome and its error type and text.

use std::time::Duration;

use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::operation::create_secret::{CreateSecretError, CreateSecretOutput};
use aws_sdk_secretsmanager::operation::delete_secret::DeleteSecretOutput;
use aws_sdk_secretsmanager::operation::describe_secret::{
    DescribeSecretError, DescribeSecretOutput,
};
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
use aws_sdk_secretsmanager::operation::restore_secret::RestoreSecretOutput;
use aws_sdk_secretsmanager::types::error::{
    DecryptionFailure, EncryptionFailure, InvalidRequestException, ResourceExistsException,
    ResourceNotFoundException,
};
use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use secrets_broker::backends::aws::naming::Naming;
use secrets_broker::backends::aws::{AwsConfig, AwsStore};
use secrets_broker::backends::{Error, SecretStore};
use secrets_broker::domain::{SecretKey, SecretValue};

fn key() -> SecretKey {
    SecretKey::new(1, "my-db", "datasource").expect("key")
}

fn value(s: &str) -> SecretValue {
    SecretValue::new(s).expect("value")
}

const NAME: &str = "grafana/datasource/my-db/000001";

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, rules, |c| c
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
        ))
}

fn store(rules: &[&Rule]) -> AwsStore {
    AwsStore::with_client(client(rules), AwsConfig::default())
}

fn our_tags() -> Vec<Tag> {
    Naming::new("grafana/")
        .tags(&key())
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn described_ours(deleted: bool) -> DescribeSecretOutput {
    let mut b = DescribeSecretOutput::builder()
        .name(NAME)
        .set_tags(Some(our_tags()));
    if deleted {
        b = b.deleted_date(aws_smithy_types::DateTime::from_secs(1));
    }
    b.build()
}

fn generic(code: &str, msg: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(msg).build()
}

/// GetSecretValue failing with an error code the operation does not declare (built as the SDK
/// builds it from the response).
fn get_fails_with(code: &'static str, msg: &'static str) -> impl Fn() -> GetSecretValueError {
    move || GetSecretValueError::generic(generic(code, msg))
}

#[tokio::test]
async fn throttling_then_success_is_retried_by_the_sdk() {
    let get = mock!(Client::get_secret_value)
        .sequence()
        .error(get_fails_with("ThrottlingException", "Rate exceeded"))
        .times(2)
        .output(|| {
            GetSecretValueOutput::builder()
                .name(NAME)
                .secret_string("s3cret")
                .build()
        })
        .build();
    let s = store(&[&get]);
    let got = s.get(&key()).await.expect("get after retries");
    assert_eq!(got.as_ref().map(SecretValue::expose), Some("s3cret"));
    assert_eq!(get.num_calls(), 3);
}

#[tokio::test]
async fn throttling_beyond_max_attempts_is_transient() {
    let get = mock!(Client::get_secret_value)
        .then_error(get_fails_with("ThrottlingException", "Rate exceeded"));
    let err = store(&[&get]).get(&key()).await.expect_err("throttled");
    assert!(matches!(err, Error::Throttled(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("aws_max_attempts"), "{err}");
    assert_eq!(get.num_calls(), 3);
}

#[tokio::test]
async fn not_found_is_absent_not_an_error() {
    let get = mock!(Client::get_secret_value).then_error(|| {
        GetSecretValueError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Secrets Manager can't find the specified secret.")
                .build(),
        )
    });
    assert_eq!(store(&[&get]).get(&key()).await.expect("get"), None);
    assert_eq!(get.num_calls(), 1);
}

#[tokio::test]
async fn access_denied_names_the_iam_action() {
    let put = mock!(Client::create_secret).then_error(|| {
        CreateSecretError::generic(generic(
            "AccessDeniedException",
            "User: arn:aws:iam::1:user/x is not authorized to perform: secretsmanager:CreateSecret",
        ))
    });
    let err = store(&[&put])
        .set(&key(), &value("hunter2"))
        .await
        .expect_err("denied");
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(text.contains("secretsmanager:CreateSecret"), "{text}");
    assert!(text.contains(NAME), "{text}");
    assert!(!text.contains("hunter2"));
    assert_eq!(put.num_calls(), 1, "access denied is not retried");
}

#[tokio::test]
async fn kms_key_disabled_or_missing_is_a_crypto_error() {
    let create = mock!(Client::create_secret).then_error(|| {
        CreateSecretError::EncryptionFailure(
            EncryptionFailure::builder()
                .message("Access to KMS is not allowed. The key is disabled.")
                .build(),
        )
    });
    let cfg = AwsConfig {
        kms_key_id: Some("alias/grafana".into()),
        ..AwsConfig::default()
    };
    let s = AwsStore::with_client(client(&[&create]), cfg);
    let err = s.set(&key(), &value("v")).await.expect_err("kms");
    assert!(matches!(err, Error::Crypto(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("alias/grafana") && text.contains("enabled"),
        "{text}"
    );
}

#[tokio::test]
async fn decryption_failure_is_a_crypto_error() {
    let get = mock!(Client::get_secret_value).then_error(|| {
        GetSecretValueError::DecryptionFailure(
            DecryptionFailure::builder()
                .message("KMS key not found")
                .build(),
        )
    });
    let err = store(&[&get]).get(&key()).await.expect_err("decrypt");
    assert!(matches!(err, Error::Crypto(_)), "{err:?}");
    assert!(err.to_string().contains("kms:Decrypt"), "{err}");
}

fn scheduled_for_deletion() -> CreateSecretError {
    CreateSecretError::InvalidRequestException(
        InvalidRequestException::builder()
            .message("You can't create this secret because a secret with this name is already scheduled for deletion.")
            .build(),
    )
}

#[tokio::test]
async fn recovery_window_conflict_restores_then_puts() {
    let create = mock!(Client::create_secret).then_error(scheduled_for_deletion);
    let describe = mock!(Client::describe_secret).then_output(|| described_ours(true));
    let restore = mock!(Client::restore_secret)
        .then_output(|| RestoreSecretOutput::builder().name(NAME).build());
    let put = mock!(Client::put_secret_value)
        .match_requests(|r| r.secret_string() == Some("new value"))
        .then_output(|| PutSecretValueOutput::builder().name(NAME).build());
    let s = store(&[&create, &describe, &restore, &put]);
    s.set(&key(), &value("new value")).await.expect("set");
    assert_eq!(
        (
            create.num_calls(),
            describe.num_calls(),
            restore.num_calls(),
            put.num_calls()
        ),
        (1, 1, 1, 1)
    );
    // The name is now known to be ours: the next set is one PutSecretValue.
    s.set(&key(), &value("new value")).await.expect("set");
    assert_eq!((create.num_calls(), put.num_calls()), (1, 2));
}

#[tokio::test]
async fn recovery_window_conflict_with_recreate_policy_force_deletes() {
    let create = mock!(Client::create_secret)
        .sequence()
        .error(scheduled_for_deletion)
        .output(|| CreateSecretOutput::builder().name(NAME).build())
        .build();
    let describe = mock!(Client::describe_secret).then_output(|| described_ours(true));
    let delete = mock!(Client::delete_secret)
        .match_requests(|r| r.force_delete_without_recovery() == Some(true))
        .then_output(|| DeleteSecretOutput::builder().name(NAME).build());
    let cfg = AwsConfig {
        deleted_name_policy: secrets_broker::backends::aws::DeletedNamePolicy::Recreate,
        ..AwsConfig::default()
    };
    let s = AwsStore::with_client(client(&[&create, &describe, &delete]), cfg);
    s.set(&key(), &value("v")).await.expect("set");
    assert_eq!((create.num_calls(), delete.num_calls()), (2, 1));
}

#[tokio::test]
async fn foreign_secret_without_our_tag_is_never_changed() {
    let create = mock!(Client::create_secret).then_error(|| {
        CreateSecretError::ResourceExistsException(
            ResourceExistsException::builder()
                .message("already exists")
                .build(),
        )
    });
    let describe = mock!(Client::describe_secret).then_output(|| {
        DescribeSecretOutput::builder()
            .name(NAME)
            .tags(Tag::builder().key("team").value("payments").build())
            .build()
    });
    let put =
        mock!(Client::put_secret_value).then_output(|| PutSecretValueOutput::builder().build());
    let delete = mock!(Client::delete_secret).then_output(|| DeleteSecretOutput::builder().build());
    let s = store(&[&create, &describe, &put, &delete]);
    let err = s.set(&key(), &value("v")).await.expect_err("foreign");
    assert!(matches!(err, Error::NotOwned(_)), "{err:?}");
    assert!(err.to_string().contains(NAME), "{err}");
    let err = s.delete(&key()).await.expect_err("foreign");
    assert!(matches!(err, Error::NotOwned(_)), "{err:?}");
    assert_eq!((put.num_calls(), delete.num_calls()), (0, 0));
}

#[tokio::test]
async fn two_writers_racing_on_create_both_succeed_last_put_wins() {
    // Writer B loses the CreateSecret race: ResourceExists, then it verifies and puts.
    let create = mock!(Client::create_secret)
        .sequence()
        .output(|| CreateSecretOutput::builder().name(NAME).build())
        .error(|| {
            CreateSecretError::ResourceExistsException(
                ResourceExistsException::builder().message("exists").build(),
            )
        })
        .build();
    let describe = mock!(Client::describe_secret).then_output(|| described_ours(false));
    let put = mock!(Client::put_secret_value)
        .match_requests(|r| r.secret_string() == Some("from B"))
        .then_output(|| PutSecretValueOutput::builder().name(NAME).build());
    let c = client(&[&create, &describe, &put]);
    let a = AwsStore::with_client(c.clone(), AwsConfig::default());
    let b = AwsStore::with_client(c, AwsConfig::default());
    a.set(&key(), &value("from A")).await.expect("A");
    b.set(&key(), &value("from B")).await.expect("B");
    assert_eq!(
        (create.num_calls(), describe.num_calls(), put.num_calls()),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn delete_of_absent_or_already_deleted_succeeds() {
    let describe = mock!(Client::describe_secret)
        .sequence()
        .error(|| {
            DescribeSecretError::ResourceNotFoundException(
                ResourceNotFoundException::builder().build(),
            )
        })
        .output(|| described_ours(true))
        .build();
    let delete = mock!(Client::delete_secret).then_output(|| DeleteSecretOutput::builder().build());
    let s = store(&[&describe, &delete]);
    s.delete(&key()).await.expect("absent");
    s.delete(&key()).await.expect("already scheduled");
    assert_eq!(delete.num_calls(), 0);
}

#[tokio::test]
async fn delete_uses_the_recovery_window() {
    let describe = mock!(Client::describe_secret).then_output(|| described_ours(false));
    let delete = mock!(Client::delete_secret)
        .match_requests(|r| r.recovery_window_in_days() == Some(7) && r.secret_id() == Some(NAME))
        .then_output(|| DeleteSecretOutput::builder().build());
    let s = store(&[&describe, &delete]);
    s.delete(&key()).await.expect("delete");
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn internal_errors_are_retried_then_transient() {
    let get = mock!(Client::get_secret_value)
        .sequence()
        .http_status(500, None)
        .times(3)
        .build();
    let err = store(&[&get]).get(&key()).await.expect_err("5xx");
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(get.num_calls(), 3);
}

#[tokio::test]
async fn bad_credentials_point_at_the_settings() {
    let get = mock!(Client::get_secret_value).then_error(get_fails_with(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    ));
    let err = store(&[&get]).get(&key()).await.expect_err("creds");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("aws_access_key_id"), "{err}");
}
