//! Rotation: RotateSecret and CancelRotateSecret, the rotation run (mapped HTTP rotation function, the
//! built-in function, or the moto-compatible promotion when no function is configured) and scheduled
//! rotations on the emulator's clock (a ticker plus [`run_due`]).
//!
//! How a rotation runs, by the function configured for the secret:
//! - a Lambda ARN mapped to a local HTTP endpoint ([`hook::RotationSettings::set_hook`], `--rotation-hook`,
//!   `POST /_emulator/rotation/hooks`): the AWSPENDING version (no value, VersionId = the token) is created,
//!   then the endpoint receives `createSecret`, `setSecret`, `testSecret`, `finishSecret` in order, and the
//!   user's code calls back into the emulator's API itself; a failed step stops the rotation and leaves
//!   AWSPENDING behind, as in AWS (RotateSecret itself still succeeds: in AWS it answers before the Lambda runs).
//! - the built-in function (`arn:aws:lambda:<region>:<account>:function:emulator-builtin-rotation`): the
//!   same four steps run inside the emulator; createSecret puts a new random password (in the `password`
//!   field when the value is a JSON object with one, else as the whole value).
//! - no Lambda ARN (or an ARN that is neither mapped nor built-in): AWS's errors by default
//!   (InvalidRequestException "No Lambda rotation function ARN is associated with this secret." /
//!   AccessDeniedException "Secrets Manager cannot invoke the specified Lambda function. ..."); with
//!   moto-compatible rotation (`--moto-rotation`) the current value is copied into a new version that
//!   becomes AWSCURRENT.
//!
//! After a successful finishSecret the emulator removes AWSPENDING and sets LastRotatedDate and
//! NextRotationDate. With `RotateImmediately=false` only `testSecret` runs (against a temporary AWSPENDING
//! version that is removed afterwards) and the next rotation follows the schedule.

pub mod builtin;
pub mod hook;
pub mod schedule;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::clock::Clock as _;
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::model::{self, Secret, AWSCURRENT, AWSPENDING};
use crate::ops::background::periodic;
use crate::ops::value::put_version;
use crate::ops::{reply, rotation_token_required, writable, ArnName, OpFuture};
use crate::protocol::shapes::{CancelRotateSecretRequest, RotateSecretRequest};
use crate::protocol::{Input, Request as _};
use crate::state::{RegionWrite, SecretMut};
use crate::Shared;

pub use hook::{RotationSettings, BUILTIN_FUNCTION_NAME};
use schedule::Rules;

/// AWS's AccessDeniedException message for a rotation function it cannot invoke.
const LAMBDA_DENIED: &str = "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.";

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

fn to_dt(t: f64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt((t * 1000.0) as i64)
        .single()
        .unwrap_or_default()
}

