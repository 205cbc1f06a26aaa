//! Prints a generated fleet spec to stdout, for scale tests and benchmarks:
//! `cargo run --release --example gen-fleet -- --runners 1000 --environments 10 > fleet.yaml`.
//!
//! Runners take turns at the environments, alternate group and project, and rotate through role
//! scopes of every kind (a subscription, a resource group, a container registry, a storage
//! account, a key vault). Every fourth is privileged, every fifth of an environment's has a
//! blob cache (so the manager's identities spread over the environments), every fiftieth a
//! Microsoft Graph permission. Each carries its client IDs, so everything renders. Each
//! environment deploys its identities in as many shards as it needs
//! (`identities.shards`, from runnergen's own assignment of runners to shards), with room for
//! a few more runners where the count allows. The output depends on the two numbers only.

use runnergen::model::{SHARD_SIZE, fitting_count, fnv1a64};

/// Whether runner `i` of a fleet over `environments` environments has a blob cache (and so a
/// manager identity of its own): every fifth runner of each environment.
fn has_cache(i: usize, environments: usize) -> bool {
    (i / environments) % 5 == 2
}

/// The shard count of environment `e`: the smallest at which every shard holds at most 25
/// identities (room to add runners), else at most [`SHARD_SIZE`]; 1 when one deployment holds
/// them all.
fn shards(runners: usize, environments: usize, e: usize) -> u32 {
    let items: Vec<(u64, usize)> = (e..runners)
        .step_by(environments)
        .map(|i| {
            let weight = 1 + usize::from(has_cache(i, environments));
            (fnv1a64(&format!("r{i:05}")), weight)
        })
        .collect();
    // The Key Vault store's identity is in the first shard.
    let store = 1;
    if store + items.iter().map(|(_, w)| w).sum::<usize>() <= SHARD_SIZE {
        return 1;
    }
    fitting_count(&items, true, 1, SHARD_SIZE - 5)
        .or_else(|| fitting_count(&items, true, 1, SHARD_SIZE))
        // Too many for any count: the most there can be, which runnergen refuses (E024).
        .unwrap_or(runnergen::layout::MAX_SHARDS)
}

/// The spec text of a fleet of `runners` runners over `environments` environments (1–100).
pub fn fleet(runners: usize, environments: usize) -> String {
    let environments = environments.clamp(1, 100);
    let regions = [
        ("weu", "westeurope"),
        ("neu", "northeurope"),
        ("eus", "eastus"),
        ("wus", "westus"),
    ];
    let sub = |e: usize| format!("{e:08x}-2222-4333-8444-555555555555");
    let mut s = String::from(
        "version: 1\norganization: bench\ngitlab:\n  url: https://gitlab.example.com/\nenvironments:\n",
    );
    for e in 0..environments {
        let (region, location) = regions[e % regions.len()];
        let key = format!("e{e:02}");
        s.push_str(&format!(
            "  {key}:\n    longName: environment-{e:02}\n    regionCode: {region}\n    location: {location}\n    tenantId: 3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b\n    subscriptions:\n      apps: {sub}\n    identities: {{subscription: apps, resourceGroup: rg-{region}-{key}-gitlab{shards}}}\n    cluster:\n      oidcIssuerUrl: https://{location}.oic.prod-aks.azure.com/3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b/{sub}/\n    keyVault: {{name: kv-{key}-gitlab, storeClientId: {e:08x}-5555-4555-8555-555555555555}}\n",
            sub = sub(e),
            shards = match shards(runners, environments, e) {
                1 => String::new(),
                n => format!(", shards: {n}"),
            },
        ));
    }
    s.push_str("runners:\n");
    for i in 0..runners {
        let e = i % environments;
        let (region, _) = regions[e % regions.len()];
        let group = format!(
            "/subscriptions/{}/resourceGroups/rg-{region}-shared",
            sub(e)
        );
        let scope = match i % 5 {
            0 => "{subscription: apps}".to_owned(),
            1 => format!("{{subscription: apps, resourceGroup: rg-t{i:05}}}"),
            2 => format!(
                "{{resource: {group}/providers/Microsoft.ContainerRegistry/registries/acr{e:02}}}"
            ),
            3 => format!(
                "{{resource: {group}/providers/Microsoft.Storage/storageAccounts/st{e:02}artifacts}}"
            ),
            _ => {
                format!("{{resource: {group}/providers/Microsoft.KeyVault/vaults/kv-{e:02}-apps}}")
            }
        };
        let role = [
            "Reader",
            "Contributor",
            "AcrPush",
            "Storage Blob Data Contributor",
            "Key Vault Secrets User",
        ][i % 5];
        s.push_str(&format!(
            "  r{i:05}:\n    environment: e{e:02}\n    type: {}\n    path: org/team{i:05}\n    tags: [t{}]\n    purpose: runner {i}\n    privileged: {}\n",
            if i % 2 == 0 { "group" } else { "project" },
            i % 7,
            i % 4 == 0,
        ));
        if has_cache(i, environments) {
            s.push_str(&format!(
                "    cache:\n      storageAccountId: {group}/providers/Microsoft.Storage/storageAccounts/st{e:02}cache\n      container: runner-cache\n      managerClientId: {i:08x}-1111-4111-8111-{i:012x}\n"
            ));
        }
        s.push_str(&format!(
            "    identity:\n      clientId: {i:08x}-0000-4000-8000-{i:012x}\n      roles:\n        - role: {role}\n          scope: {scope}\n"
        ));
        if i % 50 == 7 {
            s.push_str("      graphPermissions: [Group.Read.All]\n");
        }
    }
    s
}

#[allow(dead_code)]
fn main() {
    let mut args = std::env::args().skip(1);
    let (mut runners, mut environments) = (1000, 2);
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--runners", Some(n)) => runners = n,
            ("--environments", Some(n)) => environments = n,
            _ => {
                eprintln!("usage: gen-fleet [--runners N] [--environments M]");
                std::process::exit(2);
            }
        }
    }
    print!("{}", fleet(runners, environments));
}
