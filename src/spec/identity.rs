//! The rules of a runner's Azure identity: its roles (by name or GUID), their scopes and the
//! subscription aliases they name, and its Microsoft Graph permissions.

use super::diag::Code;
use super::problem::Ctx;
use super::schema::did_you_mean;
use super::types::*;
use crate::facts;
use std::collections::BTreeSet;

pub(super) fn unknown_alias(cx: &mut Ctx, ptr: &str, alias: &str, env: &Environment) {
    let known: Vec<&str> = env.subscriptions.keys().map(String::as_str).collect();
    let mut hint = format!(
        "subscription aliases of this environment: {}",
        known.join(", ")
    );
    if let Some(m) = did_you_mean(alias, known.iter().copied()) {
        hint = format!("did you mean `{m}`? {hint}");
    }
    cx.err(
        Code::E010,
        ptr,
        format!("unknown subscription alias `{alias}`"),
        hint,
    );
}

pub(super) fn check_identity(cx: &mut Ctx, rp: &str, id: &Identity, env: Option<&Environment>) {
    let ip = format!("{rp}/identity");
    if let (Some(alias), Some(env)) = (&id.subscription, env)
        && !env.subscriptions.contains_key(alias)
    {
        unknown_alias(cx, &format!("{ip}/subscription"), alias, env);
    }
    if let Some(c) = &id.client_id
        && !facts::is_guid(c)
    {
        cx.err(
            Code::E012,
            &format!("{ip}/clientId"),
            format!("`{c}` is not a GUID"),
            "use the `<runner>ClientId` output of the environment's Azure deployment".into(),
        );
    }
    roles(cx, &ip, id, env);
    graph_permissions(cx, &ip, id);
}

/// Role assignments: known roles, well-formed scopes, each (role, scope) once.
fn roles(cx: &mut Ctx, ip: &str, id: &Identity, env: Option<&Environment>) {
    let mut seen = BTreeSet::new();
    for (i, ra) in id.roles.iter().enumerate() {
        let p = format!("{ip}/roles/{i}");
        let role_id = role_id(cx, &p, &ra.role);
        let Some(scope_key) = scope(cx, &format!("{p}/scope"), &ra.scope, env) else {
            continue;
        };
        if let Some(rid) = role_id
            && !seen.insert((rid, scope_key))
        {
            cx.err(
                Code::E031,
                &p,
                "this role assignment is listed twice".into(),
                "remove the duplicate".into(),
            );
        }
    }
}

/// A role assignment named outside an identity (`promotion.expect`): a known role and a
/// well-formed scope; its subscription alias is checked by the caller.
pub(super) fn role_assignment(cx: &mut Ctx, p: &str, ra: &super::types::RoleAssignment) {
    role_id(cx, p, &ra.role);
    scope(cx, &format!("{p}/scope"), &ra.scope, None);
}

/// The role's definition ID (lowercase), or E014 when the role is unknown.
fn role_id(cx: &mut Ctx, p: &str, role: &str) -> Option<String> {
    if facts::is_guid(role) {
        Some(role.to_lowercase())
    } else if let Some(id) = crate::roles::id(role) {
        Some(id.to_owned())
    } else {
        let hint = match did_you_mean(role, crate::roles::names()) {
                Some(m) => format!("did you mean `{m}`? Other roles are given by their role-definition GUID (`az role definition list --name <name> --query [].name`)"),
                None => "give an Azure built-in role by its name (docs/spec.md), or any role by its role-definition GUID (`az role definition list --name <name> --query [].name`)".into(),
            };
        cx.err(
            Code::E014,
            &format!("{p}/role"),
            format!("unknown role `{role}`"),
            hint,
        );
        None
    }
}

/// What a scope names (for duplicates), or `None` when it is neither a subscription nor a
/// resource.
fn scope(cx: &mut Ctx, sp: &str, s: &Scope, env: Option<&Environment>) -> Option<String> {
    let key = match (&s.subscription, &s.resource_group, &s.resource) {
        (Some(sub), rg, None) => {
            if sub != "*"
                && let Some(env) = env
                && !env.subscriptions.contains_key(sub)
            {
                unknown_alias(cx, &format!("{sp}/subscription"), sub, env);
            }
            if sub == "*" && rg.is_some() {
                cx.err(
                    Code::E011,
                    &format!("{sp}/resourceGroup"),
                    "a resource group needs one subscription, not `*`".into(),
                    "name the subscription alias that holds the resource group".into(),
                );
            }
            format!("{sub}/{}", rg.as_deref().unwrap_or(""))
        }
        (None, None, Some(res)) => {
            match facts::parse_resource_id(res) {
                    None => cx.err(
                        Code::E016,
                        &format!("{sp}/resource"),
                        format!("`{res}` is not a resource ID"),
                        "use `/subscriptions/<id>/resourceGroups/<rg>/providers/<Namespace>/<type>/<name>` (`az resource show … --query id`)".into(),
                    ),
                    Some(id) if facts::role_target_type(&id.resource_type).is_none() => {
                        let known: Vec<&str> = facts::ROLE_TARGET_TYPES.iter().map(|t| t.resource_type).collect();
                        cx.err(
                            Code::E016,
                            &format!("{sp}/resource"),
                            format!("role assignments on `{}` resources are not supported", id.resource_type),
                            format!("supported resource types: {}; otherwise scope the role to the resource group", known.join(", ")),
                        );
                    }
                    Some(_) => {}
                }
            res.to_lowercase()
        }
        _ => {
            cx.err(
                    Code::E011,
                    sp,
                    "a scope is either `subscription` (optionally with `resourceGroup`) or `resource`".into(),
                    "examples: `{subscription: platform}`, `{subscription: platform, resourceGroup: rg-acr}`, `{resource: /subscriptions/…/registries/acr}`".into(),
                );
            return None;
        }
    };
    Some(key)
}

/// Microsoft Graph application permissions: known, each once.
fn graph_permissions(cx: &mut Ctx, ip: &str, id: &Identity) {
    let mut seen_perm = BTreeSet::new();
    for (i, perm) in id.graph_permissions.iter().enumerate() {
        let p = format!("{ip}/graphPermissions/{i}");
        if !facts::GRAPH_PERMISSIONS.contains(&perm.as_str()) {
            let hint = match did_you_mean(perm, facts::GRAPH_PERMISSIONS.iter().copied()) {
                Some(m) => format!(
                    "did you mean `{m}`? Known: {}",
                    facts::GRAPH_PERMISSIONS.join(", ")
                ),
                None => format!(
                    "known application permissions: {}",
                    facts::GRAPH_PERMISSIONS.join(", ")
                ),
            };
            cx.err(
                Code::E015,
                &p,
                format!("unknown Microsoft Graph application permission `{perm}`"),
                hint,
            );
        } else if !seen_perm.insert(perm.as_str()) {
            cx.err(
                Code::E031,
                &p,
                format!("`{perm}` is listed twice"),
                "remove the duplicate".into(),
            );
        }
    }
}
