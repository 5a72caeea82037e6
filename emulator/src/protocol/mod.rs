//! AWS JSON 1.1 requests: parsing the body, and reading its members against the service model's
//! constraints with AWS's ValidationException message shapes ("1 validation error detected: ...").
//! The request structs and the constraint constants are generated from the model ([`shapes`]).

pub mod pattern;
pub mod shapes;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The JSON object of one request. Its Debug output lists member names only (requests carry
/// secret values).
#[derive(Default)]
pub struct Input {
    map: Map<String, Value>,
}

/// How many violations a ValidationException message lists (its count covers every one): a
/// request with thousands of bad members gets a bounded message.
pub const LISTED_ERRORS: usize = 10;

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("members", &self.map.keys().collect::<Vec<_>>())
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

/// The SerializationException for a member of the wrong JSON type.
pub fn type_error(key: &str, expected: &str) -> ApiError {
    ApiError::serialization(format!(
        "Member '{key}' has the wrong type: expected {expected}"
    ))
}

/// A string shape's constraints: length in characters, whether its value may be shown in
/// messages, and its pattern.
#[derive(Debug, Clone, Copy)]
pub struct Str {
    /// Fewest characters.
    pub min: usize,
    /// Most characters.
    pub max: usize,
    /// A sensitive value never appears in messages.
    pub sensitive: bool,
    /// A regular expression the whole value must match.
    pub pattern: Option<&'static str>,
    /// Whether reading the member checks the pattern (the other patterns are checked by their
    /// operations, which answer AWS's own wording).
    pub checks_pattern: bool,
}

/// An enum shape's allowed values, in the model's order.
#[derive(Debug, Clone, Copy)]
pub struct Enum {
    /// The allowed values.
    pub values: &'static [&'static str],
}

/// A blob shape's length bounds (in decoded bytes).
#[derive(Debug, Clone, Copy)]
pub struct Blob {
    /// Fewest bytes.
    pub min: usize,
    /// Most bytes.
    pub max: usize,
}

/// An integer shape's range (None for no bound).
#[derive(Debug, Clone, Copy)]
pub struct Int {
    /// Smallest value.
    pub min: Option<i64>,
    /// Largest value.
    pub max: Option<i64>,
}

/// A list shape's size bounds.
#[derive(Debug, Clone, Copy)]
pub struct List {
    /// Fewest items.
    pub min: usize,
    /// Most items.
    pub max: usize,
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
            Value::Object(map) => Ok(Input { map }),
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

    /// A reader of this request's members, collecting violations.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            input: self,
            errors: Vec::new(),
            error_count: 0,
            refused: None,
        }
    }
}

/// A request of one operation, read from its JSON members and checked against the model
/// (implemented by the generated request structs of [`shapes`]).
pub trait Request<'a>: Sized {
    /// Reads and checks the request's members; a ValidationException lists every violation.
    fn read(inp: &'a Input) -> Result<Self, ApiError>;
}

/// Reads one request's members, borrowing their strings, and collects the constraint violations.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a Input,
    /// The first [`LISTED_ERRORS`] violation messages.
    errors: Vec<String>,
    /// How many violations were found (the message counts them all but lists only the first).
    error_count: usize,
    /// A refusal of a member's content found while reading (e.g. a SecretId that is not a valid
    /// name), answered by [`Reader::finish`] when no constraint was violated: AWS checks a
    /// request's members before it looks anything up.
    refused: Option<ApiError>,
}

