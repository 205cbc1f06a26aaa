//! The exported live state, parsed and checked for the shape each command writes. A file that
//! is not JSON, or not what its command exports, is an error naming the file and the item.
//!
//! - `az role assignment list --all -o json`: an array of `{id, principalId,
//!   roleDefinitionId, roleDefinitionName, scope, …}` (azure-cli `role/custom.py`,
//!   `list_role_assignments`);
//! - `az identity list -o json`: an array of `{id, name, clientId, principalId, …}`;
//! - `az identity federated-credential list -o json`: an array of `{id, name, issuer,
//!   subject, audiences}`, the identity's name in the `id`;
//! - `kubectl get … -o json`: a `List` with `items`;
//! - GitLab's runner details (`GET /runners/:id`) as one array.

use super::{Input, Inputs};
use serde_json::Value;

/// A role assignment.
#[derive(Clone, Debug)]
pub struct RoleAssignment {
    pub id: String,
    pub principal_id: String,
    /// The role's display name, when the CLI filled it in.
    pub role_name: Option<String>,
    /// The role definition's GUID (the last segment of `roleDefinitionId`).
    pub role_id: String,
    pub scope: String,
}

impl RoleAssignment {
    /// The role in words: its name, else its GUID.
    pub fn role(&self) -> &str {
        self.role_name.as_deref().unwrap_or(&self.role_id)
    }
}

/// A user-assigned managed identity.
#[derive(Clone, Debug)]
pub struct ManagedIdentity {
    pub name: String,
    pub resource_group: String,
    pub client_id: String,
    pub principal_id: String,
}

/// A federated identity credential, on the identity its `id` names.
#[derive(Clone, Debug)]
pub struct Credential {
    pub identity: String,
    pub resource_group: String,
    pub name: String,
    pub issuer: String,
    pub subject: String,
}

/// A GitLab runner, as far as who can send it jobs.
#[derive(Clone, Debug)]
pub struct GitLabRunner {
    pub id: u64,
    pub description: String,
    /// `group_type`, `project_type`, `instance_type`.
    pub runner_type: String,
    /// Its group's full path (from the group's `web_url`), or its projects' paths.
    pub paths: Vec<String>,
    pub tags: Vec<String>,
    pub run_untagged: bool,
    pub note: Option<String>,
}

/// Everything exported, each `None` where its input was not given.
#[derive(Clone, Debug, Default)]
pub struct Live {
    pub role_assignments: Option<Vec<RoleAssignment>>,
    pub identities: Option<Vec<ManagedIdentity>>,
    pub credentials: Option<Vec<Credential>>,
    /// Identities a credential export says have none: an empty array names no identity, so
    /// an empty file named `fic-<identity>.json` (as docs/audit.md's export loop names them)
    /// speaks for the identity its name gives.
    pub without_credentials: Vec<String>,
    pub kubernetes: Option<Vec<Value>>,
    pub gitlab_runners: Option<Vec<GitLabRunner>>,
}

impl Live {
    pub fn parse(inputs: &Inputs) -> Result<Live, String> {
        let (credentials, without_credentials) = credential_exports(&inputs.federated_credentials)?;
        Ok(Live {
            role_assignments: all(&inputs.azure_roles, assignment)?,
            identities: opt(&inputs.identities, |f| each(f, &array(f)?, identity))?,
            credentials,
            without_credentials,
            kubernetes: opt(&inputs.kubernetes, kubernetes_list)?,
            gitlab_runners: opt(&inputs.gitlab_runners, |f| {
                each(f, &array(f)?, gitlab_runner)
            })?,
        })
    }
}

/// The credentials of every export (`None` when none is given), and the identities that an
/// empty export speaks for by its file name.
fn credential_exports(files: &[Input]) -> Result<(Option<Vec<Credential>>, Vec<String>), String> {
    if files.is_empty() {
        return Ok((None, Vec::new()));
    }
    let (mut all, mut none) = (Vec::new(), Vec::new());
    for f in files {
        let items = array(f)?;
        if items.is_empty() {
            none.extend(identity_of_file(&f.name));
        }
        all.extend(each(f, &items, credential)?);
    }
    Ok((Some(all), none))
}

/// The identity a credential export's file name gives: `fic-<identity>.json`, in any folder.
fn identity_of_file(name: &str) -> Option<String> {
    let file = name.rsplit(['/', '\\']).next()?;
    let identity = file.strip_prefix("fic-")?.strip_suffix(".json")?;
    (!identity.is_empty()).then(|| identity.to_owned())
}

/// The items of every file of a repeatable input, or `None` when none is given.
fn all<T>(
    files: &[Input],
    one: impl Fn(&Value) -> Result<T, String> + Copy,
) -> Result<Option<Vec<T>>, String> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for f in files {
        out.extend(each(f, &array(f)?, one)?);
    }
    Ok(Some(out))
}

