//! Client IDs against the committed output: a client ID belongs to one Azure identity, and a
//! renamed identity (another `naming.identity`, another runner key) is a new identity with a
//! new client ID. The committed `main.json` records which identity each client ID belongs to
//! (`metadata.runnergen.runners.<runner>.identity`); `render` and `diff` refuse a client ID that
//! it ties to another identity name, so a rename can never wire a runner's pods to the old
//! identity's rights.

use crate::layout::{AzureFile, Location};
use crate::model::Fleet;
use crate::readback;
use crate::spec::{self, Diagnostic, yaml::SourceMap};
use std::collections::BTreeMap;

/// Identity name and runner of every client ID in the committed `main.json` files among
/// `files` (an output directory's, by relative path).
pub fn committed(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, (String, String)> {
    let mains: BTreeMap<String, Vec<u8>> = files
        .iter()
        .filter(|(p, _)| {
            matches!(Location::of(p), Location::Azure { file, .. } if AzureFile::is_main_json(file))
        })
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect();
    readback::access(&mains)
        .into_iter()
        .filter_map(|((_, runner), a)| {
            let id = a.identity?;
            Some((id.client_id?, (id.name, runner)))
        })
        .collect()
}

/// E042 for every runner whose client ID the committed output ties to another identity.
pub fn check_renames(
    fleet: &Fleet,
    committed: &BTreeMap<String, (String, String)>,
    map: &SourceMap,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for r in fleet.environments.iter().flat_map(|e| &e.runners) {
        let Some(id) = &r.client_id else { continue };
        let Some((identity, runner)) = committed.get(id) else {
            continue;
        };
        if *identity == r.names.identity {
            continue;
        }
        let at = r.client_id_at.clone().unwrap_or_default();
        out.push(
            Diagnostic::error(
                "E042",
                spec::pos(map, &at),
                at,
                format!(
                    "runner `{}`: client ID `{id}` belongs to the identity `{identity}` (runner `{runner}` in the committed output), but the runner now derives the identity `{}`",
                    r.key, r.names.identity
                ),
            )
            .hint(
                "a renamed identity is a new Azure identity with its own client ID: drop this client ID (from the spec or the outputs file), render and deploy the Azure files, then take the new identity's client ID from the deployment outputs",
            ),
        );
    }
    out
}
