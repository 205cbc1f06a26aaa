//! Azure roles: the built-in role catalogue, lookup by name or role-definition GUID, and
//! whether one set of role assignments grants everything another grants (`contain`).
//!
//! The catalogue is data, `data/azure-builtin-roles.json`, written by
//! `scripts/azure_roles.py` from the Azure docs' role pages (MicrosoftDocs/azure-docs
//! `articles/role-based-access-control/built-in-roles/<category>.md`); the file records each
//! page's path and commit and the date they were read. It holds the roles a CI runner is
//! plausibly given, each with its permission blocks exactly as the page shows them.
//! `data/azure-builtin-role-names.tsv` names every built-in role with its GUID (from
//! Azure/terraform-azure-avm-utl-roledefinitions, commit and date in its header), so that any
//! built-in role is accepted by name. A role without permissions here (one only named, or a
//! custom role given by GUID) is compared conservatively: nothing but itself covers it.
//!
//! Below `spec`, `model`, `lint` and `diff`; imports only `facts`.

pub mod contain;
pub mod pattern;

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::LazyLock;

/// One permission block of a role definition (`permissions[i]`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permission {
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub data_actions: Vec<String>,
    pub not_data_actions: Vec<String>,
    /// The block carries an ABAC condition: it grants its actions only where the condition
    /// holds, so it never counts as granting them when an old role is compared.
    pub condition: bool,
}

/// A built-in role: its name, its role-definition GUID (lowercase) and its permissions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    pub id: String,
    /// The docs page it was read from.
    pub page: String,
    pub permissions: Vec<Permission>,
}

impl Role {
    /// Whether the role changes anything: any action or data action that is not a read.
    pub fn writes(&self) -> bool {
        let read = |a: &String| a.to_ascii_lowercase().ends_with("/read");
        self.permissions
            .iter()
            .any(|p| !p.actions.iter().all(read) || !p.data_actions.iter().all(read))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    #[allow(dead_code)] // provenance, for readers of the file and the test that checks it
    source: serde_json::Value,
    roles: Vec<Role>,
}

/// The data file, parsed once.
static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../data/azure-builtin-roles.json"))
        .expect("data/azure-builtin-roles.json is valid (tested)")
});

/// Every built-in role name with its GUID (lowercase), sorted by name: the names file and
/// the catalogue together.
static NAMES: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let mut all: Vec<(String, String)> = include_str!("../../data/azure-builtin-role-names.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (id, name) = l.split_once('\t').expect("<guid>\\t<name> (tested)");
            (name.to_owned(), id.to_owned())
        })
        .collect();
    for r in &CATALOGUE.roles {
        if !all.iter().any(|(n, _)| *n == r.name) {
            all.push((r.name.clone(), r.id.clone()));
        }
    }
    all.sort_by(|a, b| (a.0.to_lowercase(), &a.0).cmp(&(b.0.to_lowercase(), &b.0)));
    all
});

/// [`NAMES`] indexed: by name, and by GUID lowercase (a large fleet looks roles up often).
static BY_NAME: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    NAMES
        .iter()
        .map(|(n, i)| (n.as_str(), i.as_str()))
        .collect()
});
static BY_ID: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    NAMES
        .iter()
        .map(|(n, i)| (i.as_str(), n.as_str()))
        .collect()
});

/// Every built-in role runnergen has the permissions of, sorted by name.
pub fn builtin() -> &'static [Role] {
    &CATALOGUE.roles
}

/// The built-in role of this exact name.
pub fn by_name(name: &str) -> Option<&'static Role> {
    builtin().iter().find(|r| r.name == name)
}

/// The built-in role with this role-definition GUID (any case).
pub fn by_id(id: &str) -> Option<&'static Role> {
    builtin().iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// A role as the spec or a rendered file gives it: a built-in name or a GUID.
pub fn lookup(role: &str) -> Option<&'static Role> {
    by_name(role).or_else(|| by_id(role))
}

/// The role-definition GUID of any built-in role name.
pub fn id(name: &str) -> Option<&'static str> {
    BY_NAME.get(name).copied()
}

/// The name of any built-in role's GUID.
pub fn name(id: &str) -> Option<&'static str> {
    BY_ID.get(id.to_ascii_lowercase().as_str()).copied()
}

