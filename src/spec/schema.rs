//! The JSON Schema of the spec, generated from `types.rs`, and schema validation with located errors.

use super::diag::Code;
use super::problem::Problem;
use super::types::Spec;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;
use std::sync::OnceLock;

/// The schema as committed under `schema/runnergen.schema.json` (a test keeps them equal).
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let mut root = generator.into_root_schema_for::<Spec>();
        root.insert(
            "$id".into(),
            "https://runnergen.dev/schema/runnergen.schema.json".into(),
        );
        let mut v = root.to_value();
        simplify(&mut v);
        facts_into(&mut v);
        runner_override(&mut v);
        v
    })
}

/// A GUID, as Azure writes tenant, subscription, client and role-definition IDs.
const GUID: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// What editors can check before runnergen runs, from the facts runnergen itself checks
/// against (`roles::names`, `facts::GRAPH_PERMISSIONS`): a role is a built-in role's
/// name or a role-definition GUID, a Graph permission one runnergen knows, every ID a GUID.
/// `spec::check` still checks each (with its own code and hint, which wins over the schema's).
fn facts_into(root: &mut Value) {
    let defs = &mut root["$defs"];
    let roles: Vec<&str> = crate::roles::names().collect();
    let role = &mut defs["RoleAssignment"]["properties"]["role"];
    role["anyOf"] = serde_json::json!([
        {"enum": roles},
        {"pattern": GUID, "description": "A role-definition GUID (any role, custom ones too)."}
    ]);
    defs["Identity"]["properties"]["graphPermissions"]["items"]["enum"] =
        serde_json::json!(crate::facts::GRAPH_PERMISSIONS);
    for (def, field) in [
        ("Environment", "tenantId"),
        ("Identity", "clientId"),
        ("Cache", "managerClientId"),
        ("KeyVault", "storeClientId"),
    ] {
        defs[def]["properties"][field]["pattern"] = GUID.into();
    }
    defs["Environment"]["properties"]["subscriptions"]["additionalProperties"]["pattern"] =
        GUID.into();
    // Job tags reach GitLab and a shell: the characters `spec::values` allows.
    defs["Runner"]["properties"]["tags"]["items"]["pattern"] = r"^[A-Za-z0-9._:/-]{1,255}$".into();
    // Keys go into Kubernetes and Azure names (`spec::check`'s runner and environment keys).
    root["properties"]["runners"]["propertyNames"] = serde_json::json!({
        "pattern": "^[a-z](-?[a-z0-9])*$",
        "maxLength": 40,
        "not": {"enum": crate::layout::RESERVED_RUNNER_KEYS},
    });
    // Alternatives (`spec::check` E011 says which to keep).
    let both = |a: &str, b: &str| serde_json::json!({"not": {"required": [a, b]}});
    root["$defs"]["TokenSource"]["allOf"] =
        serde_json::json!([both("externalSecret", "existingSecret")]);
    root["$defs"]["Scope"]["allOf"] = serde_json::json!([
        both("subscription", "resource"),
        both("resourceGroup", "resource"),
        {"anyOf": [{"required": ["subscription"]}, {"required": ["resource"]}]},
    ]);
    // Node selectors are Kubernetes labels (apimachinery IsQualifiedName, IsValidLabelValue).
    const LABEL_KEY: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
    const LABEL_VALUE: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$";
    let selector = &mut root["$defs"]["Runner"]["properties"]["nodeSelector"];
    selector["propertyNames"] = serde_json::json!({"pattern": LABEL_KEY});
    selector["additionalProperties"]["pattern"] = LABEL_VALUE.into();
    let toleration = &mut root["$defs"]["Toleration"]["properties"];
    toleration["key"]["pattern"] = LABEL_KEY.into();
    toleration["value"]["pattern"] = LABEL_VALUE.into();
    root["properties"]["environments"]["propertyNames"] =
        serde_json::json!({"pattern": "^[a-z][a-z0-9]{0,7}$"});
    // Chart 0.66.0 brought the `serviceAccount.*` values runnergen writes (facts::CHART_MIN_VERSION).
    root["$defs"]["Chart"]["properties"]["version"]["pattern"] =
        r"^(0\.(6[6-9]|[7-9][0-9]|[1-9][0-9]{2,})\.[0-9]+|[1-9][0-9]*\.[0-9]+\.[0-9]+)$".into();
}

