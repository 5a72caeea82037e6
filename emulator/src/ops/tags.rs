//! TagResource (merge, 50-tag limit, `aws:` reserved) and UntagResource (idempotent).

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::ops::{check_new_tags, check_tag_count, live, owned_tags, Empty};
use crate::protocol::shapes::{TagResourceRequest, UntagResourceRequest};

/// TagResource.
pub fn tag_resource(ctx: &Ctx, req: TagResourceRequest<'_>) -> Result<Empty, ApiError> {
    let id = req.secret_id;
    let tags = owned_tags(Some(req.tags));
    // everything about the request's own tags is checked before taking the write lock
    check_new_tags(&tags)?;
    ctx.write(|region| {
        let name = live(ctx, region, id)?.name.clone();
        let mut s = region
            .secret_mut(&name)
            .ok_or_else(ApiError::secret_not_found)?;
        check_tag_count(&s.tags, &tags)?;
        s.merge_tags(&tags);
        s.last_changed = ctx.now;
        Ok(Empty {})
    })
}

/// UntagResource.
pub fn untag_resource(ctx: &Ctx, req: UntagResourceRequest<'_>) -> Result<Empty, ApiError> {
    let id = req.secret_id;
    let keys: Vec<String> = req.tag_keys.iter().map(|k| k.to_string()).collect();
    if let Some(k) = keys
        .iter()
        .find(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(ApiError::invalid_parameter(format!(
            "Invalid tag key {k}: tag keys starting with 'aws:' are reserved for AWS use."
        )));
    }
    ctx.write(|region| {
        let name = live(ctx, region, id)?.name.clone();
        let mut s = region
            .secret_mut(&name)
            .ok_or_else(ApiError::secret_not_found)?;
        if s.tags.iter().any(|(k, _)| keys.contains(k)) {
            s.tags.retain(|(k, _)| !keys.contains(k));
            s.last_changed = ctx.now;
        }
        Ok(Empty {})
    })
}
