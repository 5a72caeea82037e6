//! The built-in rotation function (`arn:aws:lambda:<region>:<account>:function:emulator-builtin-rotation`):
//! the four rotation steps run inside the emulator; createSecret puts a new random password into the
//! AWSPENDING version (the `password` field of a JSON object value, else the whole value), finishSecret
//! moves AWSCURRENT onto it.

use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::model::{SecretData, AWSCURRENT, AWSPENDING};
use crate::ops::value::put_version;
use crate::password::{self, PasswordOptions};

/// Characters the built-in function leaves out of passwords (as AWS's rotation templates do).
pub const BUILTIN_EXCLUDED: &str = "/@\"'\\";

/// One step of the built-in rotation function, run against the emulator's own state.
pub fn step(ctx: &Ctx, name: &str, token: &str, step: &str) -> Result<(), String> {
    let res = ctx.write(|region| {
        let mut s = region
            .secret_mut(name)
            .ok_or_else(ApiError::secret_not_found)?;
        match step {
            "createSecret" => {
                if s.version(token).is_some_and(|v| v.has_value()) {
                    return Ok(());
                }
                let current = match s.holder(AWSCURRENT) {
                    Some(i) if s.versions[i].has_value() => ctx.value(s.versions[i].rec)?,
                    _ => None,
                };
                let opts = PasswordOptions {
                    exclude_characters: BUILTIN_EXCLUDED.into(),
                    ..Default::default()
                };
                let pw =
                    password::generate(&opts).map_err(|e| ApiError::internal(e.to_string()))?;
                let data = SecretData::String(new_value(current.as_ref(), pw));
                put_version(ctx, &mut s, token, &data, Some(&[AWSPENDING.to_string()]))?;
                Ok(())
            }
            "setSecret" => Ok(()),
            "testSecret" => Ok(()),
            "finishSecret" => {
                let i = s
                    .version_index(token)
                    .ok_or_else(|| ApiError::internal("the pending version vanished"))?;
                if !s.versions[i].has_value() {
                    return Err(ApiError::internal("the pending version has no value"));
                }
                s.attach_label(AWSCURRENT, i)
                    .map_err(|_| ApiError::internal("label limit"))?;
                Ok(())
            }
            other => Err(ApiError::internal(format!("unknown rotation step {other}"))),
        }
    });
    res.map_err(|e| e.to_string())
}

/// The rotated value: the JSON object with its `password` replaced, or the bare password.
fn new_value(current: Option<&SecretData>, password: String) -> String {
    if let Some(SecretData::String(text)) = current {
        if let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) {
            if map.get("password").is_some_and(Value::is_string) {
                map.insert("password".into(), Value::String(password));
                return Value::Object(map).to_string();
            }
        }
    }
    password
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_value_replaces_only_the_password_field() {
        let json_value =
            SecretData::String(r#"{"username":"u","password":"old","port":5432}"#.into());
        let v: Value =
            serde_json::from_str(&new_value(Some(&json_value), "NEW".into())).expect("json");
        assert_eq!(v, json!({"username":"u","password":"NEW","port":5432}));
        let plain = SecretData::String("just-a-token".into());
        assert_eq!(new_value(Some(&plain), "NEW".into()), "NEW");
        let no_pw_field = SecretData::String(r#"{"user":"u"}"#.into());
        assert_eq!(new_value(Some(&no_pw_field), "NEW".into()), "NEW");
        assert_eq!(new_value(None, "NEW".into()), "NEW");
    }
}
