//! Reads: get (one GetSecretValue), list (ListSecrets with a name-prefix filter and paging) and
//! get_all (ListSecrets pages, then BatchGetSecretValue in chunks of 20) and get_many
//! (BatchGetSecretValue of known names).

use std::collections::HashMap;

use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::errors::{classify, Failure, Op};
use super::write::EMPTY_MARKER;
use super::AwsStore;
use crate::backends::{Error, Result};
use crate::domain::{Item, SecretKey, SecretValue};

/// BatchGetSecretValue's largest id list.
const BATCH: usize = 20;
/// BatchGetSecretValue calls in flight at once in get_all.
const BATCH_CONCURRENCY: usize = 4;

fn value_of(name: &str, s: Option<&str>, binary: Option<&[u8]>) -> Result<SecretValue> {
    match s {
        Some(s) => SecretValue::new(s).map_err(|e| Error::Corrupt(format!("secret {name:?}: {e}"))),
        None if binary == Some(EMPTY_MARKER) => Ok(SecretValue::new("")?),
        None if binary.is_some() => Err(Error::Corrupt(format!(
            "secret {name:?} holds a binary value; this broker stores text only"
        ))),
        None => Err(Error::Corrupt(format!("secret {name:?} has no value"))),
    }
}

impl AwsStore {
    /// GetSecretValue of AWSCURRENT; absent or scheduled for deletion is `None`.
    pub(super) async fn get_named(&self, name: &str) -> Result<Option<SecretValue>> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(out) => value_of(
                name,
                out.secret_string(),
                out.secret_binary().map(|b| b.as_ref()),
            )
            .map(Some),
            Err(e) => match classify(Op::Get, self.ctx(name), e) {
                Failure::NotFound | Failure::InvalidRequest(_) => Ok(None),
                f => Err(f.into_error(Op::Get, name)),
            },
        }
    }

    /// Every live secret whose name starts with `prefix` (the instance prefix when `None`) and
    /// that carries our tags, with its key. Owned names go into the ownership cache.
    pub(super) async fn list_owned(
        &self,
        prefix: Option<&str>,
    ) -> Result<Vec<(String, SecretKey)>> {
        let prefix = prefix.unwrap_or(self.naming.prefix());
        let what = format!("names starting with {prefix:?}");
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .list_secrets()
                .max_results(100)
                .set_next_token(token.take());
            if !prefix.is_empty() {
                req = req.filters(
                    Filter::builder()
                        .key(FilterNameStringType::Name)
                        .values(prefix)
                        .build(),
                );
            }
            let page = req
                .send()
                .await
                .map_err(|e| classify(Op::List, self.ctx(&what), e).into_error(Op::List, &what))?;
            for entry in page.secret_list() {
                let Some(name) = entry.name() else { continue };
                if entry.deleted_date().is_some() {
                    continue;
                }
                let tags: HashMap<String, String> = entry
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect();
                if !self.naming.is_owned(&tags) {
                    continue;
                }
                if let Some(key) = self.naming.key_of(name, &tags) {
                    self.remember(name);
                    out.push((name.to_string(), key));
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn batch_get(&self, names: Vec<String>) -> Result<Vec<(String, SecretValue)>> {
        let what = format!(
            "a batch of {} secrets starting with {:?}",
            names.len(),
            names[0]
        );
        let mut out = Vec::with_capacity(names.len());
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .batch_get_secret_value()
                .set_secret_id_list(Some(names.clone()))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    classify(Op::BatchGet, self.ctx(&what), e).into_error(Op::BatchGet, &what)
                })?;
            for v in page.secret_values() {
                let name = v.name().unwrap_or_default();
                out.push((
                    name.to_string(),
                    value_of(
                        name,
                        v.secret_string(),
                        v.secret_binary().map(|b| b.as_ref()),
                    )?,
                ));
            }
            for e in page.errors() {
                let id = e.secret_id().unwrap_or_default();
                match e.error_code() {
                    // Deleted between ListSecrets and now: not part of the answer.
                    Some("ResourceNotFoundException" | "InvalidRequestException") => {}
                    Some("DecryptionFailure") => {
                        return Err(Error::Crypto(format!(
                            "KMS could not decrypt secret {id:?}: the key that encrypted it must \
                             be enabled and the broker's role needs kms:Decrypt on it"
                        )))
                    }
                    Some("AccessDeniedException") => {
                        return Err(Error::PermissionDenied(format!(
                            "AWS denied secretsmanager:GetSecretValue on secret {id:?}: grant \
                             that IAM action to the broker's identity"
                        )))
                    }
                    code => {
                        return Err(Error::Storage(format!(
                            "BatchGetSecretValue could not read secret {id:?}: {} ({})",
                            code.unwrap_or("unknown error"),
                            e.message().unwrap_or("no message")
                        )))
                    }
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The values of `keys` in order, 20 names per BatchGetSecretValue (absent or scheduled
    /// for deletion: `None`).
    pub(super) async fn get_many_impl(
        &self,
        keys: &[SecretKey],
    ) -> Result<Vec<Option<SecretValue>>> {
        let names: Vec<String> = keys.iter().map(|k| self.naming.name(k)).collect();
        let chunks: Vec<Vec<String>> = names.chunks(BATCH).map(<[String]>::to_vec).collect();
        let mut found: HashMap<String, SecretValue> = stream::iter(chunks)
            .map(|chunk| self.batch_get(chunk))
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(names.iter().map(|n| found.remove(n)).collect())
    }

    /// Every owned secret with its value.
    pub(super) async fn get_all_impl(&self) -> Result<Vec<Item>> {
        let listed = self.list_owned(None).await?;
        let keys: HashMap<String, SecretKey> = listed.into_iter().collect();
        let names: Vec<String> = keys.keys().cloned().collect();
        let chunks: Vec<Vec<String>> = names.chunks(BATCH).map(<[String]>::to_vec).collect();
        let values: Vec<Vec<(String, SecretValue)>> = stream::iter(chunks)
            .map(|chunk| self.batch_get(chunk))
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(values
            .into_iter()
            .flatten()
            .filter_map(|(name, value)| {
                keys.get(&name).map(|key| Item {
                    key: key.clone(),
                    value,
                })
            })
            .collect())
    }
}
