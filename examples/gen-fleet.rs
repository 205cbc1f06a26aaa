//! Prints a generated fleet spec to stdout, for scale tests and benchmarks:
//! `cargo run --release --example gen-fleet -- --runners 1000 --environments 10 > fleet.yaml`.
//!
//! Runners take turns at the environments, alternate group and project, and rotate through role
//! scopes of every kind (a subscription, a resource group, a container registry, a storage
//! account, a key vault). Every fourth is privileged, every fifth has a blob cache, every
//! fiftieth a Microsoft Graph permission. Each carries its client IDs, so everything renders.
//! The output depends on the two numbers only.

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
            "  {key}:\n    longName: environment-{e:02}\n    regionCode: {region}\n    location: {location}\n    tenantId: 3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b\n    subscriptions:\n      apps: {sub}\n    identities: {{subscription: apps, resourceGroup: rg-{region}-{key}-gitlab}}\n    cluster:\n      oidcIssuerUrl: https://{location}.oic.prod-aks.azure.com/3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b/{sub}/\n    keyVault: {{name: kv-{key}-gitlab, storeClientId: {e:08x}-5555-4555-8555-555555555555}}\n",
            sub = sub(e)
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
        if i % 5 == 2 {
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
