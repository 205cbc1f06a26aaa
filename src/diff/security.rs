//! Security-relevant changes between two [`Access`] summaries of one runner, ranked so that
//! whatever widens privileges comes first.

use crate::access::{Access, kubernetes_access_name};
use crate::roles::contain::{covered, graph_covers};
use crate::spec::KubernetesAccess;
use crate::spec::types::PromotionField;
use serde::{Serialize, Serializer};
use std::collections::BTreeSet;

/// What kind of security-relevant change; serialized kebab-case as `diff --format json` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecurityKind {
    RoleAdded,
    RoleWidened,
    RoleNarrowed,
    RoleRemoved,
    GraphPermissionAdded,
    GraphPermissionNarrowed,
    GraphPermissionRemoved,
    ClusterAdminAdded,
    KubernetesAccessWidened,
    KubernetesAccessNarrowed,
    PrivilegedOn,
    PrivilegedOff,
    RunUntaggedOn,
    ProtectionOff,
    TokenSourceChanged,
    RunnerNameChanged,
    IdentityRemoved,
    IdentityStackChanged,
    /// The runner's Kubernetes files go while its (new) identity waits for its client ID: an
    /// outage window, not a widening.
    RunnerStopped,
    TriggerWidened,
    LockedOff,
    TagsAdded,
    GitlabUrlChanged,
    PodSettingChanged,
    PrivilegedPlacementChanged,
    SharedServiceAccountOn,
    JobNamespaceChanged,
    ChartSourceChanged,
    ChartValueChanged,
}

