use super::arm::{SCHEMA_SUBSCRIPTION, TYPE_FIC, TYPE_IDENTITY, arm_literal, arm_str};
use super::*;
use crate::facts::{self, role_target_type};
use crate::model::{self, Fleet, fnv1a32};
use crate::spec;
use serde_json::Value as Json;
use std::collections::BTreeMap;

const FIXTURE: &str = include_str!("../../../fixtures/ascode/runners.yaml");

/// Phase 1 of a second fleet: no client IDs yet, a blob cache, resource-scoped roles on
/// several types, a custom role by GUID, values that need escaping, no Graph permissions.
const PHASE1: &str = r#"
version: 1
organization: ascode
gitlab: {url: "https://gitlab.example.com/"}
tokenSource: {existingSecret: {}}
environments:
  dev:
    longName: development
    regionCode: neu
    location: northeurope
    tenantId: 3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b
    subscriptions:
      apps: 11111111-2222-4333-8444-555555555555
    identities: {subscription: apps, resourceGroup: rg-neu-dev-gitlab}
    cluster:
      oidcIssuerUrl: https://northeurope.oic.prod-aks.azure.com/3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee/
runners:
  build-cache:
    environment: dev
    type: project
    path: group/app
    purpose: "[it's ${HOME} \\ ok]"
    cache:
      storageAccountId: /subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-cache/providers/Microsoft.Storage/storageAccounts/stcache
      container: runner-cache
    identity:
      roles:
        - role: Key Vault Secrets User
          scope: {resource: /subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/kv-dev}
        - role: AcrPull
          scope: {resource: /subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/acrdev}
        - role: AcrPush
          scope: {resource: /subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/acrdev}
        - role: 0b9f7a61-2c3d-4e5f-8a9b-0c1d2e3f4a5b
          scope: {subscription: apps, resourceGroup: "rg-(legacy)"}
  deploy:
    environment: dev
    type: group
    path: group
    purpose: Deploys
    identity:
      roles:
        - role: Reader
          scope: {subscription: apps}
"#;

fn fleet(yaml: &str) -> Fleet {
    let checked = spec::load(yaml).unwrap_or_else(|d| panic!("spec: {d:#?}"));
    model::build(&checked, &crate::compile::no_files).unwrap_or_else(|d| panic!("model: {d:#?}"))
}

fn render_env(fleet: &Fleet, key: &str) -> Result<Tree, RenderError> {
    let env = fleet
        .environments
        .iter()
        .find(|e| e.key == key)
        .expect("environment in the spec");
    let rendered = render(EnvCx {
        fleet,
        env,
        source: "fleet/runners.yaml",
    })?;
    Ok(rendered.files)
}

fn text<'t>(tree: &'t Tree, path: &str) -> &'t str {
    tree.get_str(path).unwrap_or_else(|| {
        panic!(
            "{path} missing; have {:?}",
            tree.paths().collect::<Vec<_>>()
        )
    })
}

fn json_file(tree: &Tree, path: &str) -> Json {
    serde_json::from_str(text(tree, path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn cases() -> Vec<(Fleet, &'static str)> {
    vec![
        (fleet(FIXTURE), "ss"),
        (fleet(PHASE1), "dev"),
        (
            fleet(&crate::testing::read("fixtures/cache/runners.yaml")),
            "ss",
        ),
    ]
}

fn env<'f>(fleet: &'f Fleet, key: &str) -> &'f model::Environment {
    fleet.environments.iter().find(|e| e.key == key).unwrap()
}

/// The identities deployment's inner resources.
fn identity_resources(main: &Json) -> Vec<Json> {
    let deployment = main["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-identities"))
        })
        .expect("identities deployment");
    deployment["properties"]["template"]["resources"]
        .as_array()
        .unwrap()
        .clone()
}

/// Expected (lowercase scope ID, role GUID) pairs from the model.
fn model_pairs(env: &model::Environment) -> BTreeSet<(String, String)> {
    env.runners
        .iter()
        .flat_map(|r| {
            r.roles()
                .iter()
                .chain(r.cache_identity.iter().flat_map(|c| &c.roles))
        })
        .map(|ra| (ra.scope.id().to_lowercase(), ra.role_definition_id.clone()))
        .chain(
            env.store
                .iter()
                .flat_map(|s| &s.azure.role_groups)
                .flat_map(|g| {
                    g.roles
                        .iter()
                        .map(|r| (g.scope_id.to_lowercase(), r.id.clone()))
                }),
        )
        .collect()
}

/// (scope ID, role GUID) pairs the ARM JSON assigns.
fn json_pairs(main: &Json) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for d in main["resources"].as_array().unwrap() {
        if !d["name"].as_str().unwrap().starts_with("ra-") {
            continue;
        }
        let sub = d["subscriptionId"].as_str().unwrap();
        let params = &d["properties"]["parameters"];
        let inner = &d["properties"]["template"]["resources"][0];
        let scope = match (d["resourceGroup"].as_str(), inner["scope"].as_str()) {
            (None, None) => format!("/subscriptions/{sub}"),
            (Some(rg), None) => format!("/subscriptions/{sub}/resourceGroups/{rg}"),
            (Some(rg), Some(expr)) => {
                let ty = expr
                    .strip_prefix("[resourceId('")
                    .and_then(|s| s.strip_suffix("', parameters('resourceName'))]"))
                    .unwrap_or_else(|| panic!("scope expression {expr}"));
                let name = params["resourceName"]["value"].as_str().unwrap();
                format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{ty}/{name}")
            }
            (None, Some(_)) => panic!("resource scope without resource group"),
        };
        for role in params["roleDefinitionIds"]["value"].as_array().unwrap() {
            pairs.insert((scope.to_lowercase(), role.as_str().unwrap().to_owned()));
        }
    }
    pairs
}

