//! Writes: set (create or put, races, recovery window), delete, rename, and the ownership check.

use std::time::Duration;

use aws_sdk_secretsmanager::types::Tag;

use super::config::DeletedNamePolicy;
use super::errors::{classify, Failure, Op};
use super::naming::{OWNER_VALUE, TAG_INSTANCE, TAG_OWNER, TAG_RENAMED_FROM};
use super::AwsStore;
use crate::backends::{Error, Result};
use crate::domain::{Rename, SecretKey, SecretValue};

/// What DescribeSecret found at a name we own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// No secret of that name.
    Absent,
    /// Ours and live.
    Live,
    /// Ours and scheduled for deletion.
    Deleted,
}

/// One write of a secret: the AWS name, the key stored under it, the value, and for a rename the
/// name it is renamed from (recorded in a tag).
#[derive(Debug, Clone, Copy)]
pub(super) struct SecretWrite<'a> {
    pub name: &'a str,
    pub key: &'a SecretKey,
    pub value: &'a SecretValue,
    pub renamed_from: Option<&'a str>,
}

/// How often set retries when other writers keep changing the same name under it.
const RACE_ROUNDS: usize = 4;

/// AWS rejects an empty SecretString (and an empty SecretBinary), but Grafana may store an empty
/// value. The empty value is stored as the one-byte SecretBinary [`EMPTY_MARKER`]; every other
/// value is a plain SecretString, readable by any other AWS client.
pub(super) const EMPTY_MARKER: &[u8] = &[0];

fn stored_string(value: &SecretValue) -> Option<String> {
    (!value.is_empty()).then(|| value.expose().to_string())
}

fn stored_binary(value: &SecretValue) -> Option<aws_smithy_types::Blob> {
    value
        .is_empty()
        .then(|| aws_smithy_types::Blob::new(EMPTY_MARKER.to_vec()))
}

