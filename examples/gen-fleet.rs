//! Prints a generated fleet spec of N runners over two environments (dev and prd), for scale
//! tests and benchmarks: `cargo run --example gen-fleet -- 10000 > fleet.yaml`.
//!
//! Every fourth runner is privileged; each has a client ID and one Contributor role on a
//! resource group of its own, so it renders completely. About 315 bytes per runner.

/// The spec text of a fleet of `n` runners.
pub fn fleet(n: usize) -> String {
    let mut s = String::from(
        "version: 1\norganization: bench\ngitlab:\n  url: https://gitlab.example.com/\nenvironments:\n",
    );
    let envs = [
        (
            "dev",
            "development",
            "weu",
            "westeurope",
            "11111111-2222-4333-8444-555555555555",
        ),
        (
            "prd",
            "production",
            "neu",
            "northeurope",
            "66666666-7777-4888-9999-aaaaaaaaaaaa",
        ),
    ];
    for (key, long, region, location, sub) in envs {
        s.push_str(&format!(
            "  {key}:\n    longName: {long}\n    regionCode: {region}\n    location: {location}\n    tenantId: 3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b\n    subscriptions:\n      apps: {sub}\n    identities: {{subscription: apps, resourceGroup: rg-{region}-{key}-gitlab}}\n    cluster:\n      oidcIssuerUrl: https://{location}.oic.prod-aks.azure.com/3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b/{sub}/\n    keyVault: {{name: kv-{region}-{key}-gitlab}}\n"
        ));
    }
    s.push_str("runners:\n");
    for i in 0..n {
        let (key, _, region, _, _) = envs[i % 2];
        s.push_str(&format!(
            "  r{i:04}:\n    environment: {key}\n    type: group\n    path: org/team{i:04}\n    tags: [t{}, {key}]\n    purpose: runner {i}\n    privileged: {}\n    identity:\n      clientId: {i:08x}-0000-4000-8000-{i:012x}\n      roles:\n        - role: Contributor\n          scope: {{subscription: apps, resourceGroup: rg-{region}-{key}-t{i:04}}}\n",
            i % 7,
            i % 4 == 0
        ));
    }
    s
}

#[allow(dead_code)]
fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    print!("{}", fleet(n));
}