fn opt<T>(
    input: &Option<Input>,
    parse: impl Fn(&Input) -> Result<T, String>,
) -> Result<Option<T>, String> {
    input.as_ref().map(parse).transpose()
}

/// The file as JSON, or an error at its line and column.
fn json(f: &Input) -> Result<Value, String> {
    serde_json::from_slice(&f.bytes)
        .map_err(|e| format!("{}:{}:{}: not JSON: {e}", f.name, e.line(), e.column()))
}

fn array(f: &Input) -> Result<Vec<Value>, String> {
    match json(f)? {
        Value::Array(a) => Ok(a),
        _ => Err(format!(
            "{}: expected a JSON array (`-o json` of a list command)",
            f.name
        )),
    }
}

/// Each item parsed by `one`, an error naming the file and the item's index.
fn each<T>(
    f: &Input,
    items: &[Value],
    one: impl Fn(&Value) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| one(v).map_err(|e| format!("{}: item {i} (`/{i}`): {e}", f.name)))
        .collect()
}

/// A string field.
fn text(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("no string `{key}`"))
}

/// The segment after `/<name>/` in an Azure resource ID (any case).
pub fn id_segment(id: &str, name: &str) -> Option<String> {
    let parts: Vec<&str> = id.split('/').collect();
    parts
        .windows(2)
        .find(|w| w[0].eq_ignore_ascii_case(name))
        .map(|w| w[1].to_owned())
}

fn assignment(v: &Value) -> Result<RoleAssignment, String> {
    let definition = text(v, "roleDefinitionId")?;
    Ok(RoleAssignment {
        id: text(v, "id")?,
        principal_id: text(v, "principalId")?,
        role_name: v["roleDefinitionName"].as_str().map(str::to_owned),
        role_id: definition.rsplit('/').next().unwrap_or_default().to_owned(),
        scope: text(v, "scope")?,
    })
}

fn identity(v: &Value) -> Result<ManagedIdentity, String> {
    let id = text(v, "id")?;
    Ok(ManagedIdentity {
        name: text(v, "name")?,
        resource_group: id_segment(&id, "resourceGroups").unwrap_or_default(),
        client_id: text(v, "clientId")?,
        principal_id: text(v, "principalId")?,
    })
}

fn credential(v: &Value) -> Result<Credential, String> {
    let id = text(v, "id")?;
    let identity = id_segment(&id, "userAssignedIdentities").ok_or_else(|| {
        format!("`id` names no identity (`…/userAssignedIdentities/<name>/…`): {id}")
    })?;
    Ok(Credential {
        identity,
        resource_group: id_segment(&id, "resourceGroups").unwrap_or_default(),
        name: text(v, "name")?,
        issuer: text(v, "issuer")?,
        subject: text(v, "subject")?,
    })
}

fn kubernetes_list(f: &Input) -> Result<Vec<Value>, String> {
    let v = json(f)?;
    let items = match (v["kind"].as_str(), v["items"].as_array()) {
        (Some("List"), Some(items)) => items.clone(),
        _ => {
            return Err(format!(
                "{}: expected a `List` with `items` (`kubectl get … -o json`)",
                f.name
            ));
        }
    };
    each(f, &items, |d| {
        text(d, "kind")?;
        d["metadata"]["name"]
            .as_str()
            .ok_or("no string `metadata.name`")?;
        Ok(d.clone())
    })
}

fn gitlab_runner(v: &Value) -> Result<GitLabRunner, String> {
    let id = v["id"].as_u64().ok_or("no number `id`")?;
    let runner_type = text(v, "runner_type")?;
    let list = |key: &str| v[key].as_array().cloned().unwrap_or_default();
    let mut paths: Vec<String> = list("groups")
        .iter()
        .filter_map(|g| g["web_url"].as_str())
        .filter_map(|u| {
            u.split_once("/groups/")
                .map(|(_, p)| p.trim_end_matches('/').to_owned())
        })
        .collect();
    paths.extend(
        list("projects")
            .iter()
            .filter_map(|p| p["path_with_namespace"].as_str().map(str::to_owned)),
    );
    let tags = v["tag_list"]
        .as_array()
        .ok_or("no array `tag_list` (the runner's details, `GET /runners/:id`)")?
        .iter()
        .map(|t| {
            t.as_str()
                .map(str::to_owned)
                .ok_or("a tag that is not a string")
        })
        .collect::<Result<_, _>>()?;
    Ok(GitLabRunner {
        id,
        description: v["description"].as_str().unwrap_or_default().to_owned(),
        runner_type,
        paths,
        tags,
        run_untagged: v["run_untagged"].as_bool().unwrap_or(false),
        note: v["maintenance_note"].as_str().map(str::to_owned),
    })
}
