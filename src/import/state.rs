//! Terraform state, in either of its JSON forms, as one list of [`Resource`]s with every
//! sensitive attribute already removed: what the rest of `import` reads never holds a secret.
//!
//! - `terraform show -json`: `values.root_module.resources[]` and, recursively,
//!   `child_modules[].resources[]`, each with `address`, `mode`, `type`, `name`, `index`,
//!   `values` and `sensitive_values` (a mirror of `values` with `true` at each sensitive leaf)
//!   (<https://developer.hashicorp.com/terraform/internals/json-format>).
//! - `terraform state pull`: state format version 4, `resources[]` with `module`, `mode`,
//!   `type`, `name` and `instances[]` of `index_key`, `attributes` and `sensitive_attributes`
//!   (paths of `get_attr`/`index` steps) (Terraform `internal/states/statefile/version4.go`).

use serde_json::{Map, Value};

/// One resource instance of the state.
#[derive(Clone, Debug)]
pub struct Resource {
    /// Its full address (`module.runners["tf"].helm_release.gitlab_runner`).
    pub address: String,
    /// The module instance it is in (`module.runners["tf"]`), empty at the root.
    pub module: String,
    pub managed: bool,
    pub kind: String,
    pub name: String,
    /// The `for_each` key (a string) or `count` index (a number); none without either.
    pub index: Option<Value>,
    /// Its attributes, without any that the state marks sensitive or that hold a token.
    pub values: Map<String, Value>,
}

impl Resource {
    /// A string attribute.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(Value::as_str)
    }

    /// The `for_each` key when it is a string.
    pub fn key(&self) -> Option<&str> {
        self.index.as_ref().and_then(Value::as_str)
    }

    /// The first block of a nested block list (`metadata[0]`, `role_ref[0]`).
    pub fn block(&self, key: &str) -> Option<&Map<String, Value>> {
        self.values.get(key)?.as_array()?.first()?.as_object()
    }
}

/// Attributes never read whatever the state says: tokens and Secret data.
const ALWAYS_SENSITIVE: &[&str] = &[
    "token",
    "data",
    "binary_data",
    "data_wo",
    "authentication_token",
    "registration_token",
    "set_sensitive",
];

/// Reads `terraform show -json` or `terraform state pull` output, told apart by its top-level
/// keys (`values`/`format_version` against `version: 4` and `resources`).
pub fn read(text: &str) -> Result<Vec<Resource>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let top = doc.as_object().ok_or("not a JSON object")?;
    let mut out = Vec::new();
    if top.contains_key("format_version") || top.contains_key("values") {
        if let Some(root) = top.get("values").and_then(|v| v.get("root_module")) {
            show_module(root, &mut out)?;
        }
    } else if top.get("version").and_then(Value::as_u64) == Some(4) {
        let resources = top
            .get("resources")
            .and_then(Value::as_array)
            .ok_or("state version 4 without `resources`")?;
        for r in resources {
            state_resource(r, &mut out)?;
        }
    } else if let Some(v) = top.get("version") {
        return Err(format!(
            "state format version {v} is not supported: give `terraform show -json` or `terraform state pull` output of Terraform 0.12 or later"
        ));
    } else {
        return Err("neither `terraform show -json` output (`format_version`, `values`) nor a state file (`version: 4`, `resources`)".into());
    }
    Ok(out)
}

fn text<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what} without a string `{key}`"))
}

/// One module of `terraform show -json`, and its child modules.
fn show_module(module: &Value, out: &mut Vec<Resource>) -> Result<(), String> {
    let address = module.get("address").and_then(Value::as_str).unwrap_or("");
    for r in module
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut values = r
            .get("values")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(s) = r.get("sensitive_values") {
            strip_mirror(&mut values, s);
        }
        out.push(resource(
            text(r, "address", "a resource")?.to_owned(),
            address,
            r,
            r.get("index").cloned(),
            values,
        )?);
    }
    for child in module
        .get("child_modules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        show_module(child, out)?;
    }
    Ok(())
}

/// One resource of a version-4 state, one [`Resource`] per instance.
fn state_resource(r: &Value, out: &mut Vec<Resource>) -> Result<(), String> {
    let module = r.get("module").and_then(Value::as_str).unwrap_or("");
    let (kind, name) = (
        text(r, "type", "a resource")?,
        text(r, "name", "a resource")?,
    );
    let data = r.get("mode").and_then(Value::as_str) == Some("data");
    for inst in r
        .get("instances")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let index = inst.get("index_key").cloned();
        let mut values = inst
            .get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for path in inst
            .get("sensitive_attributes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            strip_path(&mut values, path);
        }
        let mut address = String::new();
        if !module.is_empty() {
            address = format!("{module}.");
        }
        if data {
            address.push_str("data.");
        }
        address.push_str(&format!("{kind}.{name}{}", index_suffix(index.as_ref())));
        out.push(resource(address, module, r, index, values)?);
    }
    Ok(())
}

