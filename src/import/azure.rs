//! The Azure side of the imported runners: subscription aliases, role assignments as
//! `{role, scope}` by alias, and Graph app roles by permission name.

use super::collect::Collected;
use super::out::{Role, Scope};
use super::state::Resource;
use std::collections::BTreeMap;

/// Subscription aliases by lowercase subscription ID.
#[derive(Default)]
pub struct Aliases {
    by_id: BTreeMap<String, String>,
}

/// `(subscription ID, resource group, rest)` of an ARM ID, the ID lowercased.
pub fn split_scope(scope: &str) -> Option<(String, Option<&str>, bool)> {
    let parts: Vec<&str> = scope.trim_end_matches('/').split('/').collect();
    if parts.len() < 3 || !parts[0].is_empty() || !parts[1].eq_ignore_ascii_case("subscriptions") {
        return None;
    }
    let sub = parts[2].to_lowercase();
    match parts.len() {
        3 => Some((sub, None, false)),
        5 if parts[3].eq_ignore_ascii_case("resourceGroups") => Some((sub, Some(parts[4]), false)),
        _ => Some((sub, None, true)),
    }
}

fn alias_ok(a: &str) -> bool {
    (1..=40).contains(&a.len())
        && a.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && a.starts_with(|c: char| c.is_ascii_alphanumeric())
}

impl Aliases {
    /// The article's `for_each` over `local.subscription_id` names each subscription a role is
    /// assigned on whole: those keys are the aliases; every other subscription the state names
    /// gets `sub-<first 8 hex digits>` (more digits where two would share it).
    pub fn of(c: &Collected) -> Aliases {
        let mut a = Aliases::default();
        let roles = c.runners.values().flat_map(|f| &f.roles);
        for r in roles.clone() {
            if let (Some(key), Some((sub, None, false))) =
                (r.key(), r.str("scope").and_then(split_scope))
                && alias_ok(key)
                && !a.by_id.contains_key(&sub)
                && !a.by_id.values().any(|v| v == key)
            {
                a.by_id.insert(sub, key.to_owned());
            }
        }
        let identity_subs = c
            .runners
            .values()
            .filter_map(|f| f.identity?.str("id").and_then(split_scope));
        let scope_subs = roles.filter_map(|r| r.str("scope").and_then(split_scope));
        for (sub, ..) in identity_subs.chain(scope_subs) {
            if !a.by_id.contains_key(&sub) {
                let derived = a.derive(&sub);
                a.by_id.insert(sub, derived);
            }
        }
        a
    }

    /// `sub-<first 8 hex digits>`, or longer up to the whole ID while another subscription
    /// has that alias: two subscriptions whose IDs begin alike must not share one, or the
    /// spec's alias → ID map keeps one of them and roles land in the other's subscription.
    fn derive(&self, sub: &str) -> String {
        [8, 13, 18, 23]
            .iter()
            .map(|n| format!("sub-{}", sub.get(..*n).unwrap_or(sub)))
            .find(|d| !self.by_id.values().any(|v| v == d))
            .unwrap_or_else(|| format!("sub-{sub}"))
    }

    /// The subscription ID of an alias.
    pub fn id(&self, alias: &str) -> Option<String> {
        self.by_id
            .iter()
            .find(|(_, a)| *a == alias)
            .map(|(id, _)| id.clone())
    }

    pub fn alias(&self, sub: &str) -> Option<&str> {
        self.by_id.get(&sub.to_lowercase()).map(String::as_str)
    }
}

/// A role assignment as the spec writes it; why not, when it cannot be.
pub fn role(r: &Resource, aliases: &Aliases) -> Result<Role, String> {
    let scope = r.str("scope").ok_or("a role assignment without a scope")?;
    let role = match r.str("role_definition_name").filter(|n| !n.is_empty()) {
        Some(name) => name.to_owned(),
        None => r
            .str("role_definition_id")
            .and_then(|id| id.rsplit('/').next())
            .filter(|g| g.len() == 36)
            .ok_or("a role assignment without a role name or role-definition GUID")?
            .to_lowercase(),
    };
    if r.str("condition").is_some_and(|c| !c.is_empty()) {
        return Err("a role assignment with an ABAC condition, which the spec cannot write".into());
    }
    let (sub, rg, resource) =
        split_scope(scope).ok_or_else(|| format!("scope `{scope}` is not in a subscription"))?;
    let alias = aliases
        .alias(&sub)
        .expect("every subscription has an alias")
        .to_owned();
    let scope = if resource {
        Scope {
            resource: Some(scope.to_owned()),
            ..Scope::default()
        }
    } else {
        Scope {
            subscription: Some(alias),
            resource_group: rg.map(str::to_owned),
            resource: None,
        }
    };
    Ok(Role { role, scope })
}

/// A Graph app role assignment's permission: through the Graph service principal's
/// `app_role_ids`, else the `for_each` key.
pub fn permission(r: &Resource, c: &Collected) -> Result<String, String> {
    if let (Some(want), Some(res)) = (&c.graph_object_id, r.str("resource_object_id"))
        && !want.eq_ignore_ascii_case(res)
    {
        return Err("an app role on another service principal than Microsoft Graph".into());
    }
    let id = r.str("app_role_id").map(str::to_lowercase);
    if let Some(name) = id.as_ref().and_then(|id| c.graph_roles.get(id)) {
        return Ok(name.clone());
    }
    r.key()
        .filter(|k| k.contains('.'))
        .map(str::to_owned)
        .ok_or_else(|| {
            "an app role ID the Graph service principal's `app_role_ids` does not name".into()
        })
}