/// Every Bicep declaration of a file by symbol: its `resource`/`module` line and body.
fn bicep_blocks(text: &str) -> BTreeMap<String, String> {
    let mut blocks = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line
            .strip_prefix("resource ")
            .or_else(|| line.strip_prefix("module "))
        else {
            continue;
        };
        let symbol = rest.split(' ').next().unwrap().to_owned();
        let mut block = format!("{line}\n");
        for body in lines.by_ref() {
            block.push_str(body);
            block.push('\n');
            if body == "}" || body == "}]" {
                break;
            }
        }
        assert!(
            blocks.insert(symbol.clone(), block).is_none(),
            "symbol {symbol} declared twice"
        );
    }
    blocks
}

/// The plain (non-expression) string leaves of an ARM value, ARM's `[[` escape undone.
fn arm_literals(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::String(s) if s.starts_with("[[") => out.push(s[1..].to_owned()),
        Json::String(s) if !s.starts_with('[') => out.push(s.clone()),
        Json::Array(a) => a.iter().for_each(|x| arm_literals(x, out)),
        Json::Object(o) => o.values().for_each(|x| arm_literals(x, out)),
        _ => {}
    }
}

/// The last string literal of an ARM expression (`format('{0}/{1}', 'a', 'b')` → `b`).
fn last_arm_argument(expr: &str) -> String {
    let end = expr.rfind('\'').unwrap();
    let start = expr[..end].rfind(", '").unwrap() + 3;
    expr[start..end].replace("''", "'")
}

/// Asserts that every literal of an ARM resource appears, as a Bicep string, in the Bicep
/// declaration of the same symbol, and that type and API version match its header.
fn assert_agrees(
    blocks: &BTreeMap<String, String>,
    symbol: &str,
    arm: &Json,
    literals: Vec<String>,
) {
    let block = blocks
        .get(symbol)
        .unwrap_or_else(|| panic!("no Bicep declaration `{symbol}`; have {:?}", blocks.keys()));
    if let (Some(t), Some(v)) = (arm["type"].as_str(), arm["apiVersion"].as_str())
        && t != "Microsoft.Resources/deployments"
    {
        assert!(
            block
                .lines()
                .next()
                .unwrap()
                .contains(&format!("'{t}@{v}'")),
            "{symbol}: type {t}@{v}\n{block}"
        );
    }
    assert!(!literals.is_empty(), "{symbol}: nothing compared");
    for l in literals {
        assert!(
            block.contains(&bicep_string(&l)),
            "{symbol}: ARM literal {l:?} is not in the Bicep declaration:\n{block}"
        );
    }
}

/// Braces, brackets and parentheses balance outside strings and comments.
fn balanced(bicep: &str) -> bool {
    let mut stack = Vec::new();
    for line in bicep.lines() {
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '/' if chars.peek() == Some(&'/') => break,
                '\'' => loop {
                    match chars.next() {
                        Some('\\') => {
                            chars.next();
                        }
                        Some('\'') => break,
                        Some(_) => {}
                        None => return false,
                    }
                },
                '{' | '[' | '(' => stack.push(c),
                '}' | ']' | ')' => {
                    let open = match c {
                        '}' => '{',
                        ']' => '[',
                        _ => '(',
                    };
                    if stack.pop() != Some(open) {
                        return false;
                    }
                }
                _ => {}
            }
        }
    }
    stack.is_empty()
}

#[test]
fn writes_the_expected_files() {
    let f = fleet(FIXTURE);
    let tree = render_env(&f, "ss").unwrap();
    let paths: Vec<&str> = tree.paths().collect();
    assert_eq!(
        paths,
        [
            "ss/azure/bicepconfig.json",
            "ss/azure/graph.bicep",
            "ss/azure/graph.json",
            "ss/azure/main.bicep",
            "ss/azure/main.json",
            "ss/azure/modules/identities.bicep",
            // The Key Vault store's Key Vault Secrets User on the vault.
            "ss/azure/modules/role-assignments-key-vaults.bicep",
            "ss/azure/modules/role-assignments-registries.bicep",
            "ss/azure/modules/role-assignments-resource-group.bicep",
            "ss/azure/modules/role-assignments-subscription.bicep",
        ]
    );
    let f = fleet(PHASE1);
    let tree = render_env(&f, "dev").unwrap();
    let paths: Vec<&str> = tree.paths().collect();
    assert_eq!(
        paths,
        [
            "dev/azure/bicepconfig.json",
            "dev/azure/main.bicep",
            "dev/azure/main.json",
            "dev/azure/modules/identities.bicep",
            "dev/azure/modules/role-assignments-key-vaults.bicep",
            "dev/azure/modules/role-assignments-registries.bicep",
            "dev/azure/modules/role-assignments-resource-group.bicep",
            "dev/azure/modules/role-assignments-storage-accounts.bicep",
            "dev/azure/modules/role-assignments-subscription.bicep",
        ],
        "graph files only when a runner has Graph permissions"
    );
    assert_eq!(
        json_file(&tree, "dev/azure/bicepconfig.json"),
        json!({"extensions": {"microsoftGraphV1": "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0"}})
    );
}