/// `overrides.<env>` of a runner takes any runner field but the three that place it
/// (`environment`, `environments`, `overrides`), none required: the `Runner` definition so
/// reduced, as `RunnerOverride`, so editors complete and check overrides like runners.
fn runner_override(root: &mut Value) {
    let defs = root["$defs"]
        .as_object_mut()
        .expect("the spec schema has definitions");
    let mut over = defs["Runner"].clone();
    let o = over.as_object_mut().expect("Runner is an object schema");
    o.remove("required");
    if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut) {
        for placing in ["environment", "environments", "overrides"] {
            props.remove(placing);
        }
    }
    o.insert(
        "description".into(),
        "A runner's fields in one environment, merged into the runner: mappings key by key; \
         lists and single values replace."
            .into(),
    );
    defs.insert("RunnerOverride".into(), over);
    defs["Runner"]["properties"]["overrides"]["additionalProperties"] =
        serde_json::json!({"$ref": "#/$defs/RunnerOverride"});
}

/// Rewrites what schemars generates into forms whose validation errors read well:
/// an optional field is simply absent (never `null`), and a documented enum is an `enum` list
/// (not a `oneOf` of constants, whose errors only say "no variant matched").
fn simplify(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(simplify),
        Value::Object(obj) => {
            if let Some(Value::Array(types)) = obj.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    obj.insert("type".into(), t);
                }
            }
            if let Some(Value::Array(any)) = obj.get("anyOf") {
                let rest: Vec<Value> = any
                    .iter()
                    .filter(|s| s.get("type") != Some(&Value::from("null")))
                    .cloned()
                    .collect();
                if rest.len() == 1
                    && let Value::Object(inner) = &rest[0]
                {
                    obj.remove("anyOf");
                    for (k, val) in inner {
                        obj.entry(k.clone()).or_insert_with(|| val.clone());
                    }
                }
            }
            if let Some(Value::Array(one)) = obj.get("oneOf")
                && one.iter().all(|s| s.get("const").is_some())
            {
                let values: Vec<Value> =
                    one.iter().filter_map(|s| s.get("const").cloned()).collect();
                let docs: Vec<String> = one
                    .iter()
                    .filter_map(|s| {
                        let d = s.get("description")?.as_str()?.trim_end_matches('.');
                        Some(format!("`{}`: {d}", s.get("const")?.as_str()?))
                    })
                    .collect();
                obj.remove("oneOf");
                obj.insert("type".into(), "string".into());
                obj.insert("enum".into(), Value::Array(values));
                if !docs.is_empty() {
                    let base = obj
                        .get("description")
                        .and_then(Value::as_str)
                        .map(|d| format!("{d} "))
                        .unwrap_or_default();
                    obj.insert(
                        "description".into(),
                        format!("{base}{}.", docs.join("; ")).into(),
                    );
                }
            }
            obj.values_mut().for_each(simplify);
        }
        _ => {}
    }
}

/// The schema text, pretty-printed with a final newline.
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(schema()).expect("a JSON value always serializes");
    s.push('\n');
    s
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::options()
            .should_validate_formats(true)
            .build(schema())
            .expect("the generated schema compiles (tested)")
    })
}

/// Whether the schema holds the value at `ptr` to a fixed list whose Rust type is an enum (a
/// wrong value there cannot be read at all), rather than a string rule the semantic checks
/// also apply.
pub fn is_choice(ptr: &str) -> bool {
    let root = schema();
    subschema(root, ptr).is_some_and(|s| s.get("enum").is_some() && s.get("$ref").is_none())
        && !ptr.contains("/graphPermissions/")
}

