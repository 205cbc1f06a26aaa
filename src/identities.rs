//! Client IDs against the committed output: a client ID belongs to one Azure identity, and a
//! renamed identity (another `naming.identity`, another runner key) is a new identity with a
//! new client ID. The committed `main.json` records which identity each client ID belongs to
//! (`metadata.runnergen.runners.<runner>.identity`); `render` and `diff` refuse a client ID that
//! it ties to another identity name, so a rename can never wire a runner's pods to the old
//! identity's rights.

use crate::layout::{AzureFile, Location};
use crate::model::Fleet;
use crate::readback;
use crate::spec::{Diagnostic, yaml::Pos};
use std::collections::BTreeMap;

/// True for the path of a main template (`main.json` of an environment or a shard): the
/// files that hold committed client IDs.
pub fn is_main_template(path: &str) -> bool {
    matches!(Location::of(path), Location::Azure { file, .. } if AzureFile::is_main_json(file))
}

/// Identity name and runner of every client ID in the committed main templates `mains` (by
/// relative path): only those that differ from the render need reading, since a committed
/// main template byte for byte the one rendered now ties each client ID to the identity that
/// has it in the spec (one client ID is one identity, E041). `render` collects them as it
/// writes (`write::Writer::put`), `diff` as it compares (`diff::diff_render`).
pub fn committed(mains: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, (String, String)> {
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    for ((_, runner), a) in readback::access(mains) {
        // A runner's identity, and its manager's cache identity.
        for id in [a.identity, a.manager_identity].into_iter().flatten() {
            if let Some(client) = id.client_id {
                out.insert(client, (id.name, format!("runner `{runner}`")));
            }
        }
    }
    // The Key Vault store's identity (`metadata.runnergen.store.identity`).
    for (path, bytes) in mains {
        let Some(v) = readback::main_metadata(bytes) else {
            continue;
        };
        let id = &v["store"]["identity"];
        if let (Some(name), Some(client)) = (id["name"].as_str(), id["clientId"].as_str()) {
            let env = Location::of(path).env().unwrap_or_default().to_owned();
            out.insert(
                client.to_owned(),
                (name.to_owned(), format!("the Key Vault store of `{env}`")),
            );
        }
    }
    out
}

/// E042 for every identity (a runner's, its manager's cache identity, an environment's Key
/// Vault store) whose client ID the committed output ties to another identity.
pub fn check_renames(
    fleet: &Fleet,
    committed: &BTreeMap<String, (String, String)>,
    pos: &dyn Fn(&str) -> Pos,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for i in fleet.environments.iter().flat_map(|e| e.identities()) {
        let Some(id) = i.client_id else { continue };
        let Some((identity, owner)) = committed.get(id) else {
            continue;
        };
        if identity == i.name {
            continue;
        }
        let (who, name) = (i.who(), i.name);
        let at = i.client_id_at.cloned().unwrap_or_default();
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
