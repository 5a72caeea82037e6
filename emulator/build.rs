//! Generates the operations' request shapes from botocore's Secrets Manager service model
//! (`service-model/service-2.json`): one constant per constrained shape (lengths, ranges, enum
//! values, list sizes) and, per operation, a request struct with a `read` that checks every member
//! against those constants in the model's member order. Written to `OUT_DIR/service_model.rs`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{Map, Value};

const MODEL: &str = "service-model/service-2.json";

/// Shapes whose `pattern` reading a member checks (once its length passed) with the model's
/// message; the others (filter values, RegionType, RotationTokenType, ...) are checked by the
/// code that reads them, which answers AWS's own wording.
const PATTERN_CHECKED: [&str; 1] = ["ResourcePolicyNameType"];

/// Structure shapes whose lists are handed to their operations as given (after the list's size
/// check): replication and rotation read their items.
const ITEMS_AS_GIVEN: [&str; 2] = ["ReplicaRegionType", "ExternalSecretRotationMetadataItem"];

fn main() {
    println!("cargo:rerun-if-changed={MODEL}");
    println!("cargo:rerun-if-changed=build.rs");
    let text = std::fs::read_to_string(MODEL).expect("service model readable");
    let model: Value = serde_json::from_str(&text).expect("service model is JSON");
    let out = generate(&model);
    let dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR set by cargo"));
    std::fs::write(dir.join("service_model.rs"), out).expect("OUT_DIR writable");
}

/// `SecretIdType` -> `SECRET_ID_TYPE`.
fn constant(name: &str) -> String {
    snake(name).to_ascii_uppercase()
}

/// `SecretId` -> `secret_id`, `RotationLambdaARN` -> `rotation_lambda_arn`, `Type` -> `type_`.
fn snake(name: &str) -> String {
    let c: Vec<char> = name.chars().collect();
    let mut s = String::new();
    for (i, ch) in c.iter().enumerate() {
        let boundary = i > 0
            && ch.is_ascii_uppercase()
            && (c[i - 1].is_ascii_lowercase()
                || c[i - 1].is_ascii_digit()
                || (c[i - 1].is_ascii_uppercase()
                    && c.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())));
        if boundary {
            s.push('_');
        }
        s.push(ch.to_ascii_lowercase());
    }
    if s == "type" {
        s.push('_');
    }
    s
}

fn shape<'a>(shapes: &'a Map<String, Value>, name: &str) -> &'a Map<String, Value> {
    shapes[name].as_object().expect("a shape is an object")
}

fn bound(s: &Map<String, Value>, key: &str) -> Option<i64> {
    s.get(key).and_then(Value::as_i64)
}

/// The constant describing a scalar or list shape's constraints.
fn shape_constant(name: &str, s: &Map<String, Value>) -> Option<String> {
    let min = bound(s, "min").unwrap_or(0);
    let max = bound(s, "max").map_or("usize::MAX".to_string(), |m| m.to_string());
    let sensitive = s.get("sensitive").and_then(Value::as_bool).unwrap_or(false);
    let c = constant(name);
    let body = match s["type"].as_str()? {
        "string" if s.contains_key("enum") => {
            let values: Vec<String> = s["enum"]
                .as_array()?
                .iter()
                .map(|v| format!("{:?}", v.as_str().unwrap_or_default()))
                .collect();
            format!("Enum = Enum {{ values: &[{}] }}", values.join(", "))
        }
        "string" => {
            let pattern = s
                .get("pattern")
                .and_then(Value::as_str)
                .map_or("None".to_string(), |p| format!("Some({p:?})"));
            let checked = PATTERN_CHECKED.contains(&name);
            format!(
                "Str = Str {{ min: {min}, max: {max}, sensitive: {sensitive}, pattern: {pattern}, checks_pattern: {checked} }}"
            )
        }
        "blob" => format!("Blob = Blob {{ min: {min}, max: {max} }}"),
        "integer" | "long" => {
            let opt = |k| bound(s, k).map_or("None".to_string(), |v| format!("Some({v})"));
            format!("Int = Int {{ min: {}, max: {} }}", opt("min"), opt("max"))
        }
        "list" => format!("List = List {{ min: {min}, max: {max} }}"),
        _ => return None,
    };
    Some(format!(
        "/// `{name}` in the model.\npub const {c}: {body};\n"
    ))
}