fn from_dt(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The function that performs a rotation.
#[derive(Debug, Clone)]
enum Function {
    Builtin,
    Hook(String),
}

/// What RotateSecret decided under the write lock.
enum Plan {
    /// Nothing to run (idempotent retry, moto-style promotion, or configuration only).
    Done(RotationResponse),
    /// Run `steps` of `function` for version `token` of secret `name`.
    Run {
        name: String,
        arn: String,
        token: String,
        function: Function,
        test_only: bool,
        out: RotationResponse,
    },
}

/// RotateSecret (asynchronous: it may call a rotation endpoint that calls back into the emulator).
pub fn rotate_secret(ctx: Arc<Ctx>, inp: Input) -> OpFuture {
    Box::pin(async move { reply(&rotate(ctx, &inp).await?) })
}

async fn rotate(ctx: Arc<Ctx>, inp: &Input) -> Result<RotationResponse, ApiError> {
    let req = RotateSecretRequest::read(inp)?;
    let id = req.secret_id.to_string();
    let token = req.client_request_token.map(str::to_string);
    let lambda = req.rotation_lambda_arn.map(str::to_string);
    let rules_raw = req.rotation_rules.cloned();
    let ext_meta = req.external_secret_rotation_metadata.map(<[Value]>::to_vec);
    let ext_role = req.external_secret_rotation_role_arn.map(str::to_string);
    let immediately = req.rotate_immediately.unwrap_or(true);
    // SDKs always send a token; a raw request without one is refused before the secret is looked up
    let Some(token) = token else {
        return Err(rotation_token_required());
    };
    let rules = match rules_raw {
        None => None,
        Some(v @ Value::Object(_)) => Some(Rules::parse(&v).map_err(ApiError::invalid_parameter)?),
        Some(_) => {
            return Err(ApiError::serialization(
                "Member 'RotationRules' has the wrong type: expected an object",
            ))
        }
    };
    let req = Request {
        token,
        lambda: lambda.filter(|l| !l.is_empty()),
        rules,
        ext_meta: ext_meta.map(Value::Array),
        ext_role,
        immediately,
    };
    let plan = ctx.write(|region| prepare(&ctx, region, &id, req))?;
    execute(&ctx, plan).await
}

/// The members of one RotateSecret call (or of a scheduled rotation).
struct Request {
    token: String,
    lambda: Option<String>,
    rules: Option<Rules>,
    ext_meta: Option<Value>,
    ext_role: Option<String>,
    immediately: bool,
}

fn prepare(
    ctx: &Ctx,
    region: &mut RegionWrite<'_>,
    id: &str,
    req: Request,
) -> Result<Plan, ApiError> {
    let mut s = writable(ctx, region, id)?;
    let name = s.name.clone();
    crate::ops::replication::cross_account::refuse_value_write(&s)?;
    let mut out = RotationResponse {
        secret: ArnName::of(&s),
        version_id: Some(req.token.clone()),
    };
    if s.version(&req.token).is_some() {
        // Same ClientRequestToken again: the rotation it started is the answer.
        return Ok(Plan::Done(out));
    }
    let settings = &ctx.shared.config.rotation;
    let lambda = req.lambda.clone().or_else(|| s.rotation.lambda_arn.clone());
    let function = match &lambda {
        Some(arn) if hook::is_builtin(arn) => Some(Function::Builtin),
        Some(arn) => settings.hook(arn).map(Function::Hook),
        None => None,
    };
    if !settings.moto() {
        match (&lambda, &function) {
            (None, _) => {
                return Err(ApiError::invalid_request(
                    "No Lambda rotation function ARN is associated with this secret.",
                ))
            }
            (Some(arn), None) => {
                tracing::warn!(
                    secret = %s.name,
                    function = %arn,
                    "RotateSecret: no local endpoint is mapped to this rotation function; map one with --rotation-hook or POST /_emulator/rotation/hooks, use the built-in function, or start the emulator with --moto-rotation"
                );
                return Err(ApiError::access_denied(LAMBDA_DENIED));
            }
            _ => {}
        }
    }
    if let Some(p) = s.holder(AWSPENDING) {
        if s.holder(AWSCURRENT) != Some(p) {
            return Err(ApiError::invalid_request(
                "Previous rotation request is still in progress.",
            ));
        }
    }
    // Store the configuration.
    if let Some(l) = &req.lambda {
        s.rotation.lambda_arn = Some(l.clone());
    }
    if let Some(r) = &req.rules {
        s.rotation.rules = Some(r.to_json());
    }
    if let Some(m) = req.ext_meta {
        s.rotation.external_metadata = Some(m);
    }
    if let Some(r) = req.ext_role {
        s.rotation.external_role_arn = Some(r);
    }
    if lambda.is_some() || s.rotation.rules.is_some() {
        s.rotation.enabled = Some(true);
    }
    s.last_changed = ctx.now;
    let current_rules = stored_rules(&s);
    if !req.immediately {
        s.rotation.next_rotation = current_rules
            .as_ref()
            .map(|r| from_dt(r.next_after(to_dt(s.rotation.last_rotated.unwrap_or(ctx.now)))));
        settings.note_scheduled();
    }
    let Some(function) = function else {
        if req.immediately {
            promote_copy(ctx, &mut s, &req.token)?;
        } else {
            out.version_id = None;
        }
        return Ok(Plan::Done(out));
    };
    // The AWSPENDING version without a value; its VersionId is the token.
    let kms = s.kms_key_id.clone();
    let i = s.add_version(
        ctx.store().new_record_number(),
        req.token.clone(),
        ctx.now,
        None,
        kms,
    );
    s.attach_label(AWSPENDING, i)
        .map_err(|_| ApiError::internal("label limit on a new version"))?;
    Ok(Plan::Run {
        name,
        arn: s.arn.clone(),
        token: req.token,
        function,
        test_only: !req.immediately,
        out,
    })
}

fn stored_rules(s: &Secret) -> Option<Rules> {
    s.rotation.rules.as_ref().and_then(|r| Rules::parse(r).ok())
}

/// Marks a finished rotation: LastRotatedDate, NextRotationDate from the schedule.
fn mark_rotated(ctx: &Ctx, s: &mut Secret) {
    s.rotation.last_rotated = Some(ctx.now);
    s.rotation.next_rotation = stored_rules(s).map(|r| from_dt(r.next_after(to_dt(ctx.now))));
    if s.rotation.next_rotation.is_some() {
        ctx.shared.config.rotation.note_scheduled();
    }
    s.last_changed = ctx.now;
}

/// moto-compatible rotation without a function: the current value is copied into version `token`, which
/// becomes AWSCURRENT (the old one AWSPREVIOUS).
fn promote_copy(ctx: &Ctx, s: &mut SecretMut<'_>, token: &str) -> Result<(), ApiError> {
    let current = match s.holder(AWSCURRENT) {
        Some(i) if s.versions[i].has_value() => ctx.value(s.versions[i].rec)?,
        _ => None,
    };
    match current {
        Some(data) => {
            put_version(ctx, s, token, &data, None)?;
        }
        None => {
            let kms = s.kms_key_id.clone();
            let i = s.add_version(
                ctx.store().new_record_number(),
                token.to_string(),
                ctx.now,
                None,
                kms,
            );
            s.attach_label(AWSCURRENT, i)
                .map_err(|_| ApiError::internal("label limit on a new version"))?;
        }
    }
    mark_rotated(ctx, s);
    Ok(())
}

async fn execute(ctx: &Ctx, plan: Plan) -> Result<RotationResponse, ApiError> {
    let (name, arn, token, function, test_only, out) = match plan {
        Plan::Done(v) => return Ok(v),
        Plan::Run {
            name,
            arn,
            token,
            function,
            test_only,
            out,
        } => (name, arn, token, function, test_only, out),
    };
    let steps: &[&str] = if test_only { &STEPS[2..3] } else { &STEPS };
    let rotation_token = model::new_version_id();
    for step in steps {
        let result = match &function {
            Function::Hook(url) => hook::invoke(url, step, &arn, &token, &rotation_token).await,
            Function::Builtin => builtin::step(ctx, &name, &token, step),
        };
        if let Err(why) = result {
            if test_only {
                // The test version is removed whatever the outcome, as AWS does.
                tracing::warn!(secret = %name, step, error = %why, "rotation test step failed");
                break;
            }
            tracing::warn!(secret = %name, step, error = %why, "rotation step failed; AWSPENDING is left on the new version");
            return Ok(out);
        }
    }
    ctx.write(|region| {
        let Some(mut s) = region.secret_mut(&name) else { return Ok(()) };
        let Some(i) = s.version_index(&token) else { return Ok(()) };
        if test_only {
            // The test version is temporary: drop its label (and the version, if it stayed empty).
            s.detach_label(AWSPENDING, i);
            if s.versions[i].stages.is_empty() && !s.versions[i].has_value() {
                s.versions.remove(i);
            }
        } else if s.versions[i].has(AWSCURRENT) {
            s.detach_label(AWSPENDING, i);
            mark_rotated(ctx, &mut s);
        } else {
            tracing::warn!(secret = %name, "finishSecret did not move AWSCURRENT to the new version; rotation incomplete");
            return Ok(());
        }
        Ok(())
    })?;
    Ok(out)
}

/// CancelRotateSecret: turns automatic rotation off (keeps the Lambda ARN and the labels).
pub fn cancel_rotate_secret(
    ctx: &Ctx,
    req: CancelRotateSecretRequest<'_>,
) -> Result<RotationResponse, ApiError> {
    ctx.write(|region| {
        let mut s = writable(ctx, region, req.secret_id)?;
        if s.rotation.lambda_arn.is_none() && s.rotation.enabled.is_none() {
            return Err(ApiError::invalid_request(
                "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN configured and you didn't include such an ARN as a parameter in this call.",
            ));
        }
        s.rotation.enabled = Some(false);
        s.rotation.next_rotation = None;
        s.last_changed = ctx.now;
        Ok(RotationResponse {
            secret: ArnName::of(&s),
            version_id: s.holder(AWSPENDING).map(|p| s.versions[p].id.clone()),
        })
    })
}

/// RotateSecret's and CancelRotateSecret's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationResponse {
    #[serde(flatten)]
    secret: ArnName,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
}

