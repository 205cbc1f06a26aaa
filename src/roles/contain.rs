//! Whether role assignments grant everything others grant: the rule `diff` ranks role and
//! Graph changes by. A new assignment (role, scope) is covered when every action and data
//! action it grants at that scope some old assignment grants too: an old assignment on a
//! scope that contains the new one, whose role's effective permissions contain the new
//! role's. Decided soundly and conservatively: what cannot be shown contained (a custom role,
//! a role without permissions in the catalogue, a conditional grant) is not.

use super::pattern::{covers, intersects};
use super::{Permission, Role, key, lookup};

/// True when scope `wide` contains scope `narrow`: the same ARM ID or one below it, compared
/// case-insensitively on `/` boundaries (a resource is inside its resource group, which is
/// inside its subscription).
pub fn contains_scope(wide: &str, narrow: &str) -> bool {
    let (w, n) = (
        wide.trim_end_matches('/').to_ascii_lowercase(),
        narrow.trim_end_matches('/').to_ascii_lowercase(),
    );
    n.starts_with(&w) && (n.len() == w.len() || n.as_bytes()[w.len()] == b'/')
}

/// Which of a block's lists: control-plane actions, or data actions.
#[derive(Clone, Copy)]
enum Plane {
    Control,
    Data,
}

fn lists(p: &Permission, plane: Plane) -> (&[String], &[String]) {
    match plane {
        Plane::Control => (&p.actions, &p.not_actions),
        Plane::Data => (&p.data_actions, &p.not_data_actions),
    }
}

/// True when `old`'s block grants every action pattern `q` of `new`'s block grants: a pattern
/// of `old` covers `q`, and each exclusion of `old` that could touch `q` is excluded by `new`
/// too (covered by one of `new`'s exclusions). A block with a condition grants nothing here.
fn block_grants(old: &Permission, new: &Permission, q: &str, plane: Plane) -> bool {
    let (granted, excluded) = lists(old, plane);
    let (_, new_excluded) = lists(new, plane);
    !old.condition
        && granted.iter().any(|p| covers(p, q))
        && excluded
            .iter()
            .filter(|n| intersects(n, q))
            .all(|n| new_excluded.iter().any(|m| covers(m, n)))
}

/// True when the roles of `old` together grant everything role `new` grants, in both planes.
/// A condition on `new` is ignored (it only narrows what `new` grants).
pub fn roles_grant(old: &[&Role], new: &Role) -> bool {
    new.permissions.iter().all(|b| {
        [Plane::Control, Plane::Data].into_iter().all(|plane| {
            lists(b, plane).0.iter().all(|q| {
                old.iter()
                    .flat_map(|r| &r.permissions)
                    .any(|o| block_grants(o, b, q, plane))
            })
        })
    })
}

/// True when old role `old` alone grants everything role `new` grants (both by name or GUID).
pub fn role_covers(old: &str, new: &str) -> bool {
    covered((new, "/"), &[(old, "/")])
}

/// True when the assignments `old` (role by name or GUID, scope ID) grant everything the
/// assignment `new` grants: the same role on a containing scope, or built-in roles on
/// containing scopes whose permissions together contain the new role's.
pub fn covered(new: (&str, &str), old: &[(&str, &str)]) -> bool {
    let (role, scope) = new;
    let above: Vec<&str> = old
        .iter()
        .filter(|(_, s)| contains_scope(s, scope))
        .map(|(r, _)| *r)
        .collect();
    if above.iter().any(|r| key(r) == key(role)) {
        return true;
    }
    let Some(new) = lookup(role) else {
        return false; // a custom role: only itself covers it
    };
    let old: Vec<&Role> = above.iter().filter_map(|r| lookup(r)).collect();
    roles_grant(&old, new)
}