/// Every built-in role name, sorted.
pub fn names() -> impl Iterator<Item = &'static str> {
    NAMES.iter().map(|(n, _)| n.as_str())
}

/// What identifies a role across names and GUIDs: its GUID, lowercase, when it is a built-in
/// role's name; otherwise the string itself, lowercase (a GUID).
pub fn key(role: &str) -> String {
    id(role).unwrap_or(role).to_ascii_lowercase()
}

/// Roles lint counts as changing nothing although an action of theirs is not a `…/read`
/// (`listClusterUserCredential/action`, `getSecret/action`,
/// `generateUserDelegationKey/action`): they read a credential, a secret or a delegation key
/// and write nothing. Kept as lint has always read them, so its findings do not move.
const LINT_READ_ONLY: [&str; 5] = [
    "AcrPull",
    "Azure Kubernetes Service Cluster User Role",
    "Key Vault Secrets User",
    "Reader",
    "Storage Blob Delegator",
];

/// Whether a role, by built-in name or GUID, can change anything (lint's L004, L005): the
/// read-only roles above do not; another built-in role does when an action or data action
/// of it is not a read; a role runnergen has no permissions for (a custom role) is assumed to.
pub fn writes(role: &str) -> bool {
    match lookup(role) {
        Some(r) if LINT_READ_ONLY.contains(&r.name.as_str()) => false,
        Some(r) => r.writes(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::is_guid;

    #[test]
    fn the_catalogue_is_consistent() {
        let roles = builtin();
        assert!(roles.len() >= 38);
        for (i, r) in roles.iter().enumerate() {
            assert!(is_guid(&r.id) && r.id == r.id.to_lowercase(), "{}", r.name);
            assert!(!r.permissions.is_empty(), "{}", r.name);
            assert_eq!(lookup(&r.id).map(|r| &r.name), Some(&r.name));
            assert_eq!(name(&r.id.to_uppercase()), Some(r.name.as_str()));
            if i > 0 {
                assert!(roles[i - 1].name.to_lowercase() < r.name.to_lowercase());
            }
        }
        for r in LINT_READ_ONLY {
            assert!(by_name(r).is_some(), "{r}");
        }
        assert_eq!(id("Owner"), Some("8e3af657-a8ff-443c-a75c-2fe8c4bcb635"));
        assert_eq!(
            id("Key Vault Administrator"),
            Some("00482a5a-887f-4fb3-b363-3b7fe8e74483")
        );
        assert_eq!(
            id("Storage Blob Data Owner"),
            Some("b7e6dc6d-f1e8-4753-8033-0f276bb0955b")
        );
    }

    #[test]
    fn every_builtin_role_has_a_name_and_a_guid() {
        let all: Vec<(&str, &str)> = names().map(|n| (n, id(n).unwrap())).collect();
        assert!(all.len() >= 850, "{}", all.len());
        for (i, (n, g)) in all.iter().enumerate() {
            assert!(is_guid(g) && *g == g.to_lowercase(), "{n}");
            assert_eq!(name(g), Some(*n));
            if i > 0 {
                assert!(all[i - 1].0.to_lowercase() < n.to_lowercase(), "{n}");
            }
        }
        // The two sources agree on every role both name.
        for r in builtin() {
            assert_eq!(id(&r.name), Some(r.id.as_str()), "{}", r.name);
        }
        let bus = "Azure Service Bus Data Owner";
        assert_eq!(id(bus), Some("090c5cfd-751d-490a-894a-3ce6f1109419"));
        assert_eq!(key(bus), key("090C5CFD-751D-490A-894A-3CE6F1109419"));
        assert!(lookup(bus).is_none());
    }

    #[test]
    fn writes_follows_lint_and_the_actions() {
        for r in [
            "Owner",
            "Contributor",
            "AcrPush",
            "Key Vault Secrets Officer",
        ] {
            assert!(writes(r), "{r}");
        }
        for r in [
            "Reader",
            "AcrPull",
            "Key Vault Secrets User",
            "Storage Blob Delegator",
        ] {
            assert!(!writes(r), "{r}");
        }
        assert!(!writes("acdd72a7-3385-48ef-bd42-f606fba81ae7"));
        assert!(writes("0b9f7a61-2c3d-4e5f-8a9b-0c1d2e3f4a5b"));
        assert!(writes("Key Vault Crypto User"));
    }
}