/// Follows an instance pointer through the schema (properties, additionalProperties, items,
/// $ref into $defs) to the subschema that describes it.
fn subschema<'a>(root: &'a Value, ptr: &str) -> Option<&'a Value> {
    let mut cur = resolve(root, root)?;
    for seg in ptr.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        let next = cur
            .get("properties")
            .and_then(|p| p.get(&seg))
            .or_else(|| cur.get("additionalProperties").filter(|v| v.is_object()))
            .or_else(|| cur.get("items").filter(|v| v.is_object()))?;
        cur = resolve(root, next)?;
    }
    Some(cur)
}

fn resolve<'a>(root: &'a Value, s: &'a Value) -> Option<&'a Value> {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/")?;
            resolve(root, root.get("$defs")?.get(name)?)
        }
        None => Some(s),
    }
}

fn describe(root: &Value, ptr: &str) -> Option<String> {
    let s = subschema(root, ptr)?;
    let mut text = s.get("description")?.as_str()?.replace('\n', " ");
    if let Some(ex) = s
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        text.push_str(&format!(" Example: {ex}"));
    }
    Some(text)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn expected(kind: &TypeKind) -> String {
    let one = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "object" => "a mapping".to_owned(),
        "array" => "a list".to_owned(),
        "integer" => "an integer".to_owned(),
        "boolean" => "a boolean (true or false)".to_owned(),
        other => format!("a {other}"),
    };
    match kind {
        TypeKind::Single(t) => one(t),
        TypeKind::Multiple(set) => set.iter().map(|t| one(&t)).collect::<Vec<_>>().join(" or "),
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// The Levenshtein distance, for "did you mean" hints on small word lists.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a small edit distance, case-insensitively.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lw = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (distance(&lw, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min()
        .map(|(_, c)| c)
}

/// Validates the converted document against the schema; every error, by pointer.
pub fn validate(doc: &Value) -> Vec<Problem> {
    let root = schema();
    let mut out = Vec::new();
    for err in validator().iter_errors(doc) {
        if matches!(err.kind(), ValidationErrorKind::PropertyNames { .. }) {
            // A runner or environment key: `spec::check` reports it at the key, with the rule.
            continue;
        }
        let ptr = err.instance_path().as_str().to_owned();
        let instance = err.instance();
        let (code, message, at) = match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                out.extend(unknown_fields(root, &ptr, unexpected));
                continue;
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let message = format!("missing required field `{name}`");
                let child = format!("{ptr}/{name}");
                if let Some(h) = describe(root, &child) {
                    out.push(
                        Problem::error(Code::E003, ptr, message).hint(format!("add `{name}`: {h}")),
                    );
                } else {
                    out.push(Problem::error(Code::E003, ptr, message));
                }
                continue;
            }
            ValidationErrorKind::Type { kind } => {
                let message = format!("expected {}, found {}", expected(kind), type_name(instance));
                (Code::E004, message, ptr)
            }
            kind => {
                let message =
                    value_message(root, &ptr, kind, instance).unwrap_or_else(|| err.to_string());
                (Code::E005, message, ptr)
            }
        };
        let list = message.starts_with("expected a list");
        let mut d = Problem::error(code, at.clone(), message);
        // YAML nests by indentation: a key with nothing after it, or a list written without
        // `- `, is most often the lines below not indented, or indented as a mapping.
        let shape = match (&code, instance.as_ref()) {
            (Code::E004, Value::Null) => Some(
                "nothing is written under this key: indent the lines that belong to it further than the key (YAML nests by indentation)",
            ),
            (Code::E004, Value::Object(_)) if list => {
                Some("a list's items start with `- ` (`- role: Owner` under `roles:`)")
            }
            _ => None,
        };
        match (shape, describe(root, &at)) {
            (Some(s), Some(h)) => d = d.hint(format!("{s}; {h}")),
            (Some(s), None) => d = d.hint(s),
            (None, Some(h)) => d = d.hint(h),
            (None, None) => {}
        }
        out.push(d);
    }
    misspelt_not_missing(out)
}

