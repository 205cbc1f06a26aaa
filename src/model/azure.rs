//! The Azure side of the model: role assignments resolved to scopes, grouped into the
//! deployments that make them, with every deployment name and template symbol derived here so
//! that Bicep and ARM JSON (and `diff`) read the same names.

use crate::facts;
use crate::layout::ModuleKind;
use crate::spec::types as t;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Subscription {
        subscription_id: String,
    },
    ResourceGroup {
        subscription_id: String,
        resource_group: String,
    },
    Resource {
        subscription_id: String,
        resource_group: String,
        resource_type: String,
        id: String,
    },
}

impl Scope {
    /// The full ARM ID of the scope.
    pub fn id(&self) -> String {
        match self {
            Scope::Subscription { subscription_id } => format!("/subscriptions/{subscription_id}"),
            Scope::ResourceGroup {
                subscription_id,
                resource_group,
            } => {
                format!("/subscriptions/{subscription_id}/resourceGroups/{resource_group}")
            }
            Scope::Resource { id, .. } => id.clone(),
        }
    }
    pub fn subscription_id(&self) -> &str {
        match self {
            Scope::Subscription { subscription_id }
            | Scope::ResourceGroup {
                subscription_id, ..
            }
            | Scope::Resource {
                subscription_id, ..
            } => subscription_id,
        }
    }

