//! KMS keys the emulator knows: the default `alias/aws/secretsmanager` plus configured key ids, key
//! ARNs, alias names and alias ARNs. An unknown key fails the way Secrets Manager reports it.

use crate::error::ApiError;
use crate::model::DEFAULT_KMS_ALIAS;

/// The normalized form of a key reference: `key/<id>` or `alias/<name>`, plus the region/account
/// when it was given as an ARN.
fn normalize(id: &str) -> (Option<(&str, &str)>, String) {
    if let Some(rest) = id.strip_prefix("arn:") {
        // arn:partition:kms:region:account:key/ID or alias/NAME
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if parts.len() == 5 && parts[1] == "kms" {
            return (Some((parts[2], parts[3])), parts[4].to_string());
        }
        return (None, id.to_string());
    }
    if id.starts_with("alias/") {
        (None, id.to_string())
    } else {
        (None, format!("key/{id}"))
    }
}

/// Checks `key_id` against the known keys for a caller in `region`/`account`.
pub fn check_key(
    known: &[String],
    region: &str,
    account: &str,
    key_id: &str,
) -> Result<(), ApiError> {
    let (scope, want) = normalize(key_id);
    if let Some((r, a)) = scope {
        if r != region || a != account {
            // keys of another region or account are only known when configured verbatim
            if known.iter().any(|k| k == key_id) {
                return Ok(());
            }
            return Err(unknown(key_id));
        }
    }
    if want == DEFAULT_KMS_ALIAS {
        return Ok(());
    }
    for k in known {
        let (kscope, kn) = normalize(k);
        let scope_ok = match kscope {
            None => true,
            Some((r, a)) => r == region && a == account,
        };
        if scope_ok && kn == want {
            return Ok(());
        }
    }
    Err(unknown(key_id))
}

/// Whether `key_id` names the AWS managed key of Secrets Manager (`alias/aws/secretsmanager`, as
/// an alias or an alias ARN).
pub fn is_default(key_id: &str) -> bool {
    normalize(key_id).1 == DEFAULT_KMS_ALIAS
}

fn unknown(key_id: &str) -> ApiError {
    if key_id.contains("alias/") {
        ApiError::invalid_parameter(format!(
            "Alias {key_id} is not found. (KMS NotFoundException)"
        ))
    } else {
        ApiError::invalid_parameter(format!(
            "Key '{key_id}' does not exist. (KMS NotFoundException)"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn known_forms() {
        let known = vec![
            "1234abcd-12ab-34cd-56ef-1234567890ab".to_string(),
            "alias/mine".to_string(),
        ];
        let ok = |k: &str| check_key(&known, "us-east-1", "123456789012", k).is_ok();
        assert!(ok("alias/aws/secretsmanager"));
        assert!(ok("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(ok(
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        ));
        assert!(ok("arn:aws:kms:us-east-1:123456789012:alias/mine"));
        assert!(!ok("arn:aws:kms:eu-west-1:123456789012:alias/mine"));
        assert!(!ok("alias/other"));
        assert!(!ok("ffff"));
        assert!(is_default("alias/aws/secretsmanager"));
        assert!(is_default(
            "arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager"
        ));
        assert!(!is_default("alias/mine"));
    }
}
