//! DeleteSecret (recovery window or ForceDeleteWithoutRecovery, on the emulator clock) and
//! RestoreSecret. Expired secrets are purged lazily when next touched.

use serde::Serialize;

use crate::ctx::{Ctx, Lookup};
use crate::error::ApiError;
use crate::ops::describe::arn_for_missing;
use crate::ops::{ArnName, Timestamp};
use crate::protocol::shapes::{DeleteSecretRequest, RestoreSecretRequest};

/// DeleteSecret's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecretResponse {
    #[serde(flatten)]
    secret: ArnName,
    deletion_date: Timestamp,
}

const DAY: f64 = 86_400.0;

/// DeleteSecret.
pub fn delete_secret(
    ctx: &Ctx,
    req: DeleteSecretRequest<'_>,
) -> Result<DeleteSecretResponse, ApiError> {
    let id = req.secret_id;
    let window = req.recovery_window_in_days;
    let force = req.force_delete_without_recovery.unwrap_or(false);
    if force && window.is_some() {
        return Err(ApiError::invalid_parameter(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    if let Some(w) = window {
        if !(7..=30).contains(&w) {
            return Err(ApiError::invalid_parameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
            ));
        }
    }
    ctx.write(|region| {
        let name = match ctx.resolve(region, id)? {
            Lookup::Found(n) => n,
            Lookup::Missing if force => {
                return Ok(DeleteSecretResponse {
                    secret: arn_for_missing(ctx, id),
                    deletion_date: Timestamp(ctx.now),
                });
            }
            Lookup::Missing => return Err(ApiError::secret_not_found()),
        };
        let s = region.get(&name).ok_or_else(ApiError::secret_not_found)?;
        let replicas: Vec<String> = s.replication.iter().map(|r| r.region.clone()).collect();
        crate::ops::replication::cross_account::check_deletable(s)?;
        if !replicas.is_empty() && !s.is_replica_in(&ctx.region) {
            return Err(ApiError::invalid_parameter(format!(
                "You can't delete secret {id} that still has replica regions [{}]",
                replicas.join(",")
            )));
        }
        if force || s.is_replica_in(&ctx.region) {
            let out = DeleteSecretResponse {
                secret: ArnName::of(s),
                deletion_date: Timestamp(ctx.now),
            };
            region.remove(&name);
            return Ok(out);
        }
        if s.deleted.is_some() {
            return Err(ApiError::invalid_request(
                "You tried to perform the operation on a secret that's currently marked deleted.",
            ));
        }
        let mut s = region
            .secret_mut(&name)
            .ok_or_else(ApiError::secret_not_found)?;
        let days = window.unwrap_or(30) as f64;
        let purge = ctx.now + days * DAY;
        s.deleted = Some(ctx.now);
        s.purge_at = Some(purge);
        ctx.shared.state.note_purge(purge);
        Ok(DeleteSecretResponse {
            secret: ArnName::of(&s),
            deletion_date: Timestamp(purge),
        })
    })
}

/// RestoreSecret (a secret that is not scheduled for deletion is restored trivially).
pub fn restore_secret(ctx: &Ctx, req: RestoreSecretRequest<'_>) -> Result<ArnName, ApiError> {
    ctx.write(|region| {
        let name = ctx.find(region, req.secret_id)?;
        let mut s = region
            .secret_mut(&name)
            .ok_or_else(ApiError::secret_not_found)?;
        if s.is_replica_in(&ctx.region) {
            return Err(ApiError::replica_read_only());
        }
        if s.deleted.is_some() {
            s.deleted = None;
            s.purge_at = None;
            s.last_changed = ctx.now;
        }
        Ok(ArnName::of(&s))
    })
}