/// True when Microsoft Graph application permission `old` grants what `new` grants: the same
/// permission, or `X.ReadWrite.All` for `X.Read.All`.
pub fn graph_covers(old: &str, new: &str) -> bool {
    old == new
        || new
            .strip_suffix(".Read.All")
            .is_some_and(|x| old.strip_suffix(".ReadWrite.All") == Some(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    const RG: &str = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-ci";
    const VAULT: &str = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-ci/providers/Microsoft.KeyVault/vaults/kv-ci";
    const ACR: &str = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-ci/providers/Microsoft.ContainerRegistry/registries/acrci";
    const CUSTOM: &str = "0b9f7a61-2c3d-4e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn scopes_nest_on_segment_boundaries_in_any_case() {
        assert!(contains_scope(SUB, RG));
        assert!(contains_scope(RG, VAULT));
        assert!(contains_scope(SUB, &VAULT.to_uppercase()));
        assert!(contains_scope(VAULT, VAULT));
        assert!(!contains_scope(VAULT, RG));
        assert!(!contains_scope("/subscriptions/a", "/subscriptions/ab"));
        assert!(!contains_scope(
            &format!("{RG}/providers/x"),
            &format!("{RG}/providers/xy")
        ));
    }

    #[test]
    fn swaps_that_widen_are_not_covered() {
        let swaps = [
            (
                "Key Vault Secrets User",
                VAULT,
                "Key Vault Secrets Officer",
                VAULT,
            ),
            (
                "AcrPush",
                ACR,
                "Azure Kubernetes Service RBAC Cluster Admin",
                ACR,
            ),
            ("Contributor", RG, CUSTOM, RG),
            // Reader has no data actions: it reads no secret.
            ("Reader", SUB, "Key Vault Secrets User", VAULT),
            ("Contributor", RG, "Owner", RG),
            ("Contributor", RG, "Contributor", SUB),
            ("AcrPull", ACR, "AcrPush", ACR),
            (
                "Storage Blob Data Contributor",
                RG,
                "Storage Blob Data Owner",
                RG,
            ),
            (
                "Key Vault Secrets Officer",
                VAULT,
                "Key Vault Administrator",
                VAULT,
            ),
            // Contributor's notActions keep it from assigning roles.
            (
                "Contributor",
                RG,
                "Role Based Access Control Administrator",
                RG,
            ),
            ("Contributor", RG, "User Access Administrator", RG),
            ("Owner", RG, "Key Vault Secrets User", VAULT),
            (
                "Azure Kubernetes Service RBAC Reader",
                RG,
                "Azure Kubernetes Service RBAC Writer",
                RG,
            ),
            // Admin may not write namespaces; Cluster Admin may.
            (
                "Azure Kubernetes Service RBAC Admin",
                RG,
                "Azure Kubernetes Service RBAC Cluster Admin",
                RG,
            ),
            (
                "Storage Queue Data Reader",
                RG,
                "Storage Queue Data Message Sender",
                RG,
            ),
        ];
        for (old, os, new, ns) in swaps {
            assert!(!covered((new, ns), &[(old, os)]), "{old} → {new}");
        }
    }

    #[test]
    fn swaps_that_narrow_are_covered() {
        let swaps = [
            ("Owner", RG, "Contributor", RG),
            ("Contributor", SUB, "Contributor", RG),
            ("AcrPush", ACR, "AcrPull", ACR),
            ("Owner", SUB, "Reader", VAULT),
            ("Contributor", SUB, "AcrPush", ACR),
            ("Contributor", RG, "Key Vault Contributor", RG),
            (
                "Key Vault Secrets Officer",
                VAULT,
                "Key Vault Secrets User",
                VAULT,
            ),
            (
                "Key Vault Administrator",
                RG,
                "Key Vault Secrets Officer",
                VAULT,
            ),
            (
                "Storage Blob Data Owner",
                RG,
                "Storage Blob Data Contributor",
                RG,
            ),
            (
                "Storage Blob Data Contributor",
                RG,
                "Storage Blob Delegator",
                RG,
            ),
            (
                "User Access Administrator",
                RG,
                "Role Based Access Control Administrator",
                RG,
            ),
            (
                "Azure Kubernetes Service RBAC Cluster Admin",
                RG,
                "Azure Kubernetes Service RBAC Admin",
                RG,
            ),
            // Admin's notDataActions (quotas, namespaces) touch nothing Writer may do.
            (
                "Azure Kubernetes Service RBAC Admin",
                RG,
                "Azure Kubernetes Service RBAC Writer",
                RG,
            ),
            (
                "Azure Kubernetes Service RBAC Writer",
                RG,
                "Azure Kubernetes Service RBAC Reader",
                RG,
            ),
            (
                "Storage Queue Data Contributor",
                RG,
                "Storage Queue Data Reader",
                RG,
            ),
            (CUSTOM, SUB, &CUSTOM.to_uppercase(), RG),
            ("Reader", RG, "acdd72a7-3385-48ef-bd42-f606fba81ae7", RG),
        ];
        for (old, os, new, ns) in swaps {
            assert!(covered((new, ns), &[(old, os)]), "{old} → {new}");
        }
    }

    #[test]
    fn several_old_assignments_cover_together_on_containing_scopes() {
        let old = [("Reader", SUB), ("Key Vault Secrets User", VAULT)];
        assert!(!covered(("Key Vault Reader", VAULT), &old));
        let old = [("AcrPull", ACR), ("Storage Blob Delegator", RG)];
        assert!(!covered(("AcrPush", ACR), &old));
        let old = [("Reader", RG), ("AcrPush", ACR)];
        assert!(covered(("AcrPull", ACR), &old));
        // An old grant on a sibling scope covers nothing.
        assert!(!covered(("AcrPull", ACR), &[("AcrPush", VAULT)]));
    }

    #[test]
    fn a_role_known_only_by_name_is_covered_by_itself_alone() {
        let bus = "Azure Service Bus Data Owner";
        assert!(!covered((bus, RG), &[("Owner", SUB)]));
        assert!(covered(
            (bus, RG),
            &[("090c5cfd-751d-490a-894a-3ce6f1109419", SUB)]
        ));
        assert!(!role_covers(bus, "Reader"));
    }

    #[test]
    fn a_conditional_grant_covers_nothing() {
        assert!(!role_covers(
            "Key Vault Data Access Administrator",
            "Role Based Access Control Administrator"
        ));
        assert!(role_covers("Owner", "Key Vault Data Access Administrator"));
    }

    #[test]
    fn graph_read_write_covers_read() {
        assert!(graph_covers("Group.ReadWrite.All", "Group.Read.All"));
        assert!(graph_covers("User.Read.All", "User.Read.All"));
        assert!(!graph_covers("Group.ReadWrite.All", "GroupMember.Read.All"));
        assert!(!graph_covers("Group.Read.All", "Group.ReadWrite.All"));
        assert!(!graph_covers("Directory.Read.All", "User.Read.All"));
    }
}
