//! What a runner may do, as far as review is concerned: its Azure roles and Graph permissions,
//! its job pods' Kubernetes access, privileged pods, who can run jobs on it, where its token
//! comes from. [`Access::of`] reads it from the model: the one source of security facts for
//! `diff` in both modes. `readback::access` reads the same facts back from a rendered
//! directory, for the side of a diff that has no model (a committed tree); a test keeps the two
//! equal on every fixture.

use crate::model::{Environment, Fleet, Runner, TokenSource};
use crate::spec::{AccessLevel, KubernetesAccess};
use std::collections::BTreeSet;

/// A runner's managed identity, as far as revoking it needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub resource_group: String,
    pub subscription_id: String,
    /// Once Azure created it and the spec or the outputs file carry it.
    pub client_id: Option<String>,
}

impl Identity {
    /// Who a role assignment names, as a shell word for `az role assignment delete
    /// --assignee`: the client ID, or a lookup of the principal by name.
    pub fn assignee(&self) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| self.principal_lookup())
    }

    /// `$(az identity show … --query principalId -o tsv)`.
    pub fn principal_lookup(&self) -> String {
        format!(
            "$(az identity show --name {} --resource-group {} --subscription {} --query principalId -o tsv)",
            self.name, self.resource_group, self.subscription_id
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// (role display name, scope ID)
    pub roles: BTreeSet<(String, String)>,
    pub graph: BTreeSet<String>,
    /// Only for runners whose Kubernetes files are rendered.
    pub kubernetes: Option<KubernetesAccess>,
    /// Only for runners whose Kubernetes files are rendered.
    pub privileged: Option<bool>,
    pub run_untagged: Option<bool>,
    pub protected: Option<bool>,
    pub token_source: Option<String>,
    /// The name the chart registers the manager under (it reaches the chart's shell script).
    /// Only for runners whose Kubernetes files are rendered.
    pub runner_name: Option<String>,
    pub identity: Option<Identity>,
    /// The runner manager's own identity for the Azure cache, and its (role, scope) pairs.
    pub manager_roles: BTreeSet<(String, String)>,
    pub manager_identity: Option<Identity>,
}

impl Access {
    /// What the rendered files of `r` grant.
    pub fn of(fleet: &Fleet, env: &Environment, r: &Runner) -> Access {
        let ready = r.ready();
        Access {
            roles: r
                .roles
                .iter()
                .map(|ra| (ra.display_name(), ra.scope.id()))
                .collect(),
            graph: r.graph_permissions().map(str::to_owned).collect(),
            kubernetes: ready.then_some(r.kubernetes_access),
            privileged: ready.then_some(r.privileged),
            run_untagged: Some(r.run_untagged),
            protected: Some(r.access_level == AccessLevel::RefProtected),
            token_source: Some(token_source(fleet, env, r)),
            runner_name: ready.then(|| r.names.runner_name.clone()),
            identity: r.has_identity.then(|| Identity {
                name: r.names.identity.clone(),
                resource_group: env.identity_resource_group.clone(),
                subscription_id: env.identity_subscription_id.clone(),
                client_id: r.client_id.clone(),
            }),
            manager_roles: r
                .cache_identity
                .iter()
                .flat_map(|c| &c.roles)
                .map(|ra| (ra.display_name(), ra.scope.id()))
                .collect(),
            manager_identity: r.cache_identity.as_ref().map(|c| Identity {
                name: r.names.cache_identity.clone(),
                resource_group: env.identity_resource_group.clone(),
                subscription_id: env.identity_subscription_id.clone(),
                client_id: c.client_id.clone(),
            }),
        }
    }
}

/// Where a runner's token is kept, in words.
fn token_source(fleet: &Fleet, env: &Environment, r: &Runner) -> String {
    match fleet.token {
        TokenSource::ExternalSecret { .. } => key_vault_source(
            env.key_vault.as_deref().unwrap_or("?"),
            &r.names.key_vault_secret,
        ),
        TokenSource::ExistingSecret => existing_secret_source(&r.names.token_secret),
    }
}

pub fn key_vault_source(vault: &str, secret: &str) -> String {
    format!("Key Vault {vault}/{secret}")
}

pub fn existing_secret_source(name: &str) -> String {
    format!("existing Secret {name}")
}
