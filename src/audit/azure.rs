//! The Azure side: each runner's managed identities (`az identity list`), the role
//! assignments on their principals (`az role assignment list --all`) and the federated
//! credentials trusting them (`az identity federated-credential list`), against what the
//! main templates deploy.

use super::expected::{Identity, Runner};
use super::live::{Credential, Live, ManagedIdentity, RoleAssignment};
use super::{Class, Report, found, not_run};
use crate::roles;

pub fn check(runners: &[Runner], live: &Live, report: &mut Report) {
    match &live.identities {
        None => {
            not_run(
                report,
                "managed identities",
                "no --identities (`az identity list`)",
            );
            not_run(
                report,
                "role assignments",
                "no --identities: the principals of the runners' identities are unknown",
            );
        }
        Some(ids) => {
            if live.role_assignments.is_none() {
                not_run(
                    report,
                    "role assignments",
                    "no --azure-roles (`az role assignment list --all`)",
                );
            }
            for r in runners {
                for i in &r.identities {
                    identity(r, i, ids, live.role_assignments.as_deref(), report);
                }
            }
        }
    }
    match &live.credentials {
        None => not_run(
            report,
            "federated credentials",
            "no --federated-credentials (`az identity federated-credential list`)",
        ),
        Some(creds) => {
            for r in runners {
                for i in &r.identities {
                    credentials(r, i, (creds, &live.without_credentials), report);
                }
            }
        }
    }
}

/// Azure names and IDs compare in any case.
fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A scope as compared: any case, no trailing `/`.
fn scope_key(scope: &str) -> String {
    scope.trim_end_matches('/').to_ascii_lowercase()
}

/// Whether a live assignment is the rendered (role, scope): roles by name or GUID.
fn is(live: &RoleAssignment, role: &str, scope: &str) -> bool {
    let rendered = roles::key(role);
    let by_name = live
        .role_name
        .as_deref()
        .is_some_and(|n| roles::key(n) == rendered);
    (by_name || roles::key(&live.role_id) == rendered) && scope_key(&live.scope) == scope_key(scope)
}

/// One identity: that it exists with the rendered client ID, and the role assignments on its
/// principal.
fn identity(
    r: &Runner,
    i: &Identity,
    ids: &[ManagedIdentity],
    assignments: Option<&[RoleAssignment]>,
    report: &mut Report,
) {
    let Some(m) = ids
        .iter()
        .find(|m| same(&m.name, &i.name) && same(&m.resource_group, &i.resource_group))
    else {
        let what = format!("managed identity {} in {}", i.name, i.resource_group);
        found(report, r, Class::Missing, "managed-identity", what);
        return;
    };
    if let Some(client_id) = i.client_id.as_deref().filter(|c| !same(c, &m.client_id)) {
        let what = format!(
            "managed identity {} has client ID {}, the output renders {client_id} (recreated?)",
            i.name, m.client_id
        );
        found(report, r, Class::Missing, "managed-identity", what);
    }
    let Some(assignments) = assignments else {
        return;
    };
    let on: Vec<&RoleAssignment> = assignments
        .iter()
        .filter(|a| same(&a.principal_id, &m.principal_id))
        .collect();
    for a in &on {
        if !i.roles.iter().any(|(role, scope)| is(a, role, scope)) {
            let what = format!(
                "{} on {} to {} (principal {}), which the output does not render ({})",
                a.role(),
                a.scope,
                i.name,
                m.principal_id,
                a.id
            );
            found(report, r, Class::Beyond, "role-assignment", what);
        }
    }
    for (role, scope) in &i.roles {
        if !on.iter().any(|a| is(a, role, scope)) {
            let what = format!("{role} on {scope} to {}, rendered, is not assigned", i.name);
            found(report, r, Class::Missing, "role-assignment", what);
        }
    }
}

/// The federated credentials on one identity, where some export names it (or an empty export
/// named after it says it has none).
fn credentials(
    r: &Runner,
    i: &Identity,
    (creds, none): (&[Credential], &[String]),
    report: &mut Report,
) {
    let on: Vec<&Credential> = creds
        .iter()
        .filter(|c| same(&c.identity, &i.name))
        .filter(|c| c.resource_group.is_empty() || same(&c.resource_group, &i.resource_group))
        .collect();
    if on.is_empty() && !none.iter().any(|n| same(n, &i.name)) {
        // An identity without credentials exports `[]`, which names no identity: unless its
        // file's name gives the identity, it cannot be told from an identity not exported.
        not_run(
            report,
            "federated credentials",
            format!(
                "{}/{}: no exported credential names identity {}",
                r.env, r.key, i.name
            ),
        );
        return;
    }
    for c in &on {
        if !i
            .credentials
            .contains(&(c.issuer.clone(), c.subject.clone()))
        {
            let what = format!(
                "{} on {} trusts issuer {} subject {}, which the output does not render",
                c.name, i.name, c.issuer, c.subject
            );
            found(report, r, Class::Beyond, "federated-credential", what);
        }
    }
    for (issuer, subject) in &i.credentials {
        if !on
            .iter()
            .any(|c| &c.issuer == issuer && &c.subject == subject)
        {
            let what = format!(
                "on {} trusting issuer {issuer} subject {subject}, rendered, does not exist",
                i.name
            );
            found(report, r, Class::Missing, "federated-credential", what);
        }
    }
}
