//! Resource policies: validation of policy JSON in IAM grammar (MalformedPolicyDocumentException messages),
//! "public" detection for BlockPublicPolicy / ValidateResourcePolicy, and the policy name rules.
//!
//! The operations themselves (Put/Get/Delete/List/ValidateResourcePolicy) live in `ops::policy`.

use serde_json::{Map, Value};

/// The only policy name the API may attach or delete (`PolicyName` defaults to it).
pub const DEFAULT_POLICY_NAME: &str = "default";
/// Largest policy text the model allows (`NonEmptyResourcePolicyType`).
pub const MAX_POLICY_LEN: usize = 20_480;

/// `CheckName` reported by ValidateResourcePolicy for grammar problems.
pub const CHECK_SYNTAX: &str = "SYNTAX_CHECK";
/// `CheckName` reported by ValidateResourcePolicy for a policy granting broad (public) access.
pub const CHECK_PUBLIC: &str = "PUBLIC_POLICY_CHECK";

const TOP_LEVEL_KEYS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];
const PRINCIPAL_KEYS: &[&str] = &["AWS", "Service", "Federated", "CanonicalUser"];
const VERSIONS: &[&str] = &["2012-10-17", "2008-10-17"];

/// Checks a `PolicyName` against the model pattern `[0-9A-Za-z\-\_]+` and length 1–64.
pub fn valid_policy_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses the policy text and checks it against the IAM policy grammar for resource-based policies.
///
/// Returns the parsed document, or every problem found (each names the statement and element at fault).
pub fn validate(text: &str) -> Result<Value, Vec<String>> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        vec![format!(
            "The policy is not valid JSON: {e} (line {}, column {}).",
            e.line(),
            e.column()
        )]
    })?;
    let Some(top) = doc.as_object() else {
        return Err(vec!["The policy must be a JSON object.".to_string()]);
    };
    let mut errors = Vec::new();
    for key in top.keys() {
        if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
            errors.push(format!(
                "Unknown top-level element '{key}'; allowed: Version, Id, Statement."
            ));
        }
    }
    match top.get("Version") {
        None => {}
        Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => {}
        Some(other) => errors.push(format!(
            "Version must be \"2012-10-17\" or \"2008-10-17\", not {other}."
        )),
    }
    if let Some(id) = top.get("Id") {
        if !id.is_string() {
            errors.push("Id must be a string.".to_string());
        }
    }
    let statements: Vec<&Value> = match top.get("Statement") {
        None => {
            errors.push("The policy has no Statement element.".to_string());
            Vec::new()
        }
        Some(Value::Array(list)) if list.is_empty() => {
            errors.push("Statement must not be an empty list.".to_string());
            Vec::new()
        }
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => {
            errors.push("Statement must be an object or a list of objects.".to_string());
            Vec::new()
        }
    };
    let mut sids: Vec<&str> = Vec::new();
    for (i, statement) in statements.iter().enumerate() {
        let label = format!("Statement {}", i + 1);
        let Some(st) = statement.as_object() else {
            errors.push(format!("{label} must be a JSON object."));
            continue;
        };
        check_statement(&label, st, &mut errors);
        if let Some(Value::String(sid)) = st.get("Sid") {
            if sids.contains(&sid.as_str()) {
                errors.push(format!(
                    "{label}: duplicate Sid '{sid}'; statement ids must be unique."
                ));
            }
            sids.push(sid);
        }
    }
    if errors.is_empty() {
        Ok(doc)
    } else {
        Err(errors)
    }
}