impl SecurityKind {
    pub fn name(self) -> &'static str {
        match self {
            SecurityKind::RoleAdded => "role-added",
            SecurityKind::RoleWidened => "role-widened",
            SecurityKind::RoleNarrowed => "role-narrowed",
            SecurityKind::RoleRemoved => "role-removed",
            SecurityKind::GraphPermissionAdded => "graph-permission-added",
            SecurityKind::GraphPermissionNarrowed => "graph-permission-narrowed",
            SecurityKind::GraphPermissionRemoved => "graph-permission-removed",
            SecurityKind::ClusterAdminAdded => "cluster-admin-added",
            SecurityKind::KubernetesAccessWidened | SecurityKind::KubernetesAccessNarrowed => {
                "kubernetes-access-changed"
            }
            SecurityKind::PrivilegedOn => "privileged-on",
            SecurityKind::PrivilegedOff => "privileged-off",
            SecurityKind::RunUntaggedOn => "run-untagged-on",
            SecurityKind::ProtectionOff => "protection-off",
            SecurityKind::TokenSourceChanged => "token-source-changed",
            SecurityKind::RunnerNameChanged => "runner-name-changed",
            SecurityKind::IdentityRemoved => "identity-removed",
            SecurityKind::IdentityStackChanged => "identity-stack-changed",
            SecurityKind::RunnerStopped => "runner-stopped",
            SecurityKind::TriggerWidened => "trigger-widened",
            SecurityKind::LockedOff => "locked-off",
            SecurityKind::TagsAdded => "tags-added",
            SecurityKind::GitlabUrlChanged => "gitlab-url-changed",
            SecurityKind::PodSettingChanged => "pod-setting-changed",
            SecurityKind::PrivilegedPlacementChanged => "privileged-placement-changed",
            SecurityKind::SharedServiceAccountOn => "shared-service-account-on",
            SecurityKind::JobNamespaceChanged => "job-namespace-changed",
            SecurityKind::ChartSourceChanged => "chart-source-changed",
            SecurityKind::ChartValueChanged => "chart-value-changed",
        }
    }

    /// The promotion field it belongs to.
    pub fn field(self) -> Option<PromotionField> {
        Some(match self {
            SecurityKind::RoleAdded
            | SecurityKind::RoleWidened
            | SecurityKind::RoleNarrowed
            | SecurityKind::RoleRemoved => PromotionField::Roles,
            SecurityKind::GraphPermissionAdded
            | SecurityKind::GraphPermissionNarrowed
            | SecurityKind::GraphPermissionRemoved => PromotionField::GraphPermissions,
            SecurityKind::ClusterAdminAdded
            | SecurityKind::KubernetesAccessWidened
            | SecurityKind::KubernetesAccessNarrowed => PromotionField::KubernetesAccess,
            SecurityKind::PrivilegedOn | SecurityKind::PrivilegedOff => PromotionField::Privileged,
            SecurityKind::RunUntaggedOn => PromotionField::RunUntagged,
            SecurityKind::TriggerWidened => PromotionField::Path,
            SecurityKind::LockedOff => PromotionField::Locked,
            SecurityKind::TagsAdded => PromotionField::Tags,
            SecurityKind::PrivilegedPlacementChanged => PromotionField::NodeSelector,
            SecurityKind::SharedServiceAccountOn => PromotionField::SharedServiceAccount,
            SecurityKind::ProtectionOff => PromotionField::AccessLevel,
            SecurityKind::TokenSourceChanged
            | SecurityKind::RunnerNameChanged
            | SecurityKind::IdentityRemoved
            | SecurityKind::IdentityStackChanged
            | SecurityKind::RunnerStopped
            | SecurityKind::GitlabUrlChanged
            | SecurityKind::PodSettingChanged
            | SecurityKind::JobNamespaceChanged
            | SecurityKind::ChartSourceChanged
            | SecurityKind::ChartValueChanged => return None,
        })
    }

    /// The edge of the access picture (`flowchart`) a widening of this kind widens: who can
    /// reach the runner, or what its job pods can do in Kubernetes. Roles and Graph
    /// permissions are told edge by edge from the two sides; the rest (a chart source, a
    /// stack) has no edge of its own.
    pub fn widened_edge(self, w: &mut crate::flowchart::Widened) {
        if !self.widens() {
            return;
        }
        match self {
            SecurityKind::RunUntaggedOn
            | SecurityKind::ProtectionOff
            | SecurityKind::TriggerWidened
            | SecurityKind::LockedOff
            | SecurityKind::TagsAdded
            | SecurityKind::GitlabUrlChanged => w.trigger = true,
            SecurityKind::ClusterAdminAdded
            | SecurityKind::KubernetesAccessWidened
            | SecurityKind::PrivilegedOn
            | SecurityKind::PodSettingChanged
            | SecurityKind::PrivilegedPlacementChanged
            | SecurityKind::SharedServiceAccountOn
            | SecurityKind::JobNamespaceChanged => w.kubernetes = true,
            _ => {}
        }
    }

    /// True when the change gives the runner's jobs more power: `diff` exits 3.
    pub fn widens(self) -> bool {
        matches!(
            self,
            SecurityKind::RoleAdded
                | SecurityKind::RoleWidened
                | SecurityKind::GraphPermissionAdded
                | SecurityKind::ClusterAdminAdded
                | SecurityKind::KubernetesAccessWidened
                | SecurityKind::PrivilegedOn
                | SecurityKind::RunUntaggedOn
                | SecurityKind::ProtectionOff
                | SecurityKind::IdentityStackChanged
                | SecurityKind::TriggerWidened
                | SecurityKind::LockedOff
                | SecurityKind::TagsAdded
                | SecurityKind::GitlabUrlChanged
                | SecurityKind::PodSettingChanged
                | SecurityKind::PrivilegedPlacementChanged
                | SecurityKind::SharedServiceAccountOn
                | SecurityKind::JobNamespaceChanged
                | SecurityKind::ChartSourceChanged
                | SecurityKind::ChartValueChanged
        )
    }
}

impl Serialize for SecurityKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecurityChange {
    pub environment: String,
    pub runner: String,
    pub kind: SecurityKind,
    pub message: String,
    /// For a removed privilege: the command that revokes it where no deployment does.
    pub revocation: Option<String>,
    /// Declared in the spec as an intended difference between environments.
    pub expected: bool,
}