#[test]
fn files_are_tidy_and_headed() {
    for (f, key) in cases() {
        let tree = render_env(&f, key).unwrap();
        for (path, bytes) in tree.iter() {
            let s = std::str::from_utf8(bytes).unwrap();
            assert!(
                s.ends_with('\n') && !s.ends_with("\n\n"),
                "{path}: one final newline"
            );
            assert!(!s.contains('\r'), "{path}: LF only");
            assert!(
                s.lines().all(|l| l == l.trim_end()),
                "{path}: trailing blanks"
            );
            if path.ends_with(".bicep") {
                assert_eq!(
                    s.lines().next(),
                    Some("// generated by runnergen from fleet/runners.yaml; do not edit"),
                    "{path}"
                );
                assert!(balanced(s), "{path}: unbalanced brackets");
                assert!(
                    !s.contains("{{") && !s.contains("{%"),
                    "{path}: template syntax left"
                );
            }
        }
    }
}

#[test]
fn main_json_is_a_subscription_template() {
    for (f, key) in cases() {
        let tree = render_env(&f, key).unwrap();
        let main = json_file(&tree, &format!("{key}/azure/main.json"));
        assert_eq!(main["$schema"], SCHEMA_SUBSCRIPTION);
        assert_eq!(main["contentVersion"], "1.0.0.0");
        assert!(main.get("languageVersion").is_none());
        assert!(main["resources"].is_array());
        assert_eq!(main["metadata"]["_generator"], json!({"name": "runnergen"}));
        assert_eq!(
            main["metadata"]["description"],
            "generated by runnergen from fleet/runners.yaml; do not edit"
        );
        for r in &f
            .environments
            .iter()
            .find(|e| e.key == key)
            .unwrap()
            .runners
        {
            let summary = &main["metadata"]["runnergen"]["runners"][&r.key];
            assert_eq!(summary["roles"].as_array().unwrap().len(), r.roles().len());
        }
        let keys: BTreeSet<&str> = main
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let allowed: BTreeSet<&str> = [
            "$schema",
            "contentVersion",
            "metadata",
            "outputs",
            "resources",
        ]
        .into();
        assert!(keys.is_subset(&allowed), "{keys:?}");
        let e = env(&f, key);
        // The identities' resource group is referred to, not declared: its tags stay its own.
        let deployment = &main["resources"][0];
        assert_eq!(deployment["type"], "Microsoft.Resources/deployments");
        assert_eq!(
            deployment["resourceGroup"],
            e.identity_resource_group.as_str()
        );
        assert!(deployment.get("dependsOn").is_none());
        let main_bicep = text(&tree, &format!("{key}/azure/main.bicep"));
        assert!(main_bicep.contains(&format!(
                "//   az stack sub create --name runnergen-{key} --subscription {} --location {} --template-file main.json --action-on-unmanage deleteResources --deny-settings-mode none --yes\n",
                e.identity_subscription_id, e.location
            )));
        assert!(main_bicep.contains(&format!(
            "//   az stack sub show --name runnergen-{key} --subscription {} --query outputs > {key}.identity-outputs.json\n",
            e.identity_subscription_id
        )));
        // Which identity each client ID belongs to, for the rename check.
        for r in &e.runners {
            let id = &main["metadata"]["runnergen"]["runners"][&r.key]["identity"];
            assert_eq!(id["name"], r.names.identity.as_str());
            assert_eq!(id["clientId"].as_str(), r.client_id());
        }
        assert!(main_bicep.contains("\ntargetScope = 'subscription'\n"));
        // Two-phase rollout: every runner's client and principal IDs are outputs.
        for r in &e.runners {
            for o in [&r.names.client_id_output, &r.names.principal_id_output] {
                let v = main["outputs"][o.as_str()]["value"].as_str().unwrap();
                assert!(
                    v.starts_with("[reference(extensionResourceId(")
                        && v.ends_with(&format!(".outputs.{o}.value]")),
                    "{v}"
                );
                assert!(
                    main_bicep.contains(&format!("output {o} string = identities.outputs.{o}\n"))
                );
            }
        }
    }
}