fn check_statement(label: &str, st: &Map<String, Value>, errors: &mut Vec<String>) {
    for key in st.keys() {
        if !STATEMENT_KEYS.contains(&key.as_str()) {
            errors.push(format!("{label}: unknown element '{key}'."));
        }
    }
    if let Some(sid) = st.get("Sid") {
        if !sid.is_string() {
            errors.push(format!("{label}: Sid must be a string."));
        }
    }
    match st.get("Effect") {
        Some(Value::String(e)) if e == "Allow" || e == "Deny" => {}
        Some(other) => errors.push(format!(
            "{label}: Effect must be \"Allow\" or \"Deny\", not {other}."
        )),
        None => errors.push(format!("{label}: missing Effect.")),
    }
    exactly_one(label, st, "Principal", "NotPrincipal", errors);
    for key in ["Principal", "NotPrincipal"] {
        if let Some(p) = st.get(key) {
            check_principal(label, key, p, errors);
        }
    }
    exactly_one(label, st, "Action", "NotAction", errors);
    for key in ["Action", "NotAction"] {
        if let Some(a) = st.get(key) {
            check_strings(label, key, a, errors, |s| {
                s == "*"
                    || s.split_once(':')
                        .is_some_and(|(svc, op)| !svc.is_empty() && !op.is_empty())
            });
        }
    }
    exactly_one(label, st, "Resource", "NotResource", errors);
    for key in ["Resource", "NotResource"] {
        if let Some(r) = st.get(key) {
            check_strings(label, key, r, errors, |s| s == "*" || s.starts_with("arn:"));
        }
    }
    if let Some(c) = st.get("Condition") {
        check_condition(label, c, errors);
    }
}

fn exactly_one(
    label: &str,
    st: &Map<String, Value>,
    a: &str,
    not_a: &str,
    errors: &mut Vec<String>,
) {
    match (st.contains_key(a), st.contains_key(not_a)) {
        (true, true) => errors.push(format!("{label}: use either {a} or {not_a}, not both.")),
        (false, false) => errors.push(format!("{label}: missing {a} (or {not_a}).")),
        _ => {}
    }
}

/// A string or a non-empty list of strings, each accepted by `ok`.
fn check_strings(
    label: &str,
    key: &str,
    v: &Value,
    errors: &mut Vec<String>,
    ok: impl Fn(&str) -> bool,
) {
    let items: Vec<&Value> = match v {
        Value::String(_) => vec![v],
        Value::Array(list) if !list.is_empty() => list.iter().collect(),
        _ => {
            errors.push(format!(
                "{label}: {key} must be a string or a non-empty list of strings."
            ));
            return;
        }
    };
    for item in items {
        match item.as_str() {
            Some(s) if ok(s) => {}
            Some(s) => errors.push(format!("{label}: {key} has an invalid value '{s}'.")),
            None => errors.push(format!("{label}: {key} must contain only strings.")),
        }
    }
}

fn check_principal(label: &str, key: &str, p: &Value, errors: &mut Vec<String>) {
    match p {
        Value::String(s) if s == "*" => {}
        Value::String(s) => errors.push(format!(
            "{label}: {key} must be \"*\" or an object such as {{\"AWS\": \"{s}\"}}."
        )),
        Value::Object(map) if map.is_empty() => {
            errors.push(format!("{label}: {key} must not be empty."))
        }
        Value::Object(map) => {
            for (kind, ids) in map {
                if !PRINCIPAL_KEYS.contains(&kind.as_str()) {
                    errors.push(format!(
                        "{label}: {key} has an unknown principal type '{kind}'; allowed: AWS, Service, Federated, CanonicalUser."
                    ));
                    continue;
                }
                check_strings(label, &format!("{key}.{kind}"), ids, errors, |s| {
                    !s.is_empty()
                });
            }
        }
        _ => errors.push(format!("{label}: {key} must be \"*\" or an object.")),
    }
}

fn check_condition(label: &str, c: &Value, errors: &mut Vec<String>) {
    let Some(ops) = c.as_object() else {
        errors.push(format!(
            "{label}: Condition must be an object of operators."
        ));
        return;
    };
    for (op, block) in ops {
        let Some(keys) = block.as_object() else {
            errors.push(format!(
                "{label}: Condition operator '{op}' must map condition keys to values."
            ));
            continue;
        };
        if keys.is_empty() {
            errors.push(format!(
                "{label}: Condition operator '{op}' has no condition keys."
            ));
        }
        for (key, value) in keys {
            let ok = match value {
                Value::String(_) | Value::Bool(_) | Value::Number(_) => true,
                Value::Array(list) => {
                    !list.is_empty()
                        && list
                            .iter()
                            .all(|v| v.is_string() || v.is_boolean() || v.is_number())
                }
                _ => false,
            };
            if !ok {
                errors.push(format!(
                    "{label}: Condition {op}.{key} must be a string, number, boolean or a non-empty list of them."
                ));
            }
        }
    }
}

