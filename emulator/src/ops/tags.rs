//! TagResource (merge, 50-tag limit, `aws:` reserved) and UntagResource (idempotent).

use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::ops::{check_new_tags, check_tag_count, live, secret_id};
use crate::protocol::{parse_tags, Input};

/// TagResource.
pub fn tag_resource(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let tags = parse_tags(&mut inp, "Tags")?;
    if tags.is_none() {
        inp.missing("Tags");
    }
    inp.finish()?;
    let tags = tags.unwrap_or_default();
    // everything about the request's own tags is checked before taking the write lock
    check_new_tags(&tags)?;
    ctx.write(|region| {
        let name = live(ctx, region, &id)?.name.clone();
        let mut s = region
            .secret_mut(&name)
            .ok_or_else(ApiError::secret_not_found)?;
        check_tag_count(&s.tags, &tags)?;
        s.merge_tags(&tags);
        s.last_changed = ctx.now;
        Ok(json!({}))
    })
}

/// UntagResource.
pub fn untag_resource(ctx: &Ctx, mut inp: Input) -> Result<Value, ApiError> {
    let id = secret_id(&mut inp)?;
    let keys = inp.string_list("TagKeys", 0, usize::MAX, 1, 128)?;
    if keys.is_none() {
        inp.missing("TagKeys");
    }
    inp.finish()?;
    let keys = keys.unwrap_or_default();
    if let Some(k) = keys
        .iter()
        .find(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid tag key {k}: tag keys starting with 'aws:' are reserved for AWS use."
        )));
    }
    ctx.write(|region| {
        let name = live(ctx, region, &id)?.name.clone();
        let mut s = region
            .secret_mut(&name)
            .ok_or_else(ApiError::secret_not_found)?;
        if s.tags.iter().any(|(k, _)| keys.contains(k)) {
            s.tags.retain(|(k, _)| !keys.contains(k));
            s.last_changed = ctx.now;
        }
        Ok(json!({}))
    })
}