#[test]
fn every_runner_has_an_identity_and_a_serial_federated_credential() {
    for (f, key) in cases() {
        let tree = render_env(&f, key).unwrap();
        let e = env(&f, key);
        let main = json_file(&tree, &format!("{key}/azure/main.json"));
        let resources = identity_resources(&main);
        let bicep = text(&tree, &format!("{key}/azure/modules/identities.bicep"));
        let mut previous: Option<String> = None;
        for r in &e.runners {
            let identity = resources
                .iter()
                .find(|x| x["type"] == TYPE_IDENTITY && x["name"] == r.names.identity.as_str())
                .unwrap_or_else(|| panic!("identity of {}", r.key));
            assert_eq!(identity["apiVersion"], "2024-11-30");
            assert_eq!(identity["properties"], json!({}));
            assert_eq!(identity["tags"]["managedBy"], "runnergen");
            assert_eq!(identity["tags"]["environment"], key);
            let fic_name = format!(
                "[format('{{0}}/{{1}}', '{}', '{}')]",
                r.names.identity, r.names.federated_credential
            );
            let fic = resources
                .iter()
                .find(|x| x["type"] == TYPE_FIC && x["name"] == fic_name.as_str())
                .unwrap_or_else(|| panic!("federated credential of {}", r.key));
            assert_eq!(fic["properties"]["issuer"], r.oidc_issuer_url.as_str());
            assert_eq!(
                fic["properties"]["subject"],
                r.names.federated_subject.as_str()
            );
            assert_eq!(fic["properties"]["audiences"], json!([facts::FIC_AUDIENCE]));
            let depends: Vec<&str> = fic["dependsOn"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap())
                .collect();
            assert!(depends.contains(
                &format!("[resourceId('{TYPE_IDENTITY}', '{}')]", r.names.identity).as_str()
            ));
            // Serial: each credential waits for the one before it.
            if let Some(p) = &previous {
                assert!(
                    depends.contains(&p.as_str()),
                    "{} not chained: {depends:?}",
                    r.key
                );
            }
            previous = Some(format!(
                "[resourceId('{TYPE_FIC}', '{}', '{}')]",
                r.names.identity, r.names.federated_credential
            ));

            for needle in [
                format!(
                    "resource {}Identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {{",
                    r.names.symbol
                ),
                format!("  name: {}\n", bicep_string(&r.names.identity)),
                format!("    purpose: {}\n", bicep_string(&r.purpose)),
                format!(
                    "  parent: {}Identity\n  name: {}\n",
                    r.names.symbol,
                    bicep_string(&r.names.federated_credential)
                ),
                format!("    issuer: {}\n", bicep_string(&r.oidc_issuer_url)),
                format!(
                    "    subject: {}\n",
                    bicep_string(&r.names.federated_subject)
                ),
                format!(
                    "output {} string = {}Identity.properties.clientId\n",
                    r.names.client_id_output, r.names.symbol
                ),
                format!(
                    "output {} string = {}Identity.properties.principalId\n",
                    r.names.principal_id_output, r.names.symbol
                ),
            ] {
                assert!(bicep.contains(&needle), "identities.bicep lacks {needle:?}");
            }
        }
        // A runner's identity, and its manager's cache identity where it has one; the Key
        // Vault store's credentials.
        let identities = e.runners.len()
            + e.runners
                .iter()
                .filter(|r| r.cache_identity.is_some())
                .count()
            + e.store.as_ref().map_or(0, |s| s.credentials.len());
        assert_eq!(
            bicep
                .matches("      'api://AzureADTokenExchange'\n")
                .count(),
            identities
        );
        assert_eq!(
            bicep.matches("  dependsOn: [\n").count(),
            e.runners.len() - 1 + e.store.as_ref().map_or(0, |s| s.credentials.len() - 1),
            "FIC chain"
        );
        assert_eq!(
            resources.iter().filter(|x| x["type"] == TYPE_FIC).count(),
            identities
        );
    }
}

#[test]
fn role_assignments_in_main_json_are_the_models() {
    for (f, key) in cases() {
        let tree = render_env(&f, key).unwrap();
        let main = json_file(&tree, &format!("{key}/azure/main.json"));
        let expected = model_pairs(env(&f, key));
        assert!(!expected.is_empty());
        assert_eq!(json_pairs(&main), expected, "main.json");
    }
}

