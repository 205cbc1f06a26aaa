//! The Azure side of an environment: per runner a user-assigned managed identity, its federated
//! identity credential and its role assignments, as Bicep (what a reviewer reads) and as the
//! equivalent ARM JSON (what `az deployment sub create` runs, no Bicep CLI needed).
//!
//! Layout under `<env>/azure/`:
//! - `main.bicep` / `main.json`: subscription-scope deployment in the identities' subscription. It
//!   creates the identities' resource group, deploys `modules/identities.bicep` into it, then one
//!   role-assignment module per runner and target scope.
//! - `modules/*.bicep`: the modules main.bicep uses (main.json inlines them as nested deployments).
//! - `graph.bicep` / `graph.json`: Microsoft Graph app-role assignments, only when a runner needs
//!   Graph permissions; deployed separately by an Entra admin.
//! - `bicepconfig.json`: the Microsoft Graph Bicep extension, so `bicep build graph.bicep` works.
//!
//! Each rule here names its upstream source.

mod arm;
mod bicep;
pub mod deploy;
#[cfg(test)]
mod tests;

pub use bicep::{bicep_string, comment_text};

use crate::layout::{self, AzureFile};
use crate::model::{Environment, ModuleKind, Shard};
use crate::render::invariants::Credential;
use crate::render::{EnvCx, RenderError, Rendered, to_json};
use crate::tree::Tree;
use serde_json::json;
use std::collections::BTreeSet;

/// The Bicep extension alias used by graph.bicep and declared in bicepconfig.json
/// (msgraph-bicep-types; learn.microsoft.com/graph/templates/how-to-dynamic-types).
pub const GRAPH_EXTENSION_ALIAS: &str = "microsoftGraphV1";
pub const GRAPH_EXTENSION_REF: &str =
    "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0";
pub const GRAPH_EXTENSION_VERSION: &str = "1.0.0";

/// The Azure files of one environment, with the federated credentials of its main templates.
/// The render runs the same two steps as separate jobs (`render::jobs`): [`render_env`] once,
/// [`render_shard`] per shard.
#[cfg(test)]
pub fn render(cx: EnvCx) -> Result<Rendered<Vec<Credential>>, RenderError> {
    let mut files = render_env(cx)?.files;
    let mut credentials = Vec::new();
    if cx.env.has_azure() {
        let kinds = module_kinds(cx.env);
        for shard in cx.env.shards() {
            credentials.extend(render_shard(cx.source, &shard, &kinds)?.add_to(&mut files)?);
        }
    }
    Ok(Rendered {
        files,
        facts: credentials,
    })
}

/// The files of an environment's Azure side that are not per shard: its role-assignment
/// modules and `bicepconfig.json`.
pub fn render_env(cx: EnvCx) -> Result<Rendered, RenderError> {
    let env = cx.env;
    let mut tree = Tree::new();
    if !env.has_azure() {
        return Ok(Rendered::files(tree));
    }
    for kind in &module_kinds(env) {
        tree.insert(
            layout::azure_file(&env.key, AzureFile::RoleModule(*kind)),
            bicep::role_module(cx.source, *kind)?,
        )?;
    }
    tree.insert(
        layout::azure_file(&env.key, AzureFile::BicepConfig),
        to_json(&json!({"extensions": {GRAPH_EXTENSION_ALIAS: GRAPH_EXTENSION_REF}})),
    )?;
    Ok(Rendered::files(tree))
}

/// One deployment shard of an environment (see `Environment::shards`: a large environment
/// deploys in shards, each within ARM's template limits): its main template in Bicep and ARM
/// JSON, its identities module and its Graph files. `kinds` are the environment's
/// [`module_kinds`]; its facts are the main template's federated credentials.
pub fn render_shard(
    source: &str,
    shard: &Shard,
    kinds: &BTreeSet<ModuleKind>,
) -> Result<Rendered<Vec<Credential>>, RenderError> {
    let mut tree = Tree::new();
    let mut credentials = Vec::new();
    let path = |f| layout::azure_file_in(&shard.env.key, shard.number, f);
    let bicep = bicep::Bicep::new(source, shard, kinds.iter().copied())?;
    tree.insert(path(AzureFile::MainBicep), bicep.main()?)?;
    let main = arm::main(shard, source);
    let main_path = path(AzureFile::MainJson);
    let text = to_json(&main);
    arm::check_limits(&main_path, &main, text.len())?;
    crate::render::invariants::credentials(&main, &mut credentials);
    tree.insert(main_path, text)?;
    tree.insert(path(AzureFile::Identities), bicep.identities()?)?;
    if shard.needs_graph() {
        tree.insert(path(AzureFile::GraphBicep), bicep.graph()?)?;
        let graph = arm::graph(shard, source);
        let graph_path = path(AzureFile::GraphJson);
        let text = to_json(&graph);
        arm::check_limits(&graph_path, &graph, text.len())?;
        tree.insert(graph_path, text)?;
    }
    Ok(Rendered {
        files: tree,
        facts: credentials,
    })
}

/// The kinds of role-assignment module the environment's role groups use: one module file each.
pub fn module_kinds(env: &Environment) -> BTreeSet<ModuleKind> {
    let store = env
        .store
        .iter()
        .flat_map(|s| &s.azure.role_groups)
        .map(|g| g.kind);
    env.runners
        .iter()
        .flat_map(|r| {
            let cache = r.cache_identity.iter().flat_map(|c| &c.role_groups);
            r.identity
                .iter()
                .flat_map(|i| &i.role_groups)
                .chain(cache)
                .map(|g| g.kind)
        })
        .chain(store)
        .collect()
}