/// Runs every scheduled rotation that is due on the emulator's clock (all accounts and regions); returns
/// how many were started. Called by the ticker, by `POST /_emulator/rotation/run-due`, and by tests.
pub async fn run_due(shared: &Arc<Shared>) -> usize {
    let now = shared.clock.now();
    let due: Vec<(String, String, String)> = {
        let g = shared
            .state
            .accounts
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let scheduled = g
            .values()
            .flat_map(|a| a.values())
            .flat_map(|r| r.values())
            .any(|s| {
                s.rotation.enabled == Some(true)
                    && s.rotation.next_rotation.is_some()
                    && s.deleted.is_none()
            });
        // Under the read lock, so a schedule set by a concurrent write is never lost.
        shared.config.rotation.set_idle(!scheduled);
        g.iter()
            .flat_map(|(acct, regions)| {
                regions.iter().flat_map(move |(region, secrets)| {
                    secrets.values().filter_map(move |s| {
                        let due = s.rotation.enabled == Some(true)
                            && s.rotation.next_rotation.is_some_and(|t| t <= now)
                            && s.deleted.is_none()
                            && !s.is_replica_in(region);
                        due.then(|| (acct.clone(), region.clone(), s.name.clone()))
                    })
                })
            })
            .collect()
    };
    let mut started = 0;
    for (account, region, name) in due {
        let ctx = Ctx::new(shared.clone(), account, region);
        let req = Request {
            token: model::new_version_id(),
            lambda: None,
            rules: None,
            ext_meta: None,
            ext_role: None,
            immediately: true,
        };
        let plan = ctx.write(|region| prepare(&ctx, region, &name, req));
        let result = match plan {
            Ok(plan) => execute(&ctx, plan).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => started += 1,
            Err(e) => {
                tracing::warn!(secret = %name, error = %e, "scheduled rotation could not start; retrying at the next scheduled date");
                let _ = ctx.write(|region| {
                    if let Some(mut s) = region.secret_mut(&name) {
                        s.rotation.next_rotation =
                            stored_rules(&s).map(|r| from_dt(r.next_after(to_dt(ctx.now))));
                    }
                    Ok(())
                });
            }
        }
    }
    started
}

/// Background task: runs due rotations every `every` until `stop` turns true or the emulator is
/// gone (see [`periodic`]).
pub async fn ticker(
    shared: std::sync::Weak<Shared>,
    stop: tokio::sync::watch::Receiver<bool>,
    every: std::time::Duration,
) {
    periodic(shared, stop, every, |shared| async move {
        if !shared.config.rotation.idle() {
            run_due(&shared).await;
        }
    })
    .await;
}