    pub(crate) fn resource(id: &str) -> Scope {
        let id = facts::parse_resource_id(id).expect("checked by spec");
        Scope::Resource {
            subscription_id: id.subscription_id,
            resource_group: id.resource_group,
            resource_type: id.resource_type,
            id: id.id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoleAssignment {
    /// Built-in role name, when known.
    pub role_name: Option<String>,
    pub role_definition_id: String,
    pub scope: Scope,
}

impl RoleAssignment {
    pub fn display_name(&self) -> String {
        self.role_name
            .clone()
            .unwrap_or_else(|| self.role_definition_id.clone())
    }
}

/// The role assignments of a runner's identity: the spec's, each scope resolved (`*` is every
/// subscription of the environment), plus what the blob cache needs. Sorted, no duplicates.
pub fn role_assignments(
    e: &t::Environment,
    r: &t::Runner,
    job_signs_cache: bool,
) -> Vec<RoleAssignment> {
    let mut roles: BTreeSet<RoleAssignment> = r
        .access()
        .roles
        .iter()
        .flat_map(|ra| resolve_role(e, ra))
        .collect();
    // With one account for manager and jobs, that identity signs the cache's SAS.
    if let Some(c) = r.cache.as_ref().filter(|_| job_signs_cache) {
        roles.extend(cache_manager_roles(&c.storage_account_id));
    }
    roles.into_iter().collect()
}

/// One role assignment as the spec writes it, resolved in environment `e`: the role by name
/// or GUID, the scope's subscription alias to its ID (`*`: one per subscription). Nothing when
/// `e` has no such alias (a `promotion.expect` entry read in the environment that lacks it).
pub fn resolve_role(e: &t::Environment, ra: &t::RoleAssignment) -> Vec<RoleAssignment> {
    let (role_name, role_definition_id) = if facts::is_guid(&ra.role) {
        let id = ra.role.to_lowercase();
        (crate::roles::name(&id).map(str::to_owned), id)
    } else {
        let id = crate::roles::id(&ra.role).expect("checked by spec");
        (Some(ra.role.clone()), id.to_owned())
    };
    let sub = |alias: &str| e.subscriptions.get(alias).map(|id| id.to_lowercase());
    let sc = &ra.scope;
    let scopes: Vec<Scope> = match (&sc.subscription, &sc.resource_group, &sc.resource) {
        (Some(s), None, None) if s == "*" => e
            .subscriptions
            .values()
            .map(|id| Scope::Subscription {
                subscription_id: id.to_lowercase(),
            })
            .collect(),
        (Some(s), None, None) => sub(s)
            .map(|subscription_id| Scope::Subscription { subscription_id })
            .into_iter()
            .collect(),
        (Some(s), Some(rg), None) => sub(s)
            .map(|subscription_id| Scope::ResourceGroup {
                subscription_id,
                resource_group: rg.clone(),
            })
            .into_iter()
            .collect(),
        (None, None, Some(res)) => vec![Scope::resource(res)],
        _ => unreachable!("scope shape checked by spec"),
    };
    scopes
        .into_iter()
        .map(|scope| RoleAssignment {
            role_name: role_name.clone(),
            role_definition_id: role_definition_id.clone(),
            scope,
        })
        .collect()
}

/// What the identity that signs the cache's SAS holds, on the storage account only
/// (`facts::CACHE_MANAGER_ROLES`).
pub fn cache_manager_roles(storage_account_id: &str) -> Vec<RoleAssignment> {
    facts::CACHE_MANAGER_ROLES
        .iter()
        .map(|name| RoleAssignment {
            role_name: Some((*name).into()),
            role_definition_id: crate::roles::id(name).expect("in the table").into(),
            scope: Scope::resource(storage_account_id),
        })
        .collect()
}

/// One role of a [`RoleGroup`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupRole {
    /// Role definition GUID, lowercase.
    pub id: String,
    /// Built-in name, or `custom role`.
    pub name: String,
}

/// The role assignments of one runner at one target scope: one module instance, one nested
/// deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleGroup {
    pub kind: ModuleKind,
    /// The scope's ARM ID as the spec gave it (for comments).
    pub scope_id: String,
    pub subscription_id: String,
    /// Empty for subscription scope.
    pub resource_group: String,
    /// Only for resource scope.
    pub resource_name: String,
    /// Deployment name `ra-<symbol>-<hash>`: at most 12 + 40 characters (runner keys have at
    /// most 40), within Azure's 64 (azure-docs resource-name-rules.md, Microsoft.Resources).
    pub deployment: String,
    /// Bicep symbol `<symbol>_ra_<hash>`.
    pub symbol: String,
    /// No duplicates, in role order.
    pub roles: Vec<GroupRole>,
}

/// Groups a runner's role assignments by target scope; ARM IDs are case-insensitive, so the
/// grouping is too. The hash of the scope keeps deployment names stable when roles change.
pub fn role_groups(symbol: &str, roles: &[RoleAssignment]) -> Vec<RoleGroup> {
    let mut by_scope: BTreeMap<String, RoleGroup> = BTreeMap::new();
    for ra in roles {
        let key = ra.scope.id().to_lowercase();
        let group = by_scope
            .entry(key)
            .or_insert_with_key(|key| group_for(symbol, &ra.scope, key));
        let id = ra.role_definition_id.to_lowercase();
        if !group.roles.iter().any(|r| r.id == id) {
            let name = ra.role_name.clone().unwrap_or_else(|| "custom role".into());
            group.roles.push(GroupRole { id, name });
        }
    }
    by_scope.into_values().collect()
}

fn group_for(symbol: &str, scope: &Scope, key: &str) -> RoleGroup {
    let hash = format!("{:08x}", fnv1a32(key));
    let (kind, resource_group, resource_name) = match scope {
        Scope::Subscription { .. } => (ModuleKind::Subscription, "", String::new()),
        Scope::ResourceGroup { resource_group, .. } => (
            ModuleKind::ResourceGroup,
            resource_group.as_str(),
            String::new(),
        ),
        Scope::Resource {
            resource_group,
            resource_type,
            id,
            ..
        } => {
            let target = facts::role_target_type(resource_type).expect("checked by spec");
            let name = facts::parse_resource_id(id).expect("checked by spec").name;
            (ModuleKind::Resource(target), resource_group.as_str(), name)
        }
    };
    RoleGroup {
        kind,
        scope_id: scope.id(),
        subscription_id: scope.subscription_id().to_owned(),
        resource_group: resource_group.to_owned(),
        resource_name,
        deployment: format!("ra-{symbol}-{hash}"),
        symbol: format!("{symbol}_ra_{hash}"),
        roles: Vec::new(),
    }
}

/// A Microsoft Graph app-role assignment of a runner's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GraphGrant {
    /// The permission's name (`User.Read.All`); the spec allows only known ones, once each.
    pub permission: String,
    /// Bicep symbol `<symbol>_<permission with '_' for punctuation>`: permissions start with
    /// an uppercase letter, runner symbols are lowercase, so it is never another symbol.
    pub symbol: String,
}

