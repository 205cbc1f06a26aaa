//! The environment's Key Vault secret store, when runnergen renders it
//! (`tokenSource.externalSecret.store: rendered`, the default): External Secrets Operator's
//! Azure Key Vault provider with workload identity (external-secrets docs
//! `provider/azure-key-vault.md`: `authType: WorkloadIdentity`, `serviceAccountRef`), a
//! managed identity of its own with Key Vault
//! Secrets User on the vault only, and, for a ClusterSecretStore, `spec.conditions` naming the
//! runners' manager namespaces only, so neither job pods nor anything else in the cluster can
//! read the runners' tokens through it.

use super::{Environment, azure};
use crate::facts;
use crate::spec::{self, Code, Problem, StoreKind, types as t};
use serde::Serialize;

/// The names the store's Azure identity uses in the templates. They start with `_`, which no
/// runner's symbol does (runner keys start with a letter), so they never meet a runner's.
pub const SYMBOL: &str = "_keyVaultStore";
pub const CLIENT_ID_OUTPUT: &str = "_keyVaultStoreClientId";
pub const PRINCIPAL_ID_OUTPUT: &str = "_keyVaultStorePrincipalId";

/// One federated credential of the store's identity: the service account ESO signs in with.
#[derive(Clone, Debug, Serialize)]
pub struct Credential {
    pub name: String,
    pub symbol: String,
    pub service_account: String,
    pub namespace: String,
    pub subject: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Store {
    pub kind: StoreKind,
    pub name: String,
    /// `https://<vault>.vault.azure.net` (Azure public cloud).
    pub vault_url: String,
    pub vault_id: String,
    pub identity: String,
    pub identity_symbol: String,
    pub client_id_output: &'static str,
    pub principal_id_output: &'static str,
    /// One for a ClusterSecretStore; one per runner for SecretStores (in each manager namespace).
    pub credentials: Vec<Credential>,
    /// The runners' manager namespaces: the ClusterSecretStore's `conditions`.
    pub namespaces: Vec<String>,
    /// The store identity's client ID and its one role (Key Vault Secrets User on the vault).
    pub azure: super::AzureIdentity,
}

/// The store of environment `env`, if runnergen renders it.
pub(super) fn resolve(
    s: &t::Spec,
    ek: &str,
    e: &t::Environment,
    env: &Environment,
    outputs: &super::outputs::Outputs,
    diags: &mut Vec<Problem>,
) -> Option<Store> {
    let es = s.token_source.external_secret.as_ref();
    if s.token_source.existing_secret.is_some()
        || es.and_then(|x| x.store) == Some(t::StoreSource::Existing)
    {
        return None;
    }
    let kv = e.key_vault.as_ref()?;
    let kind = es
        .and_then(|x| x.store_kind)
        .unwrap_or(StoreKind::ClusterSecretStore);
    let name = env.secret_store.clone()?;
    let vault_id = vault_id(e, kv, env);
    let store_namespace = es.and_then(|x| x.store_namespace.as_deref());
    let credentials = credentials(kind, &name, store_namespace, env);
    jobs_beside_store(ek, kind, &credentials, env, diags);
    let kp = format!("/environments/{}/keyVault", spec::ptr_key(ek));
    if credentials.len() > facts::MAX_FICS_PER_IDENTITY {
        diags.push(
            Problem::error_key(
                Code::E019,
                kp.clone(),
                format!(
                    "environment `{ek}`: {} SecretStores would need {} federated credentials on the store's identity; Azure allows {}",
                    credentials.len(),
                    credentials.len(),
                    facts::MAX_FICS_PER_IDENTITY
                ),
            )
            .hint("use `storeKind: ClusterSecretStore` (one credential, fenced by conditions to the runners' namespaces)"),
        );
    }
    let inline_at = format!("{kp}/storeClientId");
    let client_id = outputs.client_id(
        &format!("environment `{ek}`'s Key Vault store"),
        kv.store_client_id.as_ref(),
        inline_at,
        CLIENT_ID_OUTPUT,
        diags,
    );
    let role = "Key Vault Secrets User";
    let roles = vec![azure::RoleAssignment {
        role_name: Some(role.into()),
        role_definition_id: crate::roles::id(role).expect("in the table").into(),
        scope: azure::Scope::resource(&vault_id),
    }];
    let mut namespaces: Vec<String> = env
        .runners
        .iter()
        .map(|r| r.names.namespace.clone())
        .collect();
    namespaces.sort();
    namespaces.dedup();
    Some(Store {
        kind,
        name,
        vault_url: format!("https://{}.vault.azure.net", kv.name.to_lowercase()),
        vault_id,
        identity: format!("{}-{ek}-msi-runnergen-key-vault", e.region_code),
        identity_symbol: format!("{SYMBOL}Identity"),
        client_id_output: CLIENT_ID_OUTPUT,
        principal_id_output: PRINCIPAL_ID_OUTPUT,
        credentials,
        namespaces,
        azure: super::AzureIdentity::new(SYMBOL, client_id, roles),
    })
}

/// The name of the (Cluster)SecretStore environment `ek`'s ExternalSecrets read through:
/// `storeName` expanded for it (default `azure-key-vault`), or none when the tokens come from
/// existing Secrets. E020 when the expansion is not a Kubernetes object name.
pub(super) fn name(
    s: &t::Spec,
    ek: &str,
    e: &t::Environment,
    diags: &mut Vec<Problem>,
) -> Option<String> {
    if s.token_source.existing_secret.is_some() {
        return None;
    }
    let Some(template) = s
        .token_source
        .external_secret
        .as_ref()
        .and_then(|x| x.store_name.as_deref())
    else {
        return Some(super::defaults::STORE_NAME.into());
    };
    let name = crate::names::expand(template, |k| super::runner::env_placeholder(s, ek, e, k))
        .expect("checked by spec::check");
    if !facts::is_dns1123_subdomain(&name) {
        diags.push(
            Problem::error(
                Code::E020,
                "/tokenSource/externalSecret/storeName",
                format!("environment `{ek}`'s secret store would be named `{name}`, which is not a Kubernetes object name (a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' or '.')"),
            )
            .hint("keep the template's literal part lowercase; `{envLong}` must expand to lowercase too"),
        );
    }
    Some(name)
}

/// The service account a ClusterSecretStore's identity signs in as: `runnergen-key-vault` for
/// the default store, `runnergen-<store>` for one the spec names, so that environments sharing
/// a cluster, each with its own store, have accounts (and federated subjects) of their own.
fn cluster_store_account(store: &str) -> String {
    if store == super::defaults::STORE_NAME {
        ACCOUNT.into()
    } else {
        format!("runnergen-{store}")
    }
}

/// The service account of a SecretStore's identity, in each runner's manager namespace.
const ACCOUNT: &str = "runnergen-key-vault";

/// The vault's resource ID: in the identities' subscription and resource group unless the spec
/// names others.
fn vault_id(e: &t::Environment, kv: &t::KeyVault, env: &Environment) -> String {
    let subscription = kv
        .subscription
        .as_ref()
        .map_or(env.identity_subscription_id.clone(), |a| {
            e.subscriptions[a].to_lowercase()
        });
    let resource_group = kv
        .resource_group
        .clone()
        .unwrap_or_else(|| env.identity_resource_group.clone());
    format!(
        "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.KeyVault/vaults/{}",
        kv.name
    )
}

/// The store identity's federated credentials. The ClusterSecretStore's account lives with the
/// operator (`store_namespace`, default `external-secrets`); each SecretStore's in its
/// runner's manager namespace (a SecretStore reads a service account of its own namespace).
fn credentials(
    kind: StoreKind,
    store: &str,
    store_namespace: Option<&str>,
    env: &Environment,
) -> Vec<Credential> {
    match kind {
        StoreKind::ClusterSecretStore => {
            let ns = store_namespace.unwrap_or("external-secrets").to_owned();
            let account = cluster_store_account(store);
            vec![Credential {
                name: account.clone(),
                symbol: format!("{SYMBOL}Credential"),
                subject: format!("system:serviceaccount:{ns}:{account}"),
                service_account: account,
                namespace: ns,
            }]
        }
        StoreKind::SecretStore => env
            .runners
            .iter()
            .map(|r| Credential {
                name: format!("{ACCOUNT}-{}", r.key),
                symbol: format!("{SYMBOL}Credential_{}", r.names.symbol),
                subject: format!("system:serviceaccount:{}:{ACCOUNT}", r.names.namespace),
                service_account: ACCOUNT.into(),
                namespace: r.names.namespace.clone(),
            })
            .collect(),
    }
}

/// The store's identity reads every runner's token: its service account must not share a
/// namespace with job pods, which could then run as it (a job namespace, or a manager's
/// namespace where `serviceAccounts: shared` runs the jobs).
fn jobs_beside_store(
    ek: &str,
    kind: StoreKind,
    credentials: &[Credential],
    env: &Environment,
    diags: &mut Vec<Problem>,
) {
    for c in credentials {
        // A SecretStore's account lives in its manager's namespace by design; the cluster
        // store's must be in neither a manager's nor a job's.
        let cluster = kind == StoreKind::ClusterSecretStore;
        let Some(r) = env.runners.iter().find(|r| {
            r.names.job_namespace == c.namespace || cluster && r.names.namespace == c.namespace
        }) else {
            continue;
        };
        diags.push(
            Problem::error(
                Code::E020,
                "/tokenSource/externalSecret/storeNamespace",
                format!(
                    "environment `{ek}`: the Key Vault store's account would live in `{}`, runner `{}`'s namespace: its manager or jobs could read every runner's token through it",
                    c.namespace, r.key
                ),
            )
            .hint("keep `storeNamespace` for External Secrets Operator (default `external-secrets`)"),
        );
    }
}