/// Every literal property of every ARM resource (names, tags, locations, issuer, subject,
/// audiences, principal type, role IDs, scopes, resource names, Graph permissions) appears in
/// the Bicep declaration of the same symbol, so a reviewer reading the Bicep reads what
/// main.json and graph.json deploy.
#[test]
fn every_arm_literal_is_in_the_bicep_of_the_same_symbol() {
    for (f, key) in cases() {
        let tree = render_env(&f, key).unwrap();
        let e = env(&f, key);
        let bicep = |p: &str| bicep_blocks(text(&tree, &format!("{key}/azure/{p}")));
        let (main_bicep, identities_bicep) =
            (bicep("main.bicep"), bicep("modules/identities.bicep"));
        let main = json_file(&tree, &format!("{key}/azure/main.json"));
        let resources = main["resources"].as_array().unwrap();
        let mut compared = 0;

        // The resource group (declared only with `createResourceGroup`; otherwise Bicep
        // refers to it as existing and ARM names it in the deployment) and the identities
        // deployment.
        let declared = usize::from(e.create_resource_group);
        let deployment = &resources[declared];
        if e.create_resource_group {
            let mut lits = Vec::new();
            arm_literals(&resources[0], &mut lits);
            lits.retain(|l| !l.starts_with("Microsoft.") && l != facts::API_RESOURCE_GROUP);
            assert_agrees(&main_bicep, "rg", &resources[0], lits);
            assert_eq!(deployment["resourceGroup"], resources[0]["name"]);
        } else {
            assert!(
                main_bicep["rg"].contains(" existing = {"),
                "{}",
                main_bicep["rg"]
            );
            let rg = deployment["resourceGroup"].as_str().unwrap().to_owned();
            assert!(main_bicep["rg"].contains(&format!("name: '{rg}'")));
            assert!(
                resources
                    .iter()
                    .all(|r| r["type"] != "Microsoft.Resources/resourceGroups")
            );
        }
        assert_agrees(
            &main_bicep,
            "identities",
            deployment,
            vec![deployment["name"].as_str().unwrap().to_owned()],
        );
        compared += 2;

        // Identities and federated credentials, by the runner they belong to.
        for r in &e.runners {
            for x in identity_resources(&main) {
                let n = &r.names;
                let cache = r.cache_identity.is_some();
                let symbol = if x["type"] == TYPE_IDENTITY && x["name"] == n.identity.as_str() {
                    &n.identity_symbol
                } else if x["type"] == TYPE_FIC
                    && x["properties"]["subject"] == n.federated_subject.as_str()
                {
                    &n.credential_symbol
                } else if cache
                    && x["type"] == TYPE_IDENTITY
                    && x["name"] == n.cache_identity.as_str()
                {
                    &n.cache_identity_symbol
                } else if cache
                    && x["type"] == TYPE_FIC
                    && x["properties"]["subject"] == n.cache_federated_subject.as_str()
                {
                    &n.cache_credential_symbol
                } else {
                    continue;
                };
                let mut lits = Vec::new();
                arm_literals(&x["properties"], &mut lits);
                arm_literals(&x["tags"], &mut lits);
                match x["name"].as_str().unwrap() {
                    n if n.starts_with("[format(") => lits.push(last_arm_argument(n)),
                    n => lits.push(n.to_owned()),
                }
                lits.extend(x["location"].as_str().map(str::to_owned));
                assert_agrees(&identities_bicep, symbol, &x, lits);
                compared += 1;
            }
            // Role-assignment deployments: name, target subscription, group, resource, roles.
            let cache_groups = r.cache_identity.iter().flat_map(|c| &c.role_groups);
            for g in r
                .identity
                .iter()
                .flat_map(|i| &i.role_groups)
                .chain(cache_groups)
            {
                let d = resources
                    .iter()
                    .find(|d| d["name"] == g.deployment.as_str())
                    .unwrap_or_else(|| panic!("deployment {}", g.deployment));
                let mut lits = vec![g.deployment.clone()];
                for k in ["subscriptionId", "resourceGroup"] {
                    lits.extend(d[k].as_str().map(str::to_owned));
                }
                arm_literals(&d["properties"]["parameters"], &mut lits);
                assert_agrees(&main_bicep, &g.symbol, d, lits);
                // The assignment inside: the module file of its kind.
                let inner = &d["properties"]["template"]["resources"][0];
                let module = bicep(&crate::layout::AzureFile::RoleModule(g.kind).name());
                let mut lits = Vec::new();
                arm_literals(&inner["properties"], &mut lits);
                assert_agrees(&module, "assignments", inner, lits);
                compared += 2;
            }
        }
        assert_eq!(
            compared,
            2 + e
                .runners
                .iter()
                .map(|r| {
                    let cache = r.cache_identity.as_ref();
                    2 + 2 * r.identity.as_ref().map_or(0, |i| i.role_groups.len())
                        + cache.map_or(0, |c| 2 + 2 * c.role_groups.len())
                })
                .sum::<usize>()
        );

        // graph.json is keyed by symbol already.
        if let Some(graph) = tree.get_str(&format!("{key}/azure/graph.json")) {
            let graph: Json = serde_json::from_str(graph).unwrap();
            let blocks = bicep("graph.bicep");
            for (symbol, x) in graph["resources"].as_object().unwrap() {
                let mut lits = Vec::new();
                arm_literals(&x["properties"], &mut lits);
                for k in ["name", "subscriptionId", "resourceGroup"] {
                    lits.extend(x[k].as_str().map(str::to_owned));
                }
                if let Some(role) = x["properties"]["appRoleId"].as_str() {
                    lits.push(last_arm_argument(role));
                }
                assert_agrees(&blocks, symbol, x, lits);
            }
        }
    }
}

#[test]
fn role_assignments_are_idempotent_service_principal_assignments() {
    for (f, key) in cases() {
        let tree = render_env(&f, key).unwrap();
        let main = json_file(&tree, &format!("{key}/azure/main.json"));
        let mut seen = 0;
        for d in main["resources"].as_array().unwrap() {
            let name = d["name"].as_str().unwrap();
            if !name.starts_with("ra-") {
                continue;
            }
            seen += 1;
            assert!(name.len() <= facts::MAX_DEPLOYMENT_NAME);
            assert_eq!(
                d["properties"]["expressionEvaluationOptions"]["scope"],
                "inner"
            );
            let depends = d["dependsOn"][0].as_str().unwrap();
            assert!(
                depends.contains(&format!("'runnergen-{key}-identities'")),
                "{depends}"
            );
            let principal = d["properties"]["parameters"]["principalId"]["value"]
                .as_str()
                .unwrap();
            assert!(
                principal.starts_with("[reference(extensionResourceId("),
                "{principal}"
            );
            let ra = &d["properties"]["template"]["resources"][0];
            assert_eq!(ra["type"], "Microsoft.Authorization/roleAssignments");
            assert_eq!(ra["apiVersion"], facts::API_ROLE_ASSIGNMENT);
            let ra_name = ra["name"].as_str().unwrap();
            assert!(
                ra_name.starts_with("[guid(") && !ra_name.contains("reference("),
                "{ra_name}"
            );
            assert!(ra_name.contains("parameters('principalId')"));
            assert_eq!(ra["properties"]["principalType"], "ServicePrincipal");
            assert_eq!(
                ra["properties"]["roleDefinitionId"],
                "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', parameters('roleDefinitionIds')[copyIndex()])]"
            );
        }
        assert!(seen > 0);
        for (path, s) in tree.iter() {
            if path.contains("/modules/role-assignments-") {
                let s = std::str::from_utf8(s).unwrap();
                assert!(s.contains("  name: guid("), "{path}");
                assert!(
                    s.contains("    principalType: 'ServicePrincipal'\n"),
                    "{path}"
                );
                assert!(s.contains("param principalId string\n"), "{path}");
            }
        }
    }
}

