//! The two-phase rollout's guidance: Azure assigns an identity's client ID when it creates the
//! identity, so until the spec (or its outputs file) carries it, no Kubernetes file that would
//! need it is rendered. `validate` and `render` say which runners wait and what to run next.

use crate::layout::{self, AzureFile};
use crate::model::{self, Environment, Fleet, Runner};
use crate::render::azure::deploy;
use crate::spec::{self, Code, Problem};

/// Phase-1 guidance for the runners whose client ID is not known yet: one note per environment
/// naming them, or with `each_runner` one per runner at its `identity`.
/// The rollout is two-phase because Azure assigns the client ID when it creates the identity;
/// until the spec carries it, no Kubernetes file that would need it is rendered.
pub fn notes(fleet: &Fleet, out_dir: &str, each_runner: bool) -> Vec<Problem> {
    let mut notes = Vec::new();
    for env in &fleet.environments {
        let hint = phase_hint(env, out_dir);
        if env
            .store
            .as_ref()
            .is_some_and(|s| s.azure.client_id.is_none())
        {
            let at = format!("/environments/{}/keyVault", spec::ptr_key(&env.key));
            notes.push(
                Problem::note_key(
                    Code::N003,
                    at,
                    format!(
                        "environment `{}`: the Key Vault store waits for its managed identity's client ID (output `{}`), so secret-store.yaml is held back",
                        env.key,
                        model::store::CLIENT_ID_OUTPUT
                    ),
                )
                .hint(hint.clone()),
            );
        }
        let waiting: Vec<&Runner> = env.runners.iter().filter(|r| !r.ready()).collect();
        if waiting.is_empty() {
            continue;
        }
        if !each_runner {
            let at = format!("/environments/{}", spec::ptr_key(&env.key));
            let keys: Vec<&str> = waiting.iter().map(|r| r.key.as_str()).collect();
            notes.push(
                Problem::note_key(
                    Code::N001,
                    at,
                    if keys.len() == 1 {
                        format!(
                            "environment `{}`: 1 runner waits for its managed identity's client ID, so its Kubernetes files are held back: {}",
                            env.key, keys[0]
                        )
                    } else {
                        format!(
                            "environment `{}`: {} runners wait for their managed identities' client IDs, so their Kubernetes files are held back: {} (-v lists each)",
                            env.key,
                            keys.len(),
                            keys.join(", ")
                        )
                    },
                )
                .hint(hint),
            );
            continue;
        }
        for r in waiting {
            // A runner that waits has an identity (`spec::check` refuses a cache without one),
            // so its instance writes or inherits `identity`: the note is shown there.
            let at = if r.has_identity() {
                format!("{}/identity", r.at)
            } else {
                r.at.clone()
            };
            notes.push(
                Problem::note_key(
                    Code::N001,
                    at,
                    format!("runner `{}` waits for its managed identity's client ID: its Kubernetes files are held back", r.key),
                )
                .hint(hint.clone()),
            );
        }
    }
    notes
}

/// What to do for phase 2 of environment `env`'s rollout: deploy, save the outputs, name them.
fn phase_hint(env: &Environment, out_dir: &str) -> String {
    let shards = env.shards();
    let first = &shards[0];
    let mut hint = format!(
        "phase 1: `{deploy}`; phase 2: `{outputs} > {file}` next to the spec, set environments.{env}.identityOutputs to `{file}`, and render again",
        deploy = deploy::stack_create(
            first,
            &format!(
                "{}/{}",
                out_dir.trim_end_matches('/'),
                layout::azure_file_in(&env.key, first.number, AzureFile::MainJson)
            )
        ),
        outputs = deploy::stack_outputs(first),
        file = first.outputs_file(),
        env = env.key,
    );
    if shards.len() > 1 {
        hint.push_str(&format!(
            "; the environment deploys in {} shards of at most {} identities (ARM's template limits): do the same for main-02.json … main-{:02}.json, listing every outputs file in identityOutputs",
            shards.len(),
            model::SHARD_SIZE,
            shards.len()
        ));
    }
    // Microsoft Graph permissions are not in the stack (deployment stacks do not take the
    // Graph extension): an Entra admin deploys graph.json once the identities exist.
    let graphs: Vec<String> = shards
        .iter()
        .filter(|s| s.needs_graph())
        .map(|s| {
            deploy::graph_create(
                s,
                &format!(
                    "{}/{}",
                    out_dir.trim_end_matches('/'),
                    layout::azure_file_in(&env.key, s.number, AzureFile::GraphJson)
                ),
            )
        })
        .collect();
    if !graphs.is_empty() {
        hint.push_str(&format!(
            "; after phase 1 an Entra admin grants the Microsoft Graph permissions: `{}`",
            graphs.join("`, `")
        ));
    }
    hint
}