/// True when the (grammatically valid) policy grants broad access: an `Allow` statement whose principal is
/// `"*"` or `{"AWS": "*"}` (alone or in a list), or that uses `NotPrincipal`, without any `Condition`.
pub fn is_public(doc: &Value) -> bool {
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    statements.into_iter().any(|st| {
        let allow = st.get("Effect").and_then(Value::as_str) == Some("Allow");
        let unconditioned = st
            .get("Condition")
            .is_none_or(|c| c.as_object().is_some_and(Map::is_empty));
        let wildcard = match st.get("Principal") {
            Some(Value::String(s)) => s == "*",
            Some(Value::Object(map)) => map.get("AWS").is_some_and(|aws| match aws {
                Value::String(s) => s == "*",
                Value::Array(list) => list.iter().any(|v| v.as_str() == Some("*")),
                _ => false,
            }),
            _ => false,
        };
        allow && unconditioned && (wildcard || st.get("NotPrincipal").is_some())
    })
}

/// The MalformedPolicyDocumentException message for a list of grammar problems.
pub fn malformed_message(errors: &[String]) -> String {
    format!(
        "This resource policy contains a syntax error: {}",
        errors.join(" ")
    )
}

/// The PublicPolicyException message.
pub const PUBLIC_POLICY_MESSAGE: &str =
    "This resource policy will grant public access to the secret. Use BlockPublicPolicy=false or restrict the principal.";

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;

    #[test]
    fn accepts_valid_policies() {
        let doc = validate(OK).expect("valid");
        assert!(!is_public(&doc));
        let single = r#"{"Statement":{"Effect":"Deny","Principal":"*","NotAction":["secretsmanager:Get*"],
            "NotResource":"arn:aws:secretsmanager:us-east-1:1:secret:x","Condition":{"Bool":{"aws:SecureTransport":false}}}}"#;
        assert!(!is_public(
            &validate(single).expect("single statement object")
        ));
    }

    #[test]
    fn reports_each_grammar_error() {
        let cases = [
            ("not json", "not valid JSON"),
            ("[]", "must be a JSON object"),
            (r#"{"Version":"2012-10-17"}"#, "no Statement"),
            (r#"{"Statement":[]}"#, "empty list"),
            (
                r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#,
                "Version",
            ),
            (
                r#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"*","Resource":"*"}}"#,
                "Effect must be",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
                "missing Principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Resource":"*"}}"#,
                "missing Action",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}"#,
                "missing Resource",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","NotAction":"*","Resource":"*"}}"#,
                "not both",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Bob":"x"},"Action":"*","Resource":"*"}}"#,
                "unknown principal type",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"getsecret","Resource":"*"}}"#,
                "invalid value 'getsecret'",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":"x"}}"#,
                "Condition must be",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Extra":1}}"#,
                "unknown element 'Extra'",
            ),
            (
                r#"{"Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Sid":"a","Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#,
                "duplicate Sid",
            ),
        ];
        for (text, needle) in cases {
            let errors = validate(text).expect_err(text);
            assert!(
                errors.iter().any(|e| e.contains(needle)),
                "{text}: {errors:?} lacks {needle}"
            );
        }
    }

    #[test]
    fn detects_public_policies() {
        let public = [
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:root","*"]},"Action":"*","Resource":"*"}}"#,
        ];
        for p in public {
            assert!(is_public(&validate(p).expect(p)), "{p}");
        }
        let not_public = [
            r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}}"#,
        ];
        for p in not_public {
            assert!(!is_public(&validate(p).expect(p)), "{p}");
        }
    }

    #[test]
    fn policy_names() {
        assert!(valid_policy_name("default") && valid_policy_name("a-b_C9"));
        assert!(
            !valid_policy_name("")
                && !valid_policy_name("a b")
                && !valid_policy_name(&"x".repeat(65))
        );
    }
}