fn token() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl AwsStore {
    /// DescribeSecret: whether `name` exists and is ours. A secret without our owner tag and
    /// instance prefix is [`Error::NotOwned`].
    pub(super) async fn verify(&self, name: &str) -> Result<State> {
        let out = match self.client.describe_secret().secret_id(name).send().await {
            Ok(out) => out,
            Err(e) => {
                return match classify(Op::Describe, self.ctx(name), e) {
                    Failure::NotFound => Ok(State::Absent),
                    f => Err(f.into_error(Op::Describe, name)),
                }
            }
        };
        let tags = out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        if !self.naming.is_owned(&tags) {
            self.forget(name);
            return Err(Error::NotOwned(format!(
                "AWS secret {name:?} exists but was not created by this broker instance (it lacks \
                 the tags {TAG_OWNER}={OWNER_VALUE} and {TAG_INSTANCE}={:?}); refusing to change \
                 or delete it. Remove or rename that secret, or choose another \
                 secret_name_prefix",
                self.naming.prefix()
            )));
        }
        if out.deleted_date().is_some() {
            return Ok(State::Deleted);
        }
        self.remember(name);
        Ok(State::Live)
    }

    async fn put(&self, name: &str, value: &SecretValue) -> Result<(), Failure> {
        self.client
            .put_secret_value()
            .secret_id(name)
            .set_secret_string(stored_string(value))
            .set_secret_binary(stored_binary(value))
            .client_request_token(token())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(Op::Put, self.ctx(name), e))
    }

    async fn create(&self, w: SecretWrite<'_>) -> Result<(), Failure> {
        let mut tags: Vec<(String, String)> = self.naming.tags(w.key);
        tags.extend(self.config.tags.iter().cloned());
        if let Some(src) = w.renamed_from {
            tags.push((TAG_RENAMED_FROM.to_string(), src.to_string()));
        }
        let mut req = self
            .client
            .create_secret()
            .name(w.name)
            .set_secret_string(stored_string(w.value))
            .set_secret_binary(stored_binary(w.value))
            .client_request_token(token())
            .set_kms_key_id(self.config.kms_key_id.clone())
            .set_description(self.config.description.clone());
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(k).value(v).build());
        }
        req.send()
            .await
            .map(|_| self.remember(w.name))
            .map_err(|e| classify(Op::Create, self.ctx(w.name), e))
    }

    /// Stores the write's value at its name (the name of its key): put when the name is known to
    /// be ours, otherwise create, falling back to verify-and-put when it exists.
    pub(super) async fn write(&self, w: SecretWrite<'_>) -> Result<()> {
        let (name, value) = (w.name, w.value);
        if self.is_cached(name) {
            match self.put(name, value).await {
                Ok(()) => return Ok(()),
                Err(Failure::NotFound) => self.forget(name),
                Err(Failure::InvalidRequest(_)) => {
                    self.forget(name);
                    return self.revive(w).await;
                }
                Err(f) => return Err(f.into_error(Op::Put, name)),
            }
        }
        for _ in 0..RACE_ROUNDS {
            match self.create(w).await {
                Ok(()) => return Ok(()),
                // Exists: another writer, an earlier process, or a foreign secret.
                Err(Failure::Exists) => match self.verify(name).await? {
                    State::Live => match self.put(name, value).await {
                        Ok(()) => return Ok(()),
                        Err(Failure::NotFound) => self.forget(name),
                        Err(Failure::InvalidRequest(_)) => return self.revive(w).await,
                        Err(f) => return Err(f.into_error(Op::Put, name)),
                    },
                    State::Deleted => return self.revive(w).await,
                    State::Absent => {}
                },
                // Scheduled for deletion.
                Err(Failure::InvalidRequest(_)) => return self.revive(w).await,
                Err(f) => return Err(f.into_error(Op::Create, name)),
            }
        }
        Err(Error::Conflict(format!(
            "secret {name:?} kept being created and deleted by other writers; retry the write"
        )))
    }

    /// `name` is (or was, a moment ago) in its recovery window: restore or recreate it.
    async fn revive(&self, w: SecretWrite<'_>) -> Result<()> {
        let (name, value) = (w.name, w.value);
        match self.verify(name).await? {
            State::Absent => self
                .create(w)
                .await
                .map_err(|f| f.into_error(Op::Create, name)),
            State::Live => self
                .put(name, value)
                .await
                .map_err(|f| f.into_error(Op::Put, name)),
            State::Deleted => match self.config.deleted_name_policy {
                DeletedNamePolicy::Restore => {
                    self.client
                        .restore_secret()
                        .secret_id(name)
                        .send()
                        .await
                        .map_err(|e| {
                            classify(Op::Restore, self.ctx(name), e).into_error(Op::Restore, name)
                        })?;
                    self.remember(name);
                    self.put(name, value)
                        .await
                        .map_err(|f| f.into_error(Op::Put, name))
                }
                DeletedNamePolicy::Recreate => {
                    self.force_delete(name).await?;
                    self.create_after_force_delete(w).await
                }
            },
        }
    }

    async fn force_delete(&self, name: &str) -> Result<()> {
        self.forget(name);
        match self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match classify(Op::Delete, self.ctx(name), e) {
                Failure::NotFound => Ok(()),
                f => Err(f.into_error(Op::Delete, name)),
            },
        }
    }

    /// AWS purges a force-deleted secret asynchronously; CreateSecret may be refused for a short
    /// while. Bounded wait: 10 tries with doubling delay from 50 ms (about 50 s in all).
    async fn create_after_force_delete(&self, w: SecretWrite<'_>) -> Result<()> {
        let name = w.name;
        let mut delay = Duration::from_millis(50);
        let mut last = None;
        for _ in 0..10 {
            match self.create(w).await {
                Ok(()) => return Ok(()),
                Err(Failure::InvalidRequest(e)) => last = Some(e),
                Err(Failure::Exists) => {
                    // Someone re-created it meanwhile: an ordinary write now.
                    return Box::pin(self.write(w)).await;
                }
                Err(f) => return Err(f.into_error(Op::Create, name)),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        Err(last
            .unwrap_or_else(|| Error::Conflict(format!("secret {name:?} could not be re-created"))))
    }

    /// Deletes `name` with the configured recovery window, after checking ownership.
    pub(super) async fn delete_named(&self, name: &str) -> Result<()> {
        if !self.is_cached(name) {
            match self.verify(name).await? {
                State::Absent | State::Deleted => return Ok(()),
                State::Live => {}
            }
        }
        self.forget(name);
        let mut req = self.client.delete_secret().secret_id(name);
        req = if self.config.recovery_window_days == 0 {
            req.force_delete_without_recovery(true)
        } else {
            req.recovery_window_in_days(self.config.recovery_window_days)
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => match classify(Op::Delete, self.ctx(name), e) {
                Failure::NotFound => Ok(()),
                // Already scheduled for deletion (for example by a retried call): done.
                Failure::InvalidRequest(err) => match self.verify(name).await {
                    Ok(State::Absent | State::Deleted) => Ok(()),
                    _ => Err(err),
                },
                f => Err(f.into_error(Op::Delete, name)),
            },
        }
    }

    /// Copy-then-delete rename (see the module doc for the crash states).
    pub(super) async fn rename_impl(&self, rename: &Rename) -> Result<()> {
        if rename.is_noop() {
            return Ok(());
        }
        let (key, target) = (rename.source(), rename.target());
        let (src, dst) = (self.naming.name(key), self.naming.name(target));
        let Some(value) = self.get_named(&src).await? else {
            return Ok(());
        };
        if !self.is_cached(&src) && self.verify(&src).await? != State::Live {
            return Ok(());
        }
        self.write(SecretWrite {
            name: &dst,
            key: target,
            value: &value,
            renamed_from: Some(&src),
        })
        .await?;
        self.delete_named(&src).await
    }
}