pub fn graph_grants(symbol: &str, permissions: &[String]) -> Vec<GraphGrant> {
    let mut grants: Vec<GraphGrant> = permissions
        .iter()
        .map(|p| GraphGrant {
            permission: p.clone(),
            symbol: format!(
                "{symbol}_{}",
                p.chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>()
            ),
        })
        .collect();
    grants.sort_by(|a, b| a.permission.cmp(&b.permission));
    grants
}

/// The Azure deployments of one environment. Environment keys have at most 8 characters, so
/// every name is far below Azure's 64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deployments {
    /// main.json, at subscription scope; its outputs carry the client IDs back.
    pub main: String,
    /// The nested deployment that creates the identities.
    pub identities: String,
    /// graph.json, deployed by an Entra admin.
    pub graph: String,
}

impl Deployments {
    /// The deployments of environment `env`, or of one of its shards (`runnergen-<env>-NN`).
    pub fn new(env: &str, shard: Option<u32>) -> Self {
        let main = match shard {
            None => format!("runnergen-{env}"),
            Some(n) => format!("runnergen-{env}-{n:02}"),
        };
        Deployments {
            identities: format!("{main}-identities"),
            graph: format!("{main}-graph"),
            main,
        }
    }
}

/// 32-bit FNV-1a: a stable, dependency-free hash for deterministic deployment names.
pub fn fnv1a32(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// 64-bit FNV-1a: a stable, dependency-free hash of a runner key for its deployment shard.
pub fn fnv1a64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::MAX_DEPLOYMENT_NAME;

    /// The longest keys the spec allows (environment 8, runner 40) keep every deployment name
    /// within Azure's limit, so no render can produce one that is too long.
    #[test]
    fn deployment_names_fit_azure_at_the_longest_keys() {
        let d = Deployments::new(&"e".repeat(8), Some(99));
        for name in [&d.main, &d.identities, &d.graph] {
            assert!(name.len() <= MAX_DEPLOYMENT_NAME, "{name}");
        }
        let symbol = "r".repeat(40);
        let role = |scope| RoleAssignment {
            role_name: Some("Reader".into()),
            role_definition_id: crate::roles::id("Reader").unwrap().into(),
            scope,
        };
        let groups = role_groups(
            &symbol,
            &[
                role(Scope::Subscription {
                    subscription_id: "11111111-2222-4333-8444-555555555555".into(),
                }),
                role(Scope::resource(
                    "/subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr",
                )),
            ],
        );
        assert_eq!(groups.len(), 2);
        for g in &groups {
            assert!(
                g.deployment.len() <= MAX_DEPLOYMENT_NAME,
                "{}",
                g.deployment
            );
        }
        assert_eq!(groups[1].resource_name, "acr");
        assert_eq!(groups[1].kind.module(), "registries");
    }

    /// The published FNV-1a test values (the empty string is the offset basis).
    #[test]
    fn fnv1a64_is_fnv1a() {
        assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn graph_symbols_replace_punctuation() {
        let grants = graph_grants(
            "tf",
            &["User.Read.All".into(), "Application.Read.All".into()],
        );
        assert_eq!(grants[0].symbol, "tf_Application_Read_All");
        assert_eq!(grants[1].permission, "User.Read.All");
    }
}