/// A required field written with a typo is one mistake: the unknown field's "did you mean" says
/// it, so the "missing required field" of the same object is left out.
fn misspelt_not_missing(problems: Vec<Problem>) -> Vec<Problem> {
    let misspelt: Vec<(String, String)> = problems
        .iter()
        .filter(|p| p.code == Code::E002)
        .filter_map(|p| {
            let parent = &p.path[..p.path.rfind('/')?];
            let hint = p.hint.as_deref()?.strip_prefix("did you mean `")?;
            Some((parent.to_owned(), hint[..hint.find('`')?].to_owned()))
        })
        .collect();
    problems
        .into_iter()
        .filter(|p| {
            p.code != Code::E003
                || !misspelt.iter().any(|(parent, name)| {
                    *parent == p.path && p.message == format!("missing required field `{name}`")
                })
        })
        .collect()
}

/// E002 for each field the schema does not know at `ptr`, with what is allowed there.
fn unknown_fields<'a>(
    root: &Value,
    ptr: &str,
    unexpected: impl IntoIterator<Item = &'a String>,
) -> Vec<Problem> {
    let allowed: Vec<&str> = subschema(root, ptr)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    unexpected
        .into_iter()
        .map(|key| {
            let kptr = format!("{ptr}/{}", key.replace('~', "~0").replace('/', "~1"));
            let hint = match did_you_mean(key, allowed.iter().copied()) {
                Some(m) => format!("did you mean `{m}`? Allowed here: {}", allowed.join(", ")),
                None => format!("allowed here: {}", allowed.join(", ")),
            };
            Problem::error_key(Code::E002, kptr, format!("unknown field `{key}`")).hint(hint)
        })
        .collect()
}

/// What is wrong with a value the schema refuses (E005), in the user's terms; none for a kind
/// of error the validator's own text says best.
fn value_message(
    root: &Value,
    ptr: &str,
    kind: &ValidationErrorKind,
    instance: &Value,
) -> Option<String> {
    let with_guess = |mut m: String, options: &[&str]| {
        if let Some(s) = instance.as_str()
            && let Some(best) = did_you_mean(s, options.iter().copied())
        {
            m.push_str(&format!(" (did you mean `{best}`?)"));
        }
        m
    };
    Some(match kind {
        ValidationErrorKind::Enum { options } => {
            let opts: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(short).collect())
                .unwrap_or_default();
            let refs: Vec<&str> = opts.iter().map(String::as_str).collect();
            let m = format!("`{}` is not one of: {}", short(instance), opts.join(", "));
            with_guess(m, &refs)
        }
        ValidationErrorKind::Pattern { .. } => {
            format!("`{}` is not of the expected form", short(instance))
        }
        ValidationErrorKind::AnyOf { .. } => {
            let options: Vec<&str> = subschema(root, ptr)
                .and_then(|s| s.get("anyOf"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|o| o.get("enum").and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let m = format!("`{}` is not of any allowed form", short(instance));
            with_guess(m, &options)
        }
        ValidationErrorKind::Minimum { limit } => {
            format!("{} is below the minimum of {limit}", short(instance))
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("{} is above the maximum of {limit}", short(instance))
        }
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} characters long")
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("must be at most {limit} characters long")
        }
        ValidationErrorKind::MinItems { limit } | ValidationErrorKind::MinProperties { limit } => {
            format!("needs at least {limit} entries")
        }
        ValidationErrorKind::MaxItems { limit } | ValidationErrorKind::MaxProperties { limit } => {
            format!("takes at most {limit} entries")
        }
        _ => return None,
    })
}