#[test]
fn resource_scoped_modules_use_an_existing_target() {
    let f = fleet(PHASE1);
    let tree = render_env(&f, "dev").unwrap();
    let registries = text(&tree, "dev/azure/modules/role-assignments-registries.bicep");
    assert!(registries.contains(
            "resource target 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {\n  name: resourceName\n}\n"
        ));
    assert!(registries.contains("  name: guid(target.id, principalId, "));
    assert!(registries.contains("  scope: target\n"));
    let subscription = text(
        &tree,
        "dev/azure/modules/role-assignments-subscription.bicep",
    );
    assert!(subscription.contains("\ntargetScope = 'subscription'\n"));
    assert!(subscription.contains("  name: guid(subscription().id, principalId, "));
    // AcrPull and AcrPush on one registry: one module instance with both roles.
    let main = text(&tree, "dev/azure/main.bicep");
    assert_eq!(
        main.matches("'modules/role-assignments-registries.bicep'")
            .count(),
        1
    );
    assert!(main.contains("resourceName: 'acrdev'"));
}

#[test]
fn values_are_escaped() {
    let f = fleet(PHASE1);
    let tree = render_env(&f, "dev").unwrap();
    let purpose = "[it's ${HOME} \\ ok]";
    let identities = text(&tree, "dev/azure/modules/identities.bicep");
    assert!(
        identities.contains(r"    purpose: '[it\'s \${HOME} \\ ok]'"),
        "{identities}"
    );
    let main = json_file(&tree, "dev/azure/main.json");
    let identity = identity_resources(&main)
        .into_iter()
        .find(|r| r["type"] == TYPE_IDENTITY && r["name"] == "neu-dev-msi-gitlab-build-cache")
        .unwrap();
    assert_eq!(
        identity["tags"]["purpose"],
        format!("[{purpose}"),
        "ARM must not read it as an expression"
    );
    let bicep = text(&tree, "dev/azure/main.bicep");
    assert!(
        bicep.contains(
            r"scope: resourceGroup('11111111-2222-4333-8444-555555555555', 'rg-(legacy)')"
        )
    );
}

#[test]
fn graph_permissions_have_their_own_deployment() {
    let f = fleet(FIXTURE);
    let tree = render_env(&f, "ss").unwrap();
    let e = env(&f, "ss");
    let tf = e.runners.iter().find(|r| r.key == "tf").unwrap();
    let bicep = text(&tree, "ss/azure/graph.bicep");
    assert!(bicep.contains("\nextension microsoftGraphV1\n"));
    assert!(bicep.contains("AppRoleAssignment.ReadWrite.All"));
    assert!(bicep.contains(&format!(
            "az deployment sub create --name runnergen-ss-graph --subscription {} --location westeurope --template-file graph.json",
            e.identity_subscription_id
        )));
    assert!(bicep.contains("existing = {\n  appId: '00000003-0000-0000-c000-000000000000'\n}"));
    for p in tf.graph_permissions() {
        assert!(bicep.contains(&format!(
            "filter(graphSp.appRoles, r => r.value == '{p}')[0].id"
        )));
    }
    let json = json_file(&tree, "ss/azure/graph.json");
    assert_eq!(json["languageVersion"], "2.0");
    assert_eq!(json["$schema"], SCHEMA_SUBSCRIPTION);
    assert_eq!(
        json["imports"],
        json!({"microsoftGraphV1": {"provider": "MicrosoftGraph", "version": "1.0.0"}})
    );
    let resources = json["resources"].as_object().unwrap();
    assert_eq!(resources["graphSp"]["existing"], true);
    assert_eq!(resources["tfIdentity"]["existing"], true);
    assert_eq!(resources["tfIdentity"]["name"], tf.names.identity.as_str());
    let grants: Vec<&Json> = resources
        .values()
        .filter(|r| r["type"] == "Microsoft.Graph/appRoleAssignedTo@v1.0")
        .collect();
    assert_eq!(grants.len(), tf.graph.len());
    for g in grants {
        assert_eq!(
            g["properties"]["principalId"],
            "[reference('tfIdentity').principalId]"
        );
        assert_eq!(g["properties"]["resourceId"], "[reference('graphSp').id]");
        let role = g["properties"]["appRoleId"].as_str().unwrap();
        assert!(role.starts_with("[filter(reference('graphSp').appRoles, lambda('r', equals(lambdaVariables('r').value, '"));
    }
    // Graph needs no Azure resource in main: main.json stays array-form.
    let main = text(&tree, "ss/azure/main.bicep");
    assert!(!main.contains("Microsoft.Graph"));
}

#[test]
fn output_is_deterministic() {
    for (f, key) in cases() {
        assert_eq!(render_env(&f, key).unwrap(), render_env(&f, key).unwrap());
    }
}

#[test]
fn unsupported_resource_type_is_rejected_by_the_spec_check() {
    let yaml = PHASE1.replace(
        "/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/kv-dev",
        "/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet",
    );
    let diags = crate::spec::load(&yaml).expect_err("unsupported target type");
    assert!(
        diags.iter().any(|d| d.code == spec::Code::E016
            && d.message.contains("Microsoft.Network/virtualNetworks")),
        "{diags:?}"
    );
}