impl SecurityChange {
    pub fn widens(&self) -> bool {
        self.kind.widens()
    }

    /// Widening changes first, then by environment, runner, kind and message.
    pub fn sort(changes: &mut [SecurityChange]) {
        changes.sort_by(|a, b| {
            (
                !a.widens(),
                &a.environment,
                &a.runner,
                a.kind.name(),
                &a.message,
            )
                .cmp(&(
                    !b.widens(),
                    &b.environment,
                    &b.runner,
                    b.kind.name(),
                    &b.message,
                ))
        });
    }
}

impl Serialize for SecurityChange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("SecurityChange", 6)?;
        st.serialize_field("environment", &self.environment)?;
        st.serialize_field("runner", &self.runner)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("message", &self.message)?;
        st.serialize_field("widens", &self.widens())?;
        if let Some(r) = &self.revocation {
            st.serialize_field("revocation", r)?;
        }
        if self.expected {
            st.serialize_field("expected", &true)?;
        }
        st.end()
    }
}

/// True when scope `wide` contains scope `narrow` (ARM IDs are case-insensitive).
pub use crate::roles::contain::contains_scope;

fn scope_kind(scope: &str) -> &'static str {
    match scope.matches('/').count() {
        0..=2 => "subscription",
        3..=4 => "resource group",
        _ => "resource",
    }
}

/// A change found: its kind, its message and, for a removed privilege, the command that
/// revokes it.
pub(super) type Found = (SecurityKind, String, Option<String>);

/// Changes of the runner's Azure identities: roles, Graph permissions, the identity itself.
pub(super) fn azure_changes(old: &Access, new: &Access) -> Vec<Found> {
    let set = |roles: &[(String, String)]| roles.iter().cloned().collect::<BTreeSet<_>>();
    let mut out = role_changes(
        &set(&old.roles),
        &set(&new.roles),
        old.identity.as_ref(),
        "",
    );
    // The runner manager's own identity (the Azure cache's SAS): its roles are reviewed the same way.
    out.extend(role_changes(
        &set(&old.manager_roles),
        &set(&new.manager_roles),
        old.manager_identity.as_ref(),
        "manager (cache identity): ",
    ));
    out.extend(graph_added(old, new));
    for p in old.graph.difference(&new.graph) {
        out.push((
            SecurityKind::GraphPermissionRemoved,
            format!(
                "Microsoft Graph permission {p} removed: no deployment revokes it (graph.json is not a stack)"
            ),
            old.identity.as_ref().map(|i| revoke_graph(i, p)),
        ));
    }
    out.extend(stack_moved(old, new));
    out.extend(stopped(old, new));
    if let (Some(id), None) = (&old.identity, &new.identity) {
        out.push((
            SecurityKind::IdentityRemoved,
            format!(
                "managed identity {} removed: the stack deletes it on its next update; a plain deployment leaves it, with its role assignments",
                id.name
            ),
            Some(format!(
                "az identity delete --name {} --resource-group {} --subscription {}",
                id.name, id.resource_group, id.subscription_id
            )),
        ));
    }
    out
}

/// A running runner (its Kubernetes files committed) whose files the new side removes while
/// it stays in the spec waiting for an identity's client ID (a renamed identity is a new one):
/// from this change's apply until phase 1 is deployed and the client ID fed back, its manager is
/// gone and its jobs wait.
fn stopped(old: &Access, new: &Access) -> Option<Found> {
    if old.workload.is_none() || new.workload.is_some() || new.trigger.is_none() {
        return None;
    }
    let waits = new
        .identity
        .as_ref()
        .filter(|i| i.client_id.is_none())
        .or(new
            .manager_identity
            .as_ref()
            .filter(|i| i.client_id.is_none()))?;
    Some((
        SecurityKind::RunnerStopped,
        format!(
            "the runner's Kubernetes files are removed while managed identity {} waits for its client ID: its manager stops when this change is applied, and its jobs wait, until phase 1 is deployed and the client ID fed back (`runnergen validate` prints the commands); deploy the Azure side first to avoid the outage",
            waits.name
        ),
        None,
    ))
}

