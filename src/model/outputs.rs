//! The outputs of an environment's Azure deployment (`identityOutputs`), read back so that
//! runners take their client IDs from them: phase 2 of the rollout becomes "commit the outputs
//! file" instead of copying IDs into the spec.
//!
//! Format: a JSON object of outputs, each `{"type": "String", "value": "…"}`, exactly as
//! `az stack sub show --query outputs` and `az deployment sub show --query
//! properties.outputs` print them (Azure CLI `az stack sub show`). `type` is accepted in
//! either casing, and output names case-insensitively: the CLI has been seen to change their
//! casing (same reference, "unconfirmed").

use crate::facts;
use crate::spec::{self, Code, Problem, types as t};
use std::collections::BTreeMap;

/// Reads a file named in the spec, relative to the spec's folder.
pub type Files<'a> = &'a (dyn Fn(&str) -> std::io::Result<String> + Sync);

/// One output of a deployment.
#[derive(Clone, Debug)]
pub struct Output {
    pub value: String,
    /// Where the file that holds it is named in the spec (a JSON pointer).
    pub at: String,
    pub file: String,
}

/// The outputs of one environment, by lowercased output name.
#[derive(Clone, Debug, Default)]
pub struct Outputs(BTreeMap<String, Output>);

impl Outputs {
    pub fn get(&self, name: &str) -> Option<&Output> {
        self.0.get(&name.to_lowercase())
    }

    /// A client ID of `who` (a runner, an environment's store): from the deployment output
    /// `output`, or inline (at `inline_at`); both given must agree (E041). Returns the ID and
    /// where it came from.
    pub fn client_id(
        &self,
        who: &str,
        inline: Option<&String>,
        inline_at: String,
        output: &str,
        diags: &mut Vec<Problem>,
    ) -> (Option<String>, Option<String>) {
        let inline = inline.map(|c| c.to_lowercase());
        match (inline, self.get(output)) {
            (Some(i), Some(o)) if i != o.value => {
                diags.push(
                    Problem::error(
                        Code::E041,
                        inline_at.clone(),
                        format!(
                            "{who}: client ID `{i}` disagrees with the deployment output `{output}` = `{}` in `{}`",
                            o.value, o.file
                        ),
                    )
                    .hint("remove the inline client ID: the outputs file is what Azure created"),
                );
                (Some(i), Some(inline_at))
            }
            (Some(i), _) => (Some(i), Some(inline_at)),
            (None, Some(o)) => (Some(o.value.clone()), Some(o.at.clone())),
            (None, None) => (None, None),
        }
    }
}

fn problem(at: &str, message: String, hint: &str) -> Problem {
    Problem::error(Code::E040, at, message).hint(hint)
}

const HINT: &str = "write it with `az stack sub show --name runnergen-<env> --subscription <id> --query outputs > <file>`";

/// Reads the outputs files of environment `ek`; every file that cannot be read or is not a
/// deployment's outputs is a problem.
pub fn load(ek: &str, e: &t::Environment, files: Files, diags: &mut Vec<Problem>) -> Outputs {
    let mut outputs = Outputs::default();
    let Some(paths) = &e.identity_outputs else {
        return outputs;
    };
    for (suffix, file) in paths.each() {
        let at = format!(
            "/environments/{}/identityOutputs{suffix}",
            spec::ptr_key(ek)
        );
        let Some(object) = read(files, file, &at, diags) else {
            continue;
        };
        for (name, output) in object {
            let typed = output
                .get("type")
                .and_then(|t| t.as_str())
                .is_none_or(|t| t.eq_ignore_ascii_case("string"));
            let Some(value) = output
                .get("value")
                .and_then(|v| v.as_str())
                .filter(|_| typed)
            else {
                diags.push(problem(
                    &at,
                    format!("`{file}`: output `{name}` is not `{{\"type\": \"String\", \"value\": \"…\"}}`"),
                    HINT,
                ));
                continue;
            };
            if name.to_lowercase().ends_with("clientid") && !facts::is_guid(value) {
                diags.push(problem(
                    &at,
                    format!(
                        "`{file}`: output `{name}` is {}, not a client ID (GUID)",
                        masked(value)
                    ),
                    HINT,
                ));
                continue;
            }
            let output = Output {
                value: value.to_lowercase(),
                at: at.clone(),
                file: file.to_owned(),
            };
            if let Some(first) = outputs.0.insert(name.to_lowercase(), output)
                && first.value != value.to_lowercase()
            {
                diags.push(problem(
                    &at,
                    format!(
                        "output `{name}` differs between `{}` and `{file}`",
                        first.file
                    ),
                    "keep one outputs file per deployment",
                ));
            }
        }
    }
    outputs
}

/// A value read from a file that should hold a client ID and does not: never shown, for the
/// file may hold anything (its length and whether it looks like a secret are).
fn masked(value: &str) -> String {
    let what = spec::shapes::hidden_secret(value).map_or(String::new(), |s| format!(", {s}"));
    format!(
        "`{}` ({} characters{what})",
        spec::shapes::REDACTED,
        value.chars().count()
    )
}

/// The outputs object of one file; none, with a problem, when it cannot be read or is not an
/// object of deployment outputs.
fn read(
    files: Files,
    file: &str,
    at: &str,
    diags: &mut Vec<Problem>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let text = match files(file) {
        Ok(t) => t,
        Err(err) => {
            diags.push(problem(at, format!("cannot read `{file}`: {err}"), HINT));
            return None;
        }
    };
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(err) => {
            diags.push(problem(
                at,
                format!(
                    "`{file}` is not JSON: line {}, column {}: {}",
                    err.line(),
                    err.column(),
                    err.to_string()
                        .split(" at line ")
                        .next()
                        .unwrap_or_default()
                ),
                HINT,
            ));
            return None;
        }
    };
    match json {
        serde_json::Value::Object(object) => Some(object),
        _ => {
            diags.push(problem(
                at,
                format!("`{file}` is not an object of deployment outputs"),
                HINT,
            ));
            None
        }
    }
}