impl<'a> Reader<'a> {
    /// The raw member, if present and not null.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.input.raw(key)
    }

    /// Counts one violation and keeps its message if fewer than [`LISTED_ERRORS`] are kept.
    pub fn record(&mut self, message: impl FnOnce() -> String) {
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

    /// Records "Member must not be null" at `path`.
    pub fn missing_at(&mut self, path: &str) {
        self.record(|| {
            format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")
        });
    }

    /// A required member: records "Member must not be null" when it is absent.
    pub fn required<T: Default>(&mut self, key: &str, v: Option<T>) -> T {
        v.unwrap_or_else(|| {
            self.missing_at(&member_path(key));
            T::default()
        })
    }

    /// Checks `n` (a length) against `min..=max`, recording a violation on `path`; whether it
    /// was within them.
    fn check_size(
        &mut self,
        path: &str,
        shown: Option<&str>,
        n: usize,
        min: usize,
        max: usize,
    ) -> bool {
        if n > max {
            let c = format!("Member must have length less than or equal to {max}");
            self.violation(path, shown, &c);
        } else if n < min {
            let c = format!("Member must have length greater than or equal to {min}");
            self.violation(path, shown, &c);
        } else {
            return true;
        }
        false
    }

    /// Checks a string at `path` against its shape: its length in characters, then (if the
    /// shape checks it and the length passed) its pattern.
    pub fn check_str(&mut self, path: &str, s: &str, shape: &Str) {
        let shown = if shape.sensitive { None } else { Some(s) };
        if self.check_size(path, shown, s.chars().count(), shape.min, shape.max)
            && shape.checks_pattern
        {
            self.check_pattern(path, s, shape);
        }
    }

    /// Checks a string at `path` against its shape's pattern (if it has one).
    pub fn check_pattern(&mut self, path: &str, s: &str, shape: &Str) {
        if let Some(p) = shape.pattern.filter(|p| !pattern::full_match(p, s)) {
            let shown = if shape.sensitive { None } else { Some(s) };
            let c = format!("Member must satisfy regular expression pattern: {p}");
            self.violation(path, shown, &c);
        }
    }

    /// The member as a string, unchecked (a SerializationException if it is another type).
    fn str_member(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(type_error(key, "a string")),
        }
    }

    /// An optional string member.
    pub fn string(&mut self, key: &str, shape: &Str) -> Result<Option<&'a str>, ApiError> {
        let s = self.str_member(key)?;
        if let Some(s) = s {
            self.check_str(&member_path(key), s, shape);
        }
        Ok(s)
    }

    /// Checks a string at `path` against an enum's values.
    pub fn check_enum(&mut self, path: &str, s: &str, shape: &Enum) {
        if !shape.values.contains(&s) {
            let c = format!(
                "Member must satisfy enum value set: [{}]",
                shape.values.join(", ")
            );
            self.violation(path, Some(s), &c);
        }
    }

    /// An optional enum member.
    pub fn enum_string(&mut self, key: &str, shape: &Enum) -> Result<Option<&'a str>, ApiError> {
        let s = self.str_member(key)?;
        if let Some(s) = s {
            self.check_enum(&member_path(key), s, shape);
        }
        Ok(s)
    }

    /// An optional base64 blob member, decoded, with a length constraint on the raw bytes.
    pub fn blob(&mut self, key: &str, shape: &Blob) -> Result<Option<Vec<u8>>, ApiError> {
        let s = match self.raw(key) {
            None => return Ok(None),
            Some(Value::String(s)) => s,
            Some(_) => return Err(type_error(key, "a base64 string")),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(|_| ApiError::serialization(format!("Member '{key}' is not valid base64.")))?;
        self.check_size(&member_path(key), None, bytes.len(), shape.min, shape.max);
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

    /// An optional integer member, checked against its range.
    pub fn int(&mut self, key: &str, shape: &Int) -> Result<Option<i64>, ApiError> {
        let n = match self.raw(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| type_error(key, "an integer"))?,
            Some(_) => return Err(type_error(key, "an integer")),
        };
        let path = member_path(key);
        let shown = n.to_string();
        if let Some(max) = shape.max.filter(|m| n > *m) {
            let c = format!("Member must have value less than or equal to {max}");
            self.violation(&path, Some(&shown), &c);
        } else if let Some(min) = shape.min.filter(|m| n < *m) {
            let c = format!("Member must have value greater than or equal to {min}");
            self.violation(&path, Some(&shown), &c);
        }
        Ok(Some(n))
    }

    /// An optional list member (items unchecked), with its size checked. A list over its
    /// maximum is answered as empty: its items are neither copied nor checked, as the request
    /// fails on its length.
    pub fn list(&mut self, key: &str, shape: &List) -> Result<Option<&'a [Value]>, ApiError> {
        let items = match self.raw(key) {
            None => return Ok(None),
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(type_error(key, "a list")),
        };
        self.check_size(&member_path(key), None, items.len(), shape.min, shape.max);
        Ok(Some(if items.len() > shape.max { &[] } else { items }))
    }

    /// An optional list of strings, each checked against `item`.
    pub fn string_list(
        &mut self,
        key: &str,
        shape: &List,
        item: &Str,
    ) -> Result<Option<Vec<&'a str>>, ApiError> {
        let Some(items) = self.list(key, shape)? else {
            return Ok(None);
        };
        let path = member_path(key);
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            let Value::String(s) = v else {
                return Err(type_error(key, "a list of strings"));
            };
            self.check_str(&format!("{path}.{}.member", i + 1), s, item);
            out.push(s.as_str());
        }
        Ok(Some(out))
    }

    /// Records AWS's refusal of a secret id that is neither an ARN nor a valid name (answered by
    /// [`Reader::finish`]).
    pub fn secret_id(&mut self, id: &str) {
        if !id.is_empty() && !id.starts_with("arn:") && !crate::model::valid_name_chars(id) {
            self.refused.get_or_insert(ApiError::invalid_name());
        }
    }

    /// Ends validation: a ValidationException listing every violation, AWS style; else the first
    /// refusal recorded.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.error_count == 0 {
            return self.refused.map_or(Ok(()), Err);
        }
        let n = self.error_count;
        let plural = if n == 1 { "error" } else { "errors" };
        Err(ApiError::validation(format!(
            "{n} validation {plural} detected: {}",
            self.errors.join("; ")
        )))
    }
}

/// Base64 text of a binary secret value, as JSON carries blobs.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::shapes::{CreateSecretRequest, NAME_TYPE};
    use super::Request as _;
    use super::*;

    #[test]
    fn debug_never_shows_values() {
        let i = Input::parse(br#"{"SecretString":"hunter2","Name":"n"}"#).unwrap();
        let d = format!("{i:?}");
        assert!(d.contains("SecretString") && !d.contains("hunter2"), "{d}");
        let r = CreateSecretRequest::read(&i).unwrap();
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[test]
    fn validation_message_shape() {
        let i = Input::parse(br#"{"Name":""}"#).unwrap();
        let mut r = i.reader();
        r.string("Name", &NAME_TYPE).unwrap();
        r.required::<&str>("SecretId", None);
        let e = r.finish().unwrap_err();
        assert_eq!(
            e.message,
            "2 validation errors detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1; Value null at 'secretId' failed to satisfy constraint: Member must not be null"
        );
    }
}