/// The runner's identities deployed by another stack: the shard that holds them changed. The
/// stack they leave no longer declares them, so its update with `deleteResources` deletes them
/// (a resource two stacks manage is deleted by the one that drops it), and the stack they
/// join creates them anew: new client and principal IDs. Ranked with the widenings: it breaks
/// the runner until the new outputs are fed back, and a reviewer must plan the order.
fn stack_moved(old: &Access, new: &Access) -> Option<Found> {
    let (Some(_), Some(id), Some(from), Some(to)) =
        (&old.identity, &new.identity, &old.stack, &new.stack)
    else {
        return None;
    };
    if from == to {
        return None;
    }
    // With the manager's cache identity, both move: the words follow the number.
    let (names, moves, it, its) = match &new.manager_identity {
        Some(m) => (
            format!("managed identities {} and {}", id.name, m.name),
            "move",
            "them",
            "their",
        ),
        None => (
            format!("managed identity {}", id.name),
            "moves",
            "it",
            "its",
        ),
    };
    Some((
        SecurityKind::IdentityStackChanged,
        format!(
            "{names} {moves} from stack {from} to {to}: deploying with deleteResources deletes {it} ({from} no longer declares {it}) and {to} creates {it} anew with new client and principal IDs, so {its} role assignments, federated credential and every pipeline using {its} client ID break until the new outputs are fed back (identityOutputs)"
        ),
        None,
    ))
}

/// New Microsoft Graph permissions: widening unless an old permission grants them already
/// (`X.ReadWrite.All` grants `X.Read.All`).
fn graph_added(old: &Access, new: &Access) -> Vec<Found> {
    let mut out = Vec::new();
    for p in new.graph.difference(&old.graph) {
        let found = match old.graph.iter().find(|q| graph_covers(q, p)) {
            Some(q) if new.graph.contains(q) => (
                SecurityKind::GraphPermissionNarrowed,
                format!("new Microsoft Graph permission {p}, already granted by {q}"),
            ),
            Some(q) => (
                SecurityKind::GraphPermissionNarrowed,
                format!("Microsoft Graph permission narrowed from {q} to {p}"),
            ),
            None => (
                SecurityKind::GraphPermissionAdded,
                format!("new Microsoft Graph permission {p}"),
            ),
        };
        out.push((found.0, found.1, None));
    }
    out
}

/// Changes of what the job pods may do in Kubernetes, compared only where `new` renders it.
pub(super) fn kubernetes_changes(old: &Access, new: &Access) -> Vec<Found> {
    let mut out = Vec::new();
    let (k_old, k_new) = (
        old.kubernetes.unwrap_or_default(),
        new.kubernetes.unwrap_or_default(),
    );
    if new.kubernetes.is_some() && k_new != k_old {
        let kind = if k_new == KubernetesAccess::ClusterAdmin {
            SecurityKind::ClusterAdminAdded
        } else if k_new > k_old {
            SecurityKind::KubernetesAccessWidened
        } else {
            SecurityKind::KubernetesAccessNarrowed
        };
        out.push((
            kind,
            format!(
                "job pods' Kubernetes access {} → {}",
                kubernetes_access_name(k_old),
                kubernetes_access_name(k_new)
            ),
            None,
        ));
    }
    match (old.privileged, new.privileged) {
        (Some(true), Some(false)) => out.push((
            SecurityKind::PrivilegedOff,
            "job pods are no longer privileged".into(),
            None,
        )),
        (old, Some(true)) if old != Some(true) => out.push((
            SecurityKind::PrivilegedOn,
            "job pods become privileged (Docker-in-Docker)".into(),
            None,
        )),
        _ => {}
    }
    out
}