#[test]
fn escaping_helpers() {
    assert_eq!(bicep_string(r"it's ${x} $y \ "), r"'it\'s \${x} $y \\ '");
    assert_eq!(bicep_string("a\nb\u{1}"), r"'a\nb\u{1}'");
    assert_eq!(arm_str("o'brien"), "'o''brien'");
    assert_eq!(arm_literal("[x]"), "[[x]");
    assert_eq!(arm_literal("[x] y"), "[x] y");
    assert_eq!(comment_text("a\nb"), "a b");
    assert_eq!(fnv1a32(""), 0x811c_9dc5);
    assert_eq!(fnv1a32("a"), 0xe40c_292c);
    assert_eq!(
        role_target_type("microsoft.containerregistry/REGISTRIES").map(|t| t.module),
        Some("registries")
    );
    assert!(role_target_type("Microsoft.Storage/storageAccounts/blobServices").is_none());
}

/// A spec with `n` runners in one environment, each with a role on its own resource group and
/// a few with Graph permissions.
fn large(n: usize) -> String {
    let mut s = PHASE1[..PHASE1.find("runners:").unwrap()].to_owned();
    s.push_str("runners:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  r{i:04}:\n    environment: dev\n    type: group\n    path: group/team{i}\n    purpose: Runner {i}\n    identity:\n      clientId: {i:08x}-0000-4000-8000-{i:012x}\n      roles:\n        - role: Contributor\n          scope: {{subscription: apps, resourceGroup: rg-team-{i}}}\n"
        ));
        if i % 100 == 0 {
            s.push_str("      graphPermissions: [User.Read.All]\n");
        }
    }
    s
}

/// `spec` with its environment's identities in `shards` shards.
fn with_shards(spec: &str, shards: u32) -> String {
    let placement = "resourceGroup: rg-neu-dev-gitlab}";
    assert!(spec.contains(placement));
    spec.replacen(
        placement,
        &format!("resourceGroup: rg-neu-dev-gitlab, shards: {shards}}}"),
        1,
    )
}

/// The smallest shard count that holds runners `r0000` … of [`large`], each with `weight`
/// identities.
fn fitting(n: usize, weight: usize) -> u32 {
    let items: Vec<(u64, usize)> = (0..n)
        .map(|i| (model::fnv1a64(&format!("r{i:04}")), weight))
        .collect();
    model::fitting_count(&items, false, 1, model::SHARD_SIZE).unwrap()
}

