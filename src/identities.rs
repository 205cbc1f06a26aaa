//! Client IDs against the committed output: a client ID belongs to one Azure identity, and a
//! renamed identity (another `naming.identity`, another runner key) is a new identity with a
//! new client ID. The committed `main.json` records which identity each client ID belongs to
//! (`metadata.runnergen.runners.<runner>.identity`); `validate`, `render` and `diff` refuse a
//! client ID that it ties to another identity name, so a rename can never wire a runner's pods
//! to the old identity's rights.
//!
//! The check reads the committed side itself (the output directory, or `out/` at the git
//! revision `diff --base` names): every main template, one per environment or shard, whatever
//! the render makes of it.

use crate::layout::{AZURE_DIR, AzureFile, Location};
use crate::model::Fleet;
use crate::outdir::Base;
use crate::readback;
use crate::spec::{Diagnostic, yaml::Pos};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// True for the path of a main template (`main.json` of an environment or a shard): the
/// files that hold committed client IDs.
pub fn is_main_template(path: &str) -> bool {
    matches!(Location::of(path), Location::Azure { file, .. } if AzureFile::is_main_json(file))
}

/// True for a folder (relative path) that can hold a main template: an environment's, and
/// its Azure folder.
fn may_hold_main_template(folder: &str) -> bool {
    folder
        .split_once('/')
        .is_none_or(|(_, inside)| inside == AZURE_DIR)
}

/// Every client ID the committed main templates of `base` record, with the identity name and
/// who has it (`runner `tf``, `the Key Vault store of `ss``), in the order of the templates'
/// paths. Fails when the base cannot be read.
pub fn committed(base: &Base) -> Result<BTreeMap<String, Vec<(String, String)>>, String> {
    let found: Mutex<BTreeMap<String, Vec<Record>>> = Mutex::default();
    base.each(
        &may_hold_main_template,
        &is_main_template,
        &|path, bytes| {
            let ids = identities_in(path, &bytes);
            let mut found = found.lock().unwrap_or_else(|p| p.into_inner());
            found.insert(path.to_owned(), ids);
        },
    )?;
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (client, name, owner) in found
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_values()
        .flatten()
    {
        out.entry(client).or_default().push((name, owner));
    }
    Ok(out)
}

/// A client ID, the identity name it belongs to, and who has that identity.
type Record = (String, String, String);

/// Client ID, identity name and who has it, of every identity one committed main template
/// records (`metadata.runnergen`, parsed once): runners' identities, their managers' cache
/// identities, the Key Vault store's.
fn identities_in(path: &str, bytes: &[u8]) -> Vec<Record> {
    let Some(v) = readback::main_metadata(bytes) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut record = |id: &serde_json::Value, owner: &dyn Fn() -> String| {
        if let (Some(name), Some(client)) = (id["name"].as_str(), id["clientId"].as_str()) {
            out.push((client.to_owned(), name.to_owned(), owner()));
        }
    };
    if let Some(runners) = v["runners"].as_object() {
        for (runner, facts) in runners {
            for key in ["identity", "managerIdentity"] {
                record(&facts[key], &|| format!("runner `{runner}`"));
            }
        }
    }
    let env = Location::of(path).env().unwrap_or_default();
    record(&v["store"]["identity"], &|| {
        format!("the Key Vault store of `{env}`")
    });
    out
}

/// E042 for every identity (a runner's, its manager's cache identity, an environment's Key
/// Vault store) whose client ID the committed output (`base`) ties to another identity; `pos`
/// places a client ID's JSON pointer in the spec. Fails when the base cannot be read.
pub fn check(
    fleet: &Fleet,
    base: &Base,
    pos: &dyn Fn(&str) -> Pos,
) -> Result<Vec<Diagnostic>, String> {
    Ok(check_renames(fleet, &committed(base)?, pos))
}

/// E042 for every identity whose client ID `committed` ties to another identity.
fn check_renames(
    fleet: &Fleet,
    committed: &BTreeMap<String, Vec<(String, String)>>,
    pos: &dyn Fn(&str) -> Pos,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for i in fleet.environments.iter().flat_map(|e| e.identities()) {
        let Some(id) = i.identity.client_id.as_deref() else {
            continue;
        };
        let Some((identity, owner)) = committed
            .get(id)
            .and_then(|ids| ids.iter().find(|(name, _)| name != i.name))
        else {
            continue;
        };
        let (who, name) = (i.who(), i.name);
        let at = i.identity.client_id_at.clone().unwrap_or_default();
        out.push(
            Diagnostic::error(
                crate::spec::Code::E042,
                pos(&at),
                at,
                format!(
                    "{who}: client ID `{id}` belongs to the identity `{identity}` ({owner} in the committed output), but it now derives the identity `{name}`"
                ),
            )
            .hint(
                "a renamed identity is a new Azure identity with its own client ID: drop this client ID (from the spec or the outputs file), render and deploy the Azure files, then take the new identity's client ID from the deployment outputs",
            ),
        );
    }
    out
}