/// Changes of who can trigger the runner, where its token comes from and its GitLab name.
pub(super) fn registration_changes(old: &Access, new: &Access) -> Vec<Found> {
    let mut out = Vec::new();
    if new.run_untagged == Some(true) && old.run_untagged != Some(true) {
        out.push((
            SecurityKind::RunUntaggedOn,
            "runner picks up untagged jobs".into(),
            None,
        ));
    }
    if new.protected == Some(false) && old.protected == Some(true) {
        out.push((
            SecurityKind::ProtectionOff,
            "runner no longer limited to protected branches and tags".into(),
            None,
        ));
    }
    if let (Some(a), Some(b)) = (&old.token_source, &new.token_source)
        && a != b
    {
        out.push((
            SecurityKind::TokenSourceChanged,
            format!("token source {a} → {b}"),
            None,
        ));
    }
    // The name reaches the chart's registration shell script; a reviewer should see it change.
    if let (Some(a), Some(b)) = (&old.runner_name, &new.runner_name)
        && a != b
    {
        out.push((
            SecurityKind::RunnerNameChanged,
            format!("GitLab runner name {a} → {b}"),
            None,
        ));
    }
    out
}

/// `az role assignment delete` for one (role, scope) of the old identity: exact without the
/// assignment's name, which ARM derives from the principal ID at deployment time.
fn revoke_role(id: Option<&crate::access::Identity>, role: &str, scope: &str) -> Option<String> {
    let id = id?;
    Some(format!(
        "az role assignment delete --assignee {} --role '{role}' --scope {scope}",
        id.assignee()
    ))
}

/// Microsoft Graph `DELETE /servicePrincipals/{resource}/appRoleAssignedTo/{id}` for one
/// permission of an identity (learn.microsoft.com graph/api/serviceprincipal-delete-approleassignedto),
/// with the IDs looked up by name: the Graph service principal by its well-known app ID, the
/// app role by its value, the assignment among the identity's.
fn revoke_graph(id: &crate::access::Identity, permission: &str) -> String {
    let graph = crate::facts::GRAPH_APP_ID;
    format!(
        "az rest --method DELETE --url \"https://graph.microsoft.com/v1.0/servicePrincipals/$(az ad sp show --id {graph} --query id -o tsv)/appRoleAssignedTo/$(az rest --method GET --url https://graph.microsoft.com/v1.0/servicePrincipals/{principal}/appRoleAssignments --query \"value[?appRoleId=='$(az ad sp show --id {graph} --query \"appRoles[?value=='{permission}'].id | [0]\" -o tsv)'].id | [0]\" -o tsv)\"",
        principal = id.principal_lookup(),
    )
}

/// Role changes between two sets of (role, scope), for the identity `who` names ("" for the
/// job identity). A new assignment is a narrowing only when the old assignments grant
/// everything it grants (`roles::contain::covered`: an old role on a containing scope whose
/// permissions contain the new one's); anything else widens: a swap (an old assignment on an
/// overlapping scope gave way to it) is `role-widened`, the rest `role-added`.
fn role_changes(
    old: &BTreeSet<(String, String)>,
    new: &BTreeSet<(String, String)>,
    old_id: Option<&crate::access::Identity>,
    who: &str,
) -> Vec<Found> {
    let mut out = Vec::new();
    let removed: Vec<&(String, String)> = old.difference(new).collect();
    let olds: Vec<(&str, &str)> = old.iter().map(|(r, s)| (r.as_str(), s.as_str())).collect();
    let mut replaced = BTreeSet::new();
    for (role, scope) in new.difference(old) {
        if covered((role, scope), &olds) {
            out.push(narrowed(
                old,
                &removed,
                (role, scope),
                old_id,
                who,
                &mut replaced,
            ));
            continue;
        }
        let was = removed
            .iter()
            .find(|(_, s)| contains_scope(scope, s) || contains_scope(s, scope));
        match was {
            Some((r, s)) => {
                replaced.insert((r.clone(), s.clone()));
                out.push((
                    SecurityKind::RoleWidened,
                    format!(
                        "{who}role widened from {r} on {s} to {role} on {scope} ({})",
                        scope_kind(scope)
                    ),
                    None,
                ))
            }
            None => out.push((
                SecurityKind::RoleAdded,
                format!(
                    "{who}new role assignment: {role} on {scope} ({})",
                    scope_kind(scope)
                ),
                None,
            )),
        }
    }
    for (role, scope) in removed.into_iter().filter(|r| !replaced.contains(*r)) {
        out.push((
            SecurityKind::RoleRemoved,
            format!(
                "{who}role assignment removed: {role} on {scope}: the stack deletes it on its next update; a plain deployment leaves it granted"
            ),
            revoke_role(old_id, role, scope),
        ));
    }
    out
}