/// ARM allows 64 outputs, 800 resources and 4 MB per template: a large environment deploys in
/// shards that each stay within them, every runner in exactly one, the one its key gives
/// (azure-docs templates/best-practices.md, "Template limits").
#[test]
fn a_thousand_runners_in_one_environment_deploy_in_shards_within_arm_limits() {
    let shards = fitting(1000, 1);
    let f = fleet(&with_shards(&large(1000), shards));
    let tree = render_env(&f, "dev").unwrap();
    let mains: Vec<&str> = tree
        .paths()
        .filter(|p| crate::layout::AzureFile::is_main_json(p.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(mains.len(), shards as usize, "{mains:?}");
    let mut runners = BTreeSet::new();
    for path in &mains {
        let text = text(&tree, path);
        let main: Json = serde_json::from_str(text).unwrap();
        assert!(text.len() <= 4 * 1024 * 1024, "{path}");
        assert!(main["outputs"].as_object().unwrap().len() <= 64, "{path}");
        assert!(main["resources"].as_array().unwrap().len() <= 800, "{path}");
        let inner = &identity_resources(&main);
        assert!(inner.len() <= 800);
        let n = path.trim_end_matches(".json").rsplit('-').next().unwrap();
        for r in main["metadata"]["runnergen"]["runners"]
            .as_object()
            .unwrap()
            .keys()
        {
            assert!(runners.insert(r.clone()), "{r} in two shards");
            assert_eq!(format!("{:02}", model::shard_of(r, shards)), n, "{r}");
        }
        // Each shard is its own deployment, stack and identities module.
        let bicep = text_of(&tree, &path.replace(".json", ".bicep"));
        assert!(bicep.contains(&format!(
            "module identities 'modules/identities-{n}.bicep' = {{"
        )));
        assert!(bicep.contains(&format!("az stack sub create --name runnergen-dev-{n} ")));
        assert!(bicep.contains(&format!("> dev-{n}.identity-outputs.json")));
        assert!(
            tree.get(&format!("dev/azure/modules/identities-{n}.bicep"))
                .is_some()
        );
    }
    assert_eq!(runners.len(), 1000);
    assert!(tree.get("dev/azure/main.json").is_none());
    // 30 runners stay one deployment.
    let tree = render_env(&fleet(&large(30)), "dev").unwrap();
    assert!(tree.get("dev/azure/main.json").is_some());
    assert!(!tree.paths().any(|p| p.contains("main-01")));
}

/// A runner with a cache identity has four outputs: it weighs two identities, and the shards
/// stay within ARM's 64 outputs.
#[test]
fn runners_with_cache_identities_shard_by_outputs() {
    let spec = large(40).replace(
        "    identity:\n",
        "    cache:\n      storageAccountId: /subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-cache/providers/Microsoft.Storage/storageAccounts/stcache\n      container: cache\n    identity:\n",
    );
    let shards = fitting(40, 2);
    assert!(
        shards > 2,
        "40 runners of two identities need more than 80 / 30"
    );
    let tree = render_env(&fleet(&with_shards(&spec, shards)), "dev").unwrap();
    let mains: Vec<&str> = tree
        .paths()
        .filter(|p| crate::layout::AzureFile::is_main_json(p.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(mains.len(), shards as usize, "{mains:?}");
    for path in mains {
        let main: Json = serde_json::from_str(text(&tree, path)).unwrap();
        let outputs = main["outputs"].as_object().unwrap().len();
        assert!(outputs <= 60, "{path}: {outputs} outputs");
    }
}

/// Every shard up to the count is rendered, one that holds no runner too: a valid template
/// that deploys the resource group and an empty identities deployment, with no outputs, so
/// that the runner that left it is deleted by its stack's update and no stack is orphaned.
#[test]
fn an_empty_shard_is_rendered_and_deploys_nothing() {
    let spec = with_shards(PHASE1, 5);
    let f = fleet(&spec);
    let env = &f.environments[0];
    let shards = env.shards();
    assert_eq!(shards.len(), 5);
    let empty = shards
        .iter()
        .find(|s| s.runners.is_empty())
        .expect("an empty shard of 5");
    let n = empty.number.unwrap();
    let tree = render_env(&f, "dev").unwrap();
    let main: Json =
        serde_json::from_str(text(&tree, &format!("dev/azure/main-{n:02}.json"))).unwrap();
    assert_eq!(main["outputs"], serde_json::json!({}));
    assert!(identity_resources(&main).is_empty());
    assert_eq!(
        main["metadata"]["runnergen"]["runners"],
        serde_json::json!({})
    );
    let bicep = text_of(&tree, &format!("dev/azure/main-{n:02}.bicep"));
    assert!(bicep.contains(&format!("az stack sub create --name runnergen-dev-{n:02} ")));
    assert!(
        tree.get(&format!("dev/azure/modules/identities-{n:02}.bicep"))
            .is_some()
    );
    assert!(tree.get(&format!("dev/azure/graph-{n:02}.json")).is_none());
}

/// What would still break a limit is refused with a clear error, not rendered.
#[test]
fn a_template_over_arms_limits_is_refused() {
    let mut spec = large(0);
    spec.push_str("  big:\n    environment: dev\n    type: group\n    path: group\n    purpose: Too many scopes\n    identity:\n      roles:\n");
    for i in 0..801 {
        spec.push_str(&format!(
            "        - role: Reader\n          scope: {{subscription: apps, resourceGroup: rg-extra-{i}}}\n"
        ));
    }
    let err = render_env(&fleet(&spec), "dev").unwrap_err();
    let RenderError::Limit(message) = err else {
        panic!("{err}")
    };
    assert!(
        message.contains("dev/azure/main.json would hold 802 resources (ARM allows 800)"),
        "{message}"
    );
}

fn text_of(tree: &Tree, path: &str) -> String {
    text(tree, path).to_owned()
}

/// With separate service accounts, the cache's SAS is signed by the manager as an identity of
/// its own: federated with the manager's account, holding the cache roles on the storage account
/// only; the job identity holds none of them.
#[test]
fn the_cache_is_signed_by_the_managers_own_identity() {
    let f = fleet(&crate::testing::read("fixtures/cache/runners.yaml"));
    let e = env(&f, "ss");
    let node = e.runners.iter().find(|r| r.key == "node").unwrap();
    let cache = node.cache_identity.as_ref().unwrap();
    assert_eq!(
        node.names.cache_federated_subject,
        "system:serviceaccount:gitlab-node:gitlab-runner-node"
    );
    let names = |roles: &[crate::model::RoleAssignment]| -> Vec<String> {
        roles.iter().map(|r| r.display_name()).collect()
    };
    assert_eq!(names(&cache.roles), ["Storage Blob Data Contributor"]);
    // It signs the SAS with a user-delegation key, which the role's own actions allow.
    let role = crate::roles::by_name("Storage Blob Data Contributor").unwrap();
    assert!(
        role.permissions.iter().flat_map(|p| &p.actions).any(|a| a
            == "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"),
        "Storage Blob Data Contributor generates user-delegation keys"
    );
    assert!(
        cache
            .roles
            .iter()
            .all(|r| r.scope.id().ends_with("/storageAccounts/stweusscache"))
    );
    assert!(
        node.roles()
            .iter()
            .all(|r| !r.scope.id().contains("storageAccounts")),
        "{:?}",
        names(node.roles())
    );

    let tree = render_env(&f, "ss").unwrap();
    let main = json_file(&tree, "ss/azure/main.json");
    let identities = &main["resources"][0]["properties"]["template"];
    let fic = identities["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["properties"]["subject"] == node.names.cache_federated_subject.as_str())
        .expect("the cache identity's credential");
    assert!(
        fic["name"]
            .as_str()
            .unwrap()
            .contains("'weu-ss-msi-gitlab-node-cache'")
    );
    let deployment = main["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"].as_str().unwrap().starts_with("ra-node_cache-"))
        .unwrap();
    assert!(
        deployment["properties"]["parameters"]["principalId"]["value"]
            .as_str()
            .unwrap()
            .ends_with(".outputs.nodeCachePrincipalId.value]")
    );
    assert!(main["outputs"]["nodeCacheClientId"].is_object());
}

/// With one account for manager and jobs, that account's identity signs: it holds the cache
/// roles and there is no second identity.
#[test]
fn with_a_shared_account_the_job_identity_signs_the_cache() {
    let text = crate::testing::read("fixtures/cache/runners.yaml").replacen(
        "    cache:\n",
        "    serviceAccounts: shared\n    cache:\n",
        1,
    );
    let f = fleet(&text);
    let node = &env(&f, "ss").runners[0];
    assert!(node.cache_identity.is_none());
    assert!(
        node.roles()
            .iter()
            .any(|r| r.display_name() == "Storage Blob Data Contributor")
    );
}
