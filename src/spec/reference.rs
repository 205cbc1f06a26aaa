//! The spec reference (docs/spec-reference.md), generated from the JSON Schema so the two never
//! disagree (a test compares the page's generated block with this output).

use super::schema::schema;
use serde_json::Value;
use std::fmt::Write;

fn type_of(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return format!("[{name}](#{})", name.to_lowercase());
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    match s.get("type").and_then(Value::as_str) {
        Some("array") => format!(
            "list of {}",
            s.get("items").map(type_of).unwrap_or_else(|| "any".into())
        ),
        Some("object") => match s.get("additionalProperties") {
            Some(v) if v.is_object() => format!("map of {}", type_of(v)),
            _ => "mapping".into(),
        },
        Some(t) => t.to_owned(),
        None => "any".into(),
    }
}

fn cell(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

fn table(out: &mut String, s: &Value) {
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let _ = writeln!(out, "| field | type | required | description |");
    let _ = writeln!(out, "|---|---|---|---|");
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            let mut desc = p
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if let Some(pat) = p.get("pattern").and_then(Value::as_str) {
                desc.push_str(&format!(" Pattern `{pat}`."));
            }
            let _ = writeln!(
                out,
                "| `{name}` | {} | {} | {} |",
                type_of(p),
                if required.contains(&name.as_str()) {
                    "yes"
                } else {
                    "no"
                },
                cell(desc.trim())
            );
        }
    }
}

/// Markdown: the top-level fields, then one section per definition that has fields.
pub fn markdown() -> String {
    let root = schema();
    let mut out = String::new();
    let _ = writeln!(out, "## Spec (top level)\n");
    table(&mut out, root);
    if let Some(defs) = root.get("$defs").and_then(Value::as_object) {
        for (name, def) in defs {
            let _ = writeln!(out, "\n## {name}\n");
            if let Some(d) = def.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "{}\n", d.replace('\n', " "));
            }
            if def.get("properties").is_some() {
                table(&mut out, def);
            } else if def.get("enum").is_some() {
                let _ = writeln!(out, "One of: {}.", type_of(def));
            } else {
                let _ = writeln!(out, "Written as an empty mapping: `{{}}`.");
            }
        }
    }
    out
}