/// A new assignment the old ones cover, named by the old assignment that covers it alone (a
/// removed one first, which it then replaces); when only several together do, by none.
fn narrowed(
    old: &BTreeSet<(String, String)>,
    removed: &[&(String, String)],
    (role, scope): (&str, &str),
    old_id: Option<&crate::access::Identity>,
    who: &str,
    replaced: &mut BTreeSet<(String, String)>,
) -> Found {
    let alone = |(r, s): &&(String, String)| covered((role, scope), &[(r.as_str(), s.as_str())]);
    if let Some((r, s)) = removed.iter().copied().find(alone) {
        replaced.insert((r.clone(), s.clone()));
        return (
            SecurityKind::RoleNarrowed,
            format!("{who}role narrowed from {r} on {s} to {role} on {scope}"),
            revoke_role(old_id, r, s),
        );
    }
    let message = match old.iter().find(alone) {
        Some((r, s)) => {
            format!("{who}new role assignment {role} on {scope}, already granted by {r} on {s}")
        }
        None => format!(
            "{who}new role assignment {role} on {scope}, already granted by the other assignments"
        ),
    };
    (SecurityKind::RoleNarrowed, message, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::security_changes;

    fn roles(list: &[(&str, &str)]) -> Access {
        Access {
            roles: list
                .iter()
                .map(|(r, s)| ((*r).to_owned(), (*s).to_owned()))
                .collect(),
            ..Default::default()
        }
    }

    /// Owner grants no data-plane action: Key Vault Secrets Officer in its place reads and
    /// writes secrets Owner could not, so the swap widens (in a promotion preview too, which
    /// compares through this function).
    #[test]
    fn owner_to_a_data_role_widens() {
        let scope = "/subscriptions/a/resourceGroups/rg";
        let old = roles(&[("Owner", scope)]);
        let new = roles(&[("Key Vault Secrets Officer", scope)]);
        let changes = security_changes("prd", "deploy", &old, &new);
        assert!(changes.iter().any(|c| c.widens()), "{changes:?}");
        assert!(
            !changes.iter().any(|c| c.kind == SecurityKind::RoleNarrowed),
            "{changes:?}"
        );
    }

    #[test]
    fn role_swaps_and_scope_widening() {
        let old = roles(&[("Contributor", "/subscriptions/a/resourceGroups/rg")]);
        let wider = roles(&[("Contributor", "/subscriptions/a")]);
        let owner = roles(&[("Owner", "/subscriptions/a/resourceGroups/rg")]);
        let c = security_changes("ss", "tf", &old, &wider);
        assert!(
            c.iter()
                .any(|c| c.kind == SecurityKind::RoleWidened && c.widens()),
            "{c:?}"
        );
        let c = security_changes("ss", "tf", &old, &owner);
        assert!(
            c.iter()
                .any(|c| c.kind == SecurityKind::RoleWidened && c.message.contains("Owner")),
            "{c:?}"
        );
        let c = security_changes("ss", "tf", &owner, &old);
        assert!(c.iter().all(|c| !c.widens()), "{c:?}");
        assert_eq!(c[0].kind, SecurityKind::RoleNarrowed);
    }

    const SUB: &str = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    const RG: &str = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-ci";
    const VAULT: &str = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-ci/providers/Microsoft.KeyVault/vaults/kv-ci";
    const ACR: &str = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-ci/providers/Microsoft.ContainerRegistry/registries/acrci";

    /// The one change a swap of one assignment for another makes.
    fn swap(old: (&str, &str), new: (&str, &str)) -> SecurityChange {
        let c = security_changes("ss", "tf", &roles(&[old]), &roles(&[new]));
        assert_eq!(c.len(), 1, "{c:?}");
        c.into_iter().next().unwrap()
    }

    #[test]
    fn swaps_that_grant_more_widen() {
        for (old, new) in [
            (
                ("Key Vault Secrets User", VAULT),
                ("Key Vault Secrets Officer", VAULT),
            ),
            (
                ("AcrPush", ACR),
                ("Azure Kubernetes Service RBAC Cluster Admin", ACR),
            ),
            (
                ("Contributor", RG),
                ("0b9f7a61-2c3d-4e5f-8a9b-0c1d2e3f4a5b", RG),
            ),
            (("Reader", SUB), ("Key Vault Secrets User", VAULT)),
        ] {
            let c = swap(old, new);
            assert_eq!(c.kind, SecurityKind::RoleWidened, "{c:?}");
            assert!(c.widens());
            assert!(
                c.message.contains(&format!(
                    "from {} on {} to {} on {}",
                    old.0, old.1, new.0, new.1
                )),
                "{c:?}"
            );
        }
    }

    #[test]
    fn swaps_that_grant_less_narrow() {
        for (old, new) in [
            (("Owner", RG), ("Contributor", RG)),
            (("Contributor", SUB), ("Contributor", RG)),
            (("AcrPush", ACR), ("AcrPull", ACR)),
        ] {
            let c = swap(old, new);
            assert_eq!(c.kind, SecurityKind::RoleNarrowed, "{c:?}");
            assert!(!c.widens());
        }
    }

    #[test]
    fn an_assignment_old_ones_already_grant_does_not_widen() {
        let old = roles(&[("Owner", RG)]);
        let new = roles(&[("Owner", RG), ("Reader", VAULT)]);
        let c = security_changes("ss", "tf", &old, &new);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, SecurityKind::RoleNarrowed);
        assert!(
            c[0].message.contains("already granted by Owner on"),
            "{c:?}"
        );
        // A new assignment beside them that grants more still widens.
        let new = roles(&[("Owner", RG), ("Key Vault Secrets User", VAULT)]);
        let c = security_changes("ss", "tf", &old, &new);
        assert_eq!(c[0].kind, SecurityKind::RoleAdded, "{c:?}");
    }

    #[test]
    fn graph_read_write_covers_read() {
        let graph = |ps: &[&str]| Access {
            graph: ps.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        };
        let c = security_changes(
            "ss",
            "tf",
            &graph(&["Group.ReadWrite.All"]),
            &graph(&["Group.Read.All"]),
        );
        assert!(c.iter().all(|c| !c.widens()), "{c:?}");
        assert!(
            c.iter()
                .any(|c| c.kind == SecurityKind::GraphPermissionNarrowed)
        );
        assert!(
            c.iter()
                .any(|c| c.kind == SecurityKind::GraphPermissionRemoved)
        );
        let c = security_changes(
            "ss",
            "tf",
            &graph(&["Group.Read.All"]),
            &graph(&["Group.ReadWrite.All"]),
        );
        assert!(
            c.iter()
                .any(|c| c.kind == SecurityKind::GraphPermissionAdded && c.widens())
        );
        let c = security_changes(
            "ss",
            "tf",
            &graph(&["Group.ReadWrite.All"]),
            &graph(&["Group.ReadWrite.All", "GroupMember.Read.All"]),
        );
        assert_eq!(c[0].kind, SecurityKind::GraphPermissionAdded);
    }

    #[test]
    fn kubernetes_access_changes_widen_or_narrow() {
        let with = |k| Access {
            kubernetes: Some(k),
            ..Default::default()
        };
        let c = security_changes(
            "ss",
            "tf",
            &with(KubernetesAccess::None),
            &with(KubernetesAccess::Namespace),
        );
        assert_eq!(c[0].kind, SecurityKind::KubernetesAccessWidened);
        assert!(c[0].widens());
        let c = security_changes(
            "ss",
            "tf",
            &with(KubernetesAccess::ClusterAdmin),
            &with(KubernetesAccess::Namespace),
        );
        assert_eq!(c[0].kind.name(), "kubernetes-access-changed");
        assert!(!c[0].widens());
        let c = security_changes(
            "ss",
            "tf",
            &with(KubernetesAccess::Namespace),
            &with(KubernetesAccess::ClusterAdmin),
        );
        assert_eq!(c[0].kind, SecurityKind::ClusterAdminAdded);
        assert!(c[0].widens());
    }

    /// An identity another shard's stack deploys is deleted by the stack it left and created
    /// anew: named, with both stacks, as a widening; the same stack, or a side without an
    /// identity, is no move.
    #[test]
    fn an_identity_that_changes_stacks_is_a_widening() {
        let at = |stack: &str, cache: bool| Access {
            identity: Some(crate::access::Identity {
                name: "weu-dev-msi-gitlab-tf".into(),
                ..Default::default()
            }),
            manager_identity: cache.then(|| crate::access::Identity {
                name: "weu-dev-msi-gitlab-tf-cache".into(),
                ..Default::default()
            }),
            stack: Some(stack.into()),
            ..Default::default()
        };
        let c = security_changes(
            "dev",
            "tf",
            &at("runnergen-dev-02", false),
            &at("runnergen-dev-03", false),
        );
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, SecurityKind::IdentityStackChanged);
        assert!(c[0].widens());
        assert_eq!(c[0].kind.name(), "identity-stack-changed");
        assert!(
            c[0].message.starts_with(
                "managed identity weu-dev-msi-gitlab-tf moves from stack runnergen-dev-02 to runnergen-dev-03: deploying with deleteResources deletes it"
            ),
            "{c:?}"
        );
        assert!(
            c[0].message.contains("new client and principal IDs"),
            "{c:?}"
        );
        let c = security_changes(
            "dev",
            "tf",
            &at("runnergen-dev", true),
            &at("runnergen-dev-01", true),
        );
        assert!(
            c[0].message.starts_with("managed identities weu-dev-msi-gitlab-tf and weu-dev-msi-gitlab-tf-cache move from stack runnergen-dev to runnergen-dev-01"),
            "{c:?}"
        );
        let same = security_changes(
            "dev",
            "tf",
            &at("runnergen-dev-02", false),
            &at("runnergen-dev-02", false),
        );
        assert!(same.is_empty(), "{same:?}");
        let new = security_changes(
            "dev",
            "tf",
            &Access::default(),
            &at("runnergen-dev-02", false),
        );
        assert!(new.is_empty(), "{new:?}");
    }

    #[test]
    fn kinds_serialize_kebab_case() {
        assert_eq!(
            serde_json::to_value(SecurityKind::GraphPermissionAdded).unwrap(),
            "graph-permission-added"
        );
    }

    #[test]
    fn scope_containment_respects_segments() {
        assert!(contains_scope(
            "/subscriptions/a",
            "/subscriptions/a/resourceGroups/x"
        ));
        assert!(!contains_scope("/subscriptions/a", "/subscriptions/ab"));
    }
}
