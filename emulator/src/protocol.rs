//! AWS JSON 1.1 input handling: parsing the body, typed member access, and front-end constraint
//! validation with AWS's ValidationException message shapes ("1 validation error detected: ...").

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The JSON object of one request, with the constraint violations found so far.
/// Its Debug output lists member names only (requests carry secret values).
#[derive(Default)]
pub struct Input {
    map: Map<String, Value>,
    /// The first [`LISTED_ERRORS`] violation messages.
    errors: Vec<String>,
    /// How many violations were found (the message counts them all but lists only the first).
    error_count: usize,
    /// A refusal of a member's content found while reading (e.g. a SecretId that is not a valid
    /// name), answered by [`Input::finish`] when no constraint was violated: AWS checks a
    /// request's members before it looks anything up.
    refused: Option<ApiError>,
}

/// How many violations a ValidationException message lists (its count covers every one): a
/// request with thousands of bad members gets a bounded message.
pub const LISTED_ERRORS: usize = 10;

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("members", &self.map.keys().collect::<Vec<_>>())
            .field("errors", &self.error_count)
            .finish()
    }
}

/// The lowerCamelCase member path AWS uses in validation messages (`SecretId` -> `secretId`).
pub fn member_path(key: &str) -> String {
    let mut c = key.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn type_error(key: &str, expected: &str) -> ApiError {
    ApiError::serialization(format!(
        "Member '{key}' has the wrong type: expected {expected}"
    ))
}

impl Input {
    /// Parses a request body. An empty body counts as `{}`; anything but a JSON object is a
    /// SerializationException.
    pub fn parse(body: &[u8]) -> Result<Input, ApiError> {
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Input::default());
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::serialization(format!("The request body is not valid JSON: {e}"))
        })?;
        Input::from_value(v)
    }

    /// Wraps an already parsed value; it must be a JSON object.
    pub fn from_value(v: Value) -> Result<Input, ApiError> {
        match v {
            Value::Object(map) => Ok(Input {
                map,
                ..Input::default()
            }),
            Value::Null => Ok(Input::default()),
            _ => Err(ApiError::serialization(
                "The request body must be a JSON object.",
            )),
        }
    }

    /// The raw member, if present and not null.
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Counts one violation and keeps its message if fewer than [`LISTED_ERRORS`] are kept.
    fn record(&mut self, message: impl FnOnce() -> String) {
        self.error_count += 1;
        if self.errors.len() < LISTED_ERRORS {
            self.errors.push(message());
        }
    }

    /// Records a constraint violation on `path`; `shown` is the offending value (None for sensitive members).
    pub fn violation(&mut self, path: &str, shown: Option<&str>, constraint: &str) {
        self.record(|| {
            let value = match shown {
                Some(s) => format!("Value '{s}' at"),
                None => "Value at".to_string(),
            };
            format!("{value} '{path}' failed to satisfy constraint: {constraint}")
        });
    }

    /// Records "Member must not be null" for a missing required member.
    pub fn missing(&mut self, key: &str) {
        self.record(|| {
            format!(
                "Value null at '{}' failed to satisfy constraint: Member must not be null",
                member_path(key)
            )
        });
    }

    /// Checks a string's length (in characters) against `min..=max`, recording violations.
    pub fn check_len(&mut self, path: &str, s: &str, min: usize, max: usize, sensitive: bool) {
        let n = s.chars().count();
        let shown = if sensitive { None } else { Some(s) };
        if n > max {
            self.violation(
                path,
                shown,
                &format!("Member must have length less than or equal to {max}"),
            );
        } else if n < min {
            self.violation(
                path,
                shown,
                &format!("Member must have length greater than or equal to {min}"),
            );
        }
    }

    fn string_impl(
        &mut self,
        key: &str,
        min: usize,
        max: usize,
        sensitive: bool,
    ) -> Result<Option<String>, ApiError> {
        let s = match self.raw(key) {
            None => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(type_error(key, "a string")),
        };
        self.check_len(&member_path(key), &s, min, max, sensitive);
        Ok(Some(s))
    }

    /// An optional string member with a length constraint.
    pub fn string(
        &mut self,
        key: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<String>, ApiError> {
        self.string_impl(key, min, max, false)
    }

    /// An optional sensitive string member (its value never appears in messages).
    pub fn secret_string(
        &mut self,
        key: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<String>, ApiError> {
        self.string_impl(key, min, max, true)
    }

    /// A required string member with a length constraint (missing => "Member must not be null").
    pub fn required_string(
        &mut self,
        key: &str,
        min: usize,
        max: usize,
    ) -> Result<String, ApiError> {
        match self.string(key, min, max)? {
            Some(s) => Ok(s),
            None => {
                self.missing(key);
                Ok(String::new())
            }
        }
    }

    /// An optional enum member.
    pub fn enum_string(&mut self, key: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        let s = self.string(key, 0, usize::MAX)?;
        if let Some(v) = &s {
            if !allowed.contains(&v.as_str()) {
                self.violation(
                    &member_path(key),
                    Some(v),
                    &format!(
                        "Member must satisfy enum value set: [{}]",
                        allowed.join(", ")
                    ),
                );
            }
        }
        Ok(s)
    }

    /// An optional base64 blob member, decoded, with a length constraint on the raw bytes.
    pub fn blob(&mut self, key: &str, min: usize, max: usize) -> Result<Option<Vec<u8>>, ApiError> {
        let s = match self.raw(key) {
            None => return Ok(None),
            Some(Value::String(s)) => s,
            Some(_) => return Err(type_error(key, "a base64 string")),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(|_| ApiError::serialization(format!("Member '{key}' is not valid base64.")))?;
        let path = member_path(key);
        if bytes.len() > max {
            self.violation(
                &path,
                None,
                &format!("Member must have length less than or equal to {max}"),
            );
        } else if bytes.len() < min {
            self.violation(
                &path,
                None,
                &format!("Member must have length greater than or equal to {min}"),
            );
        }
        Ok(Some(bytes))
    }

    /// An optional boolean member.
    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(type_error(key, "a boolean")),
        }
    }

    /// An optional integer member, checked against `min..=max` (None for no bound).
    pub fn int(
        &mut self,
        key: &str,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<Option<i64>, ApiError> {
        let n = match self.raw(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| type_error(key, "an integer"))?,
            Some(_) => return Err(type_error(key, "an integer")),
        };
        let path = member_path(key);
        let shown = n.to_string();
        if let Some(max) = max.filter(|m| n > *m) {
            self.violation(
                &path,
                Some(&shown),
                &format!("Member must have value less than or equal to {max}"),
            );
        } else if let Some(min) = min.filter(|m| n < *m) {
            self.violation(
                &path,
                Some(&shown),
                &format!("Member must have value greater than or equal to {min}"),
            );
        }
        Ok(Some(n))
    }

    /// An optional list member (elements unchecked), with a length constraint on the list.
    pub fn list(
        &mut self,
        key: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<Vec<Value>>, ApiError> {
        let len = match self.raw(key) {
            None => return Ok(None),
            Some(Value::Array(a)) => a.len(),
            Some(_) => return Err(type_error(key, "a list")),
        };
        let path = member_path(key);
        if len > max {
            // its members are neither copied nor checked: the request fails on its length
            self.violation(
                &path,
                None,
                &format!("Member must have length less than or equal to {max}"),
            );
            return Ok(Some(Vec::new()));
        }
        let items = match self.raw(key) {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        if items.len() < min {
            self.violation(
                &path,
                None,
                &format!("Member must have length greater than or equal to {min}"),
            );
        }
        Ok(Some(items))
    }

    /// An optional list of strings, each checked against `min..=max` characters.
    pub fn string_list(
        &mut self,
        key: &str,
        list_min: usize,
        list_max: usize,
        min: usize,
        max: usize,
    ) -> Result<Option<Vec<String>>, ApiError> {
        let Some(items) = self.list(key, list_min, list_max)? else {
            return Ok(None);
        };
        let path = member_path(key);
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            let Value::String(s) = v else {
                return Err(type_error(key, "a list of strings"));
            };
            self.check_len(&format!("{path}.{}.member", i + 1), s, min, max, false);
            out.push(s.clone());
        }
        Ok(Some(out))
    }

    /// Records a refusal that [`Input::finish`] answers if no constraint was violated (the first
    /// one recorded wins).
    pub fn refuse(&mut self, e: ApiError) {
        self.refused.get_or_insert(e);
    }

    /// Ends validation: a ValidationException listing every violation, AWS style; else the first
    /// refusal recorded with [`Input::refuse`].
    pub fn finish(&mut self) -> Result<(), ApiError> {
        if self.error_count == 0 {
            return self.refused.take().map_or(Ok(()), Err);
        }
        let n = self.error_count;
        let plural = if n == 1 { "error" } else { "errors" };
        Err(ApiError::validation(format!(
            "{n} validation {plural} detected: {}",
            self.errors.join("; ")
        )))
    }
}

/// Tags as given in a request: a list of `{Key, Value}` objects, validated per the model.
pub fn parse_tags(input: &mut Input, key: &str) -> Result<Option<Vec<(String, String)>>, ApiError> {
    if input
        .raw(key)
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > crate::model::MAX_TAGS)
    {
        return Err(ApiError::too_many_tags());
    }
    let Some(items) = input.list(key, 0, usize::MAX)? else {
        return Ok(None);
    };
    let path = member_path(key);
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(type_error(key, "a list of {Key, Value} objects"));
        };
        let k = match m.get("Key") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => {
                input.record(|| format!(
                    "Value null at '{path}.{}.member.key' failed to satisfy constraint: Member must not be null",
                    i + 1
                ));
                continue;
            }
            Some(_) => return Err(type_error("Key", "a string")),
        };
        let v = match m.get("Value") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(_) => return Err(type_error("Value", "a string")),
        };
        input.check_len(&format!("{path}.{}.member.key", i + 1), &k, 1, 128, false);
        input.check_len(&format!("{path}.{}.member.value", i + 1), &v, 0, 256, false);
        out.push((k, v));
    }
    Ok(Some(out))
}

/// Base64 text of a binary secret value, as JSON carries blobs.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_values() {
        let i = Input::parse(br#"{"SecretString":"hunter2","Name":"n"}"#).unwrap();
        let d = format!("{i:?}");
        assert!(d.contains("SecretString") && !d.contains("hunter2"), "{d}");
    }

    #[test]
    fn validation_message_shape() {
        let mut i = Input::parse(br#"{"Name":""}"#).unwrap();
        i.required_string("Name", 1, 512).unwrap();
        i.missing("SecretId");
        let e = i.finish().unwrap_err();
        assert_eq!(
            e.message,
            "2 validation errors detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1; Value null at 'secretId' failed to satisfy constraint: Member must not be null"
        );
    }
}