/// One request member: its field type and the expression reading it from `r`.
fn member(shapes: &Map<String, Value>, key: &str, target: &str) -> (String, String) {
    let s = shape(shapes, target);
    let c = constant(target);
    match s["type"].as_str().unwrap_or_default() {
        "string" if s.contains_key("enum") => (
            "Option<&'a str>".into(),
            format!("r.enum_string({key:?}, &{c})?"),
        ),
        "string" => (
            "Option<&'a str>".into(),
            format!("r.string({key:?}, &{c})?"),
        ),
        "blob" => ("Option<Vec<u8>>".into(), format!("r.blob({key:?}, &{c})?")),
        "boolean" => ("Option<bool>".into(), format!("r.bool({key:?})?")),
        "integer" | "long" => ("Option<i64>".into(), format!("r.int({key:?}, &{c})?")),
        "list" => {
            let item = s["member"]["shape"].as_str().unwrap_or_default();
            let is = shape(shapes, item);
            if is["type"] == "string" {
                (
                    "Option<Vec<&'a str>>".into(),
                    format!("r.string_list({key:?}, &{c}, &{})?", constant(item)),
                )
            } else if ITEMS_AS_GIVEN.contains(&item) {
                (
                    "Option<&'a [serde_json::Value]>".into(),
                    format!("r.list({key:?}, &{c})?"),
                )
            } else {
                structured(key, target)
            }
        }
        _ => structured(key, target),
    }
}

/// A structure (or list of structures) member: read by the hand-written reader named after its
/// shape in `protocol::shapes`, which takes its constraints from this file's constants.
fn structured(key: &str, target: &str) -> (String, String) {
    (
        format!("Option<super::shapes::{target}<'a>>"),
        format!("super::shapes::read_{}(&mut r, {key:?})?", snake(target)),
    )
}

fn request(out: &mut String, shapes: &Map<String, Value>, op: &str, input: &str) {
    let s = shape(shapes, input);
    let required: BTreeSet<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let members = s["members"].as_object().expect("a structure has members");
    let mut fields = String::new();
    let mut reads = String::new();
    let mut names = Vec::new();
    for (key, m) in members {
        let target = m["shape"].as_str().unwrap_or_default();
        let (ty, read) = member(shapes, key, target);
        let field = snake(key);
        let req = required.contains(key.as_str());
        let ty = match (req, ty.strip_prefix("Option<")) {
            (true, Some(inner)) => inner[..inner.len() - 1].to_string(),
            _ => ty,
        };
        let _ = writeln!(
            fields,
            "    /// `{key}`{}.\n    pub {field}: {ty},",
            if req { " (required)" } else { "" }
        );
        let _ = writeln!(reads, "        let {field} = {read};");
        if req {
            let _ = writeln!(reads, "        let {field} = r.required({key:?}, {field});");
        }
        if key == "SecretId" && req {
            let _ = writeln!(reads, "        r.secret_id({field});");
        } else if key == "SecretId" {
            let _ = writeln!(
                reads,
                "        if let Some(id) = {field} {{ r.secret_id(id); }}"
            );
        }
        names.push(field);
    }
    let _ = write!(
        out,
        "/// {op}'s request (`{input}`), its members checked against the model.
pub struct {input}<'a> {{
{fields}}}

impl std::fmt::Debug for {input}<'_> {{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{
        f.debug_struct({input:?}).finish_non_exhaustive()
    }}
}}

impl<'a> Request<'a> for {input}<'a> {{
    fn read(inp: &'a Input) -> Result<Self, ApiError> {{
        let mut r = inp.reader();
{reads}        r.finish()?;
        Ok(Self {{ {} }})
    }}
}}

",
        names.join(", ")
    );
}

fn generate(model: &Value) -> String {
    let shapes = model["shapes"].as_object().expect("model has shapes");
    let ops = model["operations"]
        .as_object()
        .expect("model has operations");
    let mut out = String::from(
        "// Generated by emulator/build.rs from service-model/service-2.json; do not edit.\n\n",
    );
    // the constants of every shape some request member reaches
    let mut reached = BTreeSet::new();
    let mut todo: Vec<&str> = ops
        .values()
        .filter_map(|o| o["input"]["shape"].as_str())
        .collect();
    while let Some(name) = todo.pop() {
        if !reached.insert(name.to_string()) {
            continue;
        }
        let s = shape(shapes, name);
        if let Some(m) = s.get("members").and_then(Value::as_object) {
            todo.extend(m.values().filter_map(|v| v["shape"].as_str()));
        }
        for k in ["member", "key", "value"] {
            if let Some(t) = s.get(k).and_then(|v| v["shape"].as_str()) {
                todo.push(t);
            }
        }
    }
    for name in &reached {
        if let Some(c) = shape_constant(name, shape(shapes, name)) {
            out.push_str(&c);
        }
    }
    out.push('\n');
    let mut names = Vec::new();
    for (op, o) in ops {
        if let Some(input) = o["input"]["shape"].as_str() {
            request(&mut out, shapes, op, input);
        }
        names.push(format!("{op:?}"));
    }
    let _ = writeln!(
        out,
        "/// The model's operations, in its order.\npub const OPERATION_NAMES: [&str; {}] = [{}];",
        names.len(),
        names.join(", ")
    );
    out
}