/// `["key"]` or `[0]`, as Terraform writes an instance's address.
fn index_suffix(index: Option<&Value>) -> String {
    match index {
        Some(Value::String(s)) => format!("[{}]", Value::String(s.clone())),
        Some(Value::Number(n)) => format!("[{n}]"),
        _ => String::new(),
    }
}

fn resource(
    address: String,
    module: &str,
    r: &Value,
    index: Option<Value>,
    mut values: Map<String, Value>,
) -> Result<Resource, String> {
    for key in ALWAYS_SENSITIVE {
        values.remove(*key);
    }
    Ok(Resource {
        address,
        module: module.to_owned(),
        managed: r.get("mode").and_then(Value::as_str) != Some("data"),
        kind: text(r, "type", "a resource")?.to_owned(),
        name: text(r, "name", "a resource")?.to_owned(),
        index: index.filter(|i| !i.is_null()),
        values,
    })
}

/// Removes each leaf `sensitive_values` marks `true` (and whatever is below it).
fn strip_mirror(values: &mut Map<String, Value>, mirror: &Value) {
    let Some(mirror) = mirror.as_object() else {
        return;
    };
    for (k, m) in mirror {
        match m {
            Value::Bool(true) => {
                values.remove(k);
            }
            _ => {
                if let Some(v) = values.get_mut(k) {
                    strip_value(v, m);
                }
            }
        }
    }
}

fn strip_value(v: &mut Value, mirror: &Value) {
    match (v, mirror) {
        (Value::Object(o), _) => strip_mirror(o, mirror),
        (Value::Array(items), Value::Array(marks)) => {
            for (item, mark) in items.iter_mut().zip(marks) {
                if *mark == Value::Bool(true) {
                    *item = Value::Null;
                } else {
                    strip_value(item, mark);
                }
            }
        }
        _ => {}
    }
}

/// Removes the attribute a `sensitive_attributes` path names (`[{type: get_attr, value:
/// token}]`, `index` steps into lists and maps); the whole top-level attribute when the path
/// cannot be followed.
fn strip_path(values: &mut Map<String, Value>, path: &Value) {
    let steps: Vec<&Value> = path.as_array().into_iter().flatten().collect();
    let step_key = |s: &Value| -> Option<Value> {
        match s.get("type").and_then(Value::as_str)? {
            "get_attr" => s.get("value").cloned(),
            _ => s
                .get("value")
                .map(|v| v.get("value").cloned().unwrap_or(v.clone())),
        }
    };
    let Some(Value::String(first)) = steps.first().and_then(|s| step_key(s)) else {
        return;
    };
    if steps.len() == 1 {
        values.remove(&first);
        return;
    }
    let mut at = values.get_mut(&first);
    for (i, step) in steps.iter().enumerate().skip(1) {
        let key = step_key(step);
        let last = i == steps.len() - 1;
        at = match (at, key) {
            (Some(Value::Object(o)), Some(Value::String(k))) if last => {
                o.remove(&k);
                return;
            }
            (Some(Value::Array(a)), Some(Value::Number(n))) if last => {
                if let Some(x) = n.as_u64().and_then(|n| a.get_mut(n as usize)) {
                    *x = Value::Null;
                }
                return;
            }
            (Some(Value::Object(o)), Some(Value::String(k))) => o.get_mut(&k),
            (Some(Value::Array(a)), Some(Value::Number(n))) => {
                n.as_u64().and_then(|n| a.get_mut(n as usize))
            }
            _ => {
                values.remove(&first);
                return;
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_attributes_are_gone_before_anything_reads_them() {
        let pull = r#"{"version": 4, "resources": [{"module": "module.runners[\"tf\"]",
            "mode": "managed", "type": "helm_release", "name": "r", "instances": [{
            "attributes": {"name": "x", "metadata": [{"password": "p1", "keep": 1}],
                "token": "t1", "set": [{"name": "a", "value": "s1"}]},
            "sensitive_attributes": [[{"type": "get_attr", "value": "metadata"},
                {"type": "index", "value": {"value": 0, "type": "number"}},
                {"type": "get_attr", "value": "password"}],
                [{"type": "get_attr", "value": "set"}]]}]}]}"#;
        let r = &read(pull).unwrap()[0];
        assert_eq!(r.address, "module.runners[\"tf\"].helm_release.r");
        let text = serde_json::to_string(&r.values).unwrap();
        for secret in ["p1", "t1", "s1"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("\"keep\":1"));

        let show = r#"{"format_version": "1.0", "values": {"root_module": {"resources": [{
            "address": "gitlab_user_runner.r[0]", "mode": "managed", "type": "gitlab_user_runner",
            "name": "r", "index": 0, "values": {"description": "d", "secret_note": "n1",
                "tag_list": ["a", "n2"]},
            "sensitive_values": {"secret_note": true, "tag_list": [false, true]}}]}}}"#;
        let r = &read(show).unwrap()[0];
        let text = serde_json::to_string(&r.values).unwrap();
        assert!(
            !text.contains("n1") && !text.contains("n2") && text.contains("\"d\""),
            "{text}"
        );
        assert_eq!(r.index, Some(serde_json::json!(0)));
    }
}
