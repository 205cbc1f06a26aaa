//! What a lint finding is about beyond its rule ([`Subject`]): the runner as a whole, one role
//! assignment as written (role and scope), or one Microsoft Graph permission. A finding carries
//! its subject; an `acknowledge:` entry names one, and covers the findings of its rule about
//! that subject only (`Subject::named_by`). The spec's checks read the subjects a runner has
//! (`Subject::of`); the lint, below which this sits, gives each finding its own.

use super::code::{RuleId, SubjectKind};
use super::types::{Acknowledgement, Runner, Scope};
use crate::facts;

/// What one finding is about, as the spec writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The runner as a whole (L002–L005, L009–L011).
    Runner,
    /// One role assignment of `identity.roles`, as written (L001, L007, L008).
    Role { role: String, scope: Scope },
    /// One permission of `identity.graphPermissions`, as written (L006).
    Permission(String),
}

impl Subject {
    pub fn kind(&self) -> SubjectKind {
        match self {
            Subject::Runner => SubjectKind::Runner,
            Subject::Role { .. } => SubjectKind::Role,
            Subject::Permission(_) => SubjectKind::Permission,
        }
    }

    /// The subjects of kind `rule.subject()` that runner `r` has, in spec order: its role
    /// assignments, its Graph permissions, or the runner itself.
    pub fn of(rule: RuleId, r: &Runner) -> Vec<Subject> {
        let id = r.access();
        match rule.subject() {
            SubjectKind::Runner => vec![Subject::Runner],
            SubjectKind::Role => id
                .roles
                .iter()
                .map(|ra| Subject::Role {
                    role: ra.role.clone(),
                    scope: ra.scope.clone(),
                })
                .collect(),
            SubjectKind::Permission => id
                .graph_permissions
                .iter()
                .map(|p| Subject::Permission(p.clone()))
                .collect(),
        }
    }

    /// Whether the acknowledgement's fields (`role` and `scope`, or `permission`, or none)
    /// name this subject. Roles compare as Azure does (a built-in role's name or its GUID,
    /// in any case), resource groups and resource IDs in any case, subscription aliases exactly.
    pub fn named_by(&self, ack: &Acknowledgement) -> bool {
        match self {
            Subject::Runner => {
                ack.role.is_none() && ack.scope.is_none() && ack.permission.is_none()
            }
            Subject::Role { role, scope } => {
                ack.permission.is_none()
                    && ack.role.as_deref().is_some_and(|r| same_role(r, role))
                    && ack.scope.as_ref().is_some_and(|s| same_scope(s, scope))
            }
            Subject::Permission(p) => {
                ack.role.is_none()
                    && ack.scope.is_none()
                    && ack
                        .permission
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(p))
            }
        }
    }

    /// The fields an acknowledgement writes for it after `rule`, as YAML
    /// (`role: Owner, scope: {subscription: "*"}`, `permission: Directory.Read.All`); empty for
    /// the runner.
    pub fn fields(&self) -> String {
        match self {
            Subject::Runner => String::new(),
            Subject::Role { role, scope } => {
                format!("role: {}, scope: {}", plain(role), scope_text(scope))
            }
            Subject::Permission(p) => format!("permission: {}", plain(p)),
        }
    }
}

/// The subject fields an acknowledgement writes, as YAML, whatever the rule (for messages).
pub fn written(ack: &Acknowledgement) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &ack.role {
        parts.push(format!("role: {}", plain(r)));
    }
    if let Some(s) = &ack.scope {
        parts.push(format!("scope: {}", scope_text(s)));
    }
    if let Some(p) = &ack.permission {
        parts.push(format!("permission: {}", plain(p)));
    }
    parts.join(", ")
}

/// A scope as a YAML flow mapping, in the order the spec reference lists its fields.
pub fn scope_text(s: &Scope) -> String {
    let fields = [
        ("subscription", &s.subscription),
        ("resourceGroup", &s.resource_group),
        ("resource", &s.resource),
    ];
    let inner: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k}: {}", plain(v))))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// A YAML scalar as it can be written in a flow mapping: plain when it is safe, else quoted.
fn plain(v: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "._-/() ".contains(c);
    let first = v.chars().next();
    if first.is_some_and(|c| c.is_ascii_alphanumeric() || c == '/')
        && !v.ends_with(' ')
        && v.chars().all(safe)
    {
        v.to_owned()
    } else {
        serde_json::Value::from(v).to_string()
    }
}

/// The same role: the same name or GUID in any case, or a built-in role's name and its GUID.
pub fn same_role(a: &str, b: &str) -> bool {
    let name = |r: &str| {
        if facts::is_guid(r) {
            crate::roles::name(r).map_or_else(|| r.to_lowercase(), str::to_lowercase)
        } else {
            r.to_lowercase()
        }
    };
    a.eq_ignore_ascii_case(b) || name(a) == name(b)
}

/// The same scope: the same subscription alias, and the same resource group and resource ID
/// in any case (Azure compares them so).
pub fn same_scope(a: &Scope, b: &Scope) -> bool {
    let ci = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        (None, None) => true,
        _ => false,
    };
    a.subscription == b.subscription
        && ci(&a.resource_group, &b.resource_group)
        && ci(&a.resource, &b.resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(role: Option<&str>, scope: Option<Scope>, permission: Option<&str>) -> Acknowledgement {
        Acknowledgement {
            rule: "L001".into(),
            role: role.map(str::to_owned),
            scope,
            permission: permission.map(str::to_owned),
            reason: "why".into(),
        }
    }

    fn sub(s: &str) -> Scope {
        Scope {
            subscription: Some(s.into()),
            ..Scope::default()
        }
    }

    /// A role by name or GUID in any case on the same scope; not another scope or a permission.
    #[test]
    fn an_acknowledgement_names_one_subject() {
        let owner = Subject::Role {
            role: "Owner".into(),
            scope: sub("*"),
        };
        assert!(owner.named_by(&ack(Some("owner"), Some(sub("*")), None)));
        let guid = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
        assert!(owner.named_by(&ack(Some(guid), Some(sub("*")), None)));
        assert!(!owner.named_by(&ack(Some("Owner"), Some(sub("prod")), None)));
        assert!(!owner.named_by(&ack(Some("Owner"), None, None)));
        assert!(!Subject::Runner.named_by(&ack(Some("Owner"), None, None)));
        assert!(Subject::Runner.named_by(&ack(None, None, None)));
        let p = Subject::Permission("Directory.Read.All".into());
        assert!(p.named_by(&ack(None, None, Some("Directory.Read.All"))));
        assert!(!p.named_by(&ack(None, None, Some("User.Read.All"))));
    }

    /// What an acknowledgement writes for a subject, as YAML a user can paste.
    #[test]
    fn fields_are_yaml_to_paste() {
        let owner = Subject::Role {
            role: "Owner".into(),
            scope: sub("*"),
        };
        assert_eq!(owner.fields(), r#"role: Owner, scope: {subscription: "*"}"#);
        let rg = Subject::Role {
            role: "Storage Blob Data Contributor".into(),
            scope: Scope {
                subscription: Some("apps".into()),
                resource_group: Some("rg-docs".into()),
                resource: None,
            },
        };
        assert_eq!(
            rg.fields(),
            "role: Storage Blob Data Contributor, scope: {subscription: apps, resourceGroup: rg-docs}"
        );
        assert_eq!(Subject::Runner.fields(), "");
    }
}
