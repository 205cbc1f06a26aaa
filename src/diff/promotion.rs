//! The promotion preview: two environments of one spec, runner by runner, with everything that
//! is meant to differ between environments (names, IDs, the issuer, environment tokens in
//! subscription, group and resource names) normalised away.

use super::semantic::field_changes;
use super::{Changes, Report, RunnerChange, Status};
use super::{SecurityChange, security_changes};
use crate::access::Access;
use crate::model::{Environment, Fleet, ResourceList, RoleAssignment, Runner};
use crate::spec::types::{PromotionField, PromotionField as F};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// One side of a promotion: an environment, and how its subscription aliases are named in the
/// comparison (the `from` side's aliases become their declared `to` counterparts).
struct Side<'a> {
    env: &'a Environment,
    aliases: BTreeMap<String, String>,
    /// Subscription IDs kept as they are: those both environments have (a shared registry's,
    /// a hub's), and those of an alias the other side lacks, which pair with nothing; only an
    /// alias both sides name (after `aliases`) with their own IDs becomes a placeholder.
    shared: BTreeSet<String>,
}

impl Side<'_> {
    fn normalize(&self, s: &str) -> String {
        normalize_text(s, self.env, &self.aliases, &self.shared)
    }

    /// A role assignment of this side as the preview compares it: (role, normalised scope).
    fn role(&self, ra: &RoleAssignment) -> (String, String) {
        (ra.display_name(), self.normalize(&ra.scope.id()))
    }
}

/// The two sides of promoting `from` to `to`, `from`'s aliases renamed by the declared pairs.
fn sides<'a>(
    pairs: &BTreeMap<String, String>,
    from: &'a Environment,
    to: &'a Environment,
) -> (Side<'a>, Side<'a>) {
    // `to`'s view of `from`'s aliases: the declared pairs, reversed.
    let reversed: BTreeMap<String, String> =
        pairs.iter().map(|(a, b)| (b.clone(), a.clone())).collect();
    (
        Side {
            env: from,
            aliases: pairs.clone(),
            shared: literal_subscriptions(from, pairs, to),
        },
        Side {
            env: to,
            aliases: BTreeMap::new(),
            shared: literal_subscriptions(to, &reversed, from),
        },
    )
}

/// `s` with the placeholders of [`normalize_text`] replaced by environment `env`'s values, so
/// a command printed for it runs as written.
fn denormalize(s: &str, env: &Environment) -> String {
    let mut out = s
        .replace("{envLong}", &env.long_name)
        .replace("{env}", &env.key)
        .replace("{region}", &env.region_code)
        .replace("{location}", &env.location);
    for (alias, id) in &env.subscriptions {
        out = out.replace(&format!("{{subscription:{alias}}}"), id);
    }
    out
}

/// A compared access in environment `env`'s own words, as its picture shows it: the
/// placeholders of scopes, tags and the group path replaced by `env`'s values, and the
/// identities named as `env` names them (`side`'s names normalised first).
fn in_env(a: &Access, side: &Side, env: &Environment) -> Access {
    let real = |s: &str| denormalize(s, env);
    let scopes = |roles: &[(String, String)]| -> Vec<(String, String)> {
        roles.iter().map(|(r, s)| (r.clone(), real(s))).collect()
    };
    let identity = |id: &Option<crate::access::Identity>| {
        id.clone().map(|i| crate::access::Identity {
            name: real(&side.normalize(&i.name)),
            ..i
        })
    };
    Access {
        roles: scopes(&a.roles),
        manager_roles: scopes(&a.manager_roles),
        trigger: a.trigger.clone().map(|t| crate::access::Trigger {
            path: real(&t.path),
            tags: t.tags.iter().map(|t| real(t)).collect(),
            ..t
        }),
        identity: identity(&a.identity),
        manager_identity: identity(&a.manager_identity),
        ..a.clone()
    }
}

/// The subscription IDs (lowercase) of `a` that stay literal when `a` is compared with `b`
/// (`a`'s aliases renamed by `aliases`): those `b` lists too, and those of an alias `b` lacks.
fn literal_subscriptions(
    a: &Environment,
    aliases: &BTreeMap<String, String>,
    b: &Environment,
) -> BTreeSet<String> {
    let b_ids: BTreeSet<String> = b.subscriptions.values().map(|s| s.to_lowercase()).collect();
    a.subscriptions
        .iter()
        .filter(|(alias, id)| {
            let alias = aliases.get(*alias).unwrap_or(alias);
            b_ids.contains(&id.to_lowercase()) || !b.subscriptions.contains_key(alias)
        })
        .map(|(_, id)| id.to_lowercase())
        .collect()
}

/// Replaces environment-specific tokens (whole segments between `-_./:`) with placeholders;
/// subscription IDs become `{subscription:<alias>}`, the alias renamed by `aliases`.
fn normalize_text(
    s: &str,
    env: &Environment,
    aliases: &BTreeMap<String, String>,
    shared: &BTreeSet<String>,
) -> String {
    let mut out = String::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        let t = token.as_str();
        let rep = if t == env.key {
            "{env}"
        } else if t == env.long_name {
            "{envLong}"
        } else if t == env.region_code {
            "{region}"
        } else if t == env.location {
            "{location}"
        } else {
            t
        };
        out.push_str(rep);
        token.clear();
    };
    for c in s.chars() {
        if matches!(c, '-' | '_' | '.' | '/' | ':') {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    // Subscription IDs (which contain `-`) by alias.
    for (alias, id) in &env.subscriptions {
        if shared.contains(&id.to_lowercase()) {
            continue;
        }
        let alias = aliases.get(alias).unwrap_or(alias);
        out = replace_ignore_case(&out, id, &format!("{{subscription:{alias}}}"));
    }
    out
}

fn replace_ignore_case(haystack: &str, needle: &str, with: &str) -> String {
    let lower = haystack.to_lowercase();
    let needle = needle.to_lowercase();
    if needle.is_empty() || lower.len() != haystack.len() {
        return haystack.to_owned();
    }
    let mut out = String::new();
    let mut last = 0;
    for (i, _) in lower.match_indices(&needle) {
        out.push_str(&haystack[last..i]);
        out.push_str(with);
        last = i + needle.len();
    }
    out.push_str(&haystack[last..]);
    out
}

/// A runner as it should compare across environments, keyed by [`PromotionField`] (all but
/// `existence`): names, IDs, issuer and namespaces out, environment tokens in subscription,
/// group and resource names replaced by placeholders.
fn normalized(fleet: &Fleet, side: &Side, r: &Runner) -> Value {
    let n = |s: &str| side.normalize(s);
    let list = |l: &ResourceList| json!({"cpu": l.cpu, "memory": l.memory, "ephemeralStorage": l.ephemeral_storage});
    let roles: Vec<String> = r
        .roles()
        .iter()
        .map(|ra| {
            let (role, scope) = side.role(ra);
            format!("{role} on {scope}")
        })
        .collect();
    let graph: Vec<&str> = r.graph_permissions().collect();
    let tolerations: Vec<Value> = r
        .tolerations
        .iter()
        .map(|t| json!({"key": t.key, "value": t.value, "effect": t.effect}))
        .collect();
    let cache = r
        .cache
        .as_ref()
        .map(|c| json!({"container": n(&c.container), "shared": c.shared}));
    let fields = [
        (F::ChartVersion, json!(fleet.chart.version)),
        (F::Type, json!(r.runner_type)),
        (F::Path, json!(n(&r.path))),
        (
            F::Tags,
            json!(r.tags.iter().map(|t| n(t)).collect::<Vec<_>>()),
        ),
        (F::RunUntagged, json!(r.run_untagged)),
        (F::Locked, json!(r.locked)),
        (F::AccessLevel, json!(r.access_level)),
        (F::MaximumTimeout, json!(r.maximum_timeout)),
        (F::Privileged, json!(r.privileged)),
        (F::Concurrent, json!(r.concurrent)),
        (F::CheckInterval, json!(r.check_interval)),
        (
            F::TerminationGracePeriodSeconds,
            json!(r.termination_grace_period_seconds),
        ),
        (F::JobImage, json!(r.job_image)),
        (
            F::Resources,
            json!({"requests": list(&r.requests), "limits": list(&r.limits)}),
        ),
        (F::NodeSelector, json!(r.node_selector)),
        (F::Tolerations, json!(tolerations)),
        (F::Cache, json!(cache)),
        (F::SharedServiceAccount, json!(r.shared_service_account)),
        (F::KubernetesAccess, json!(r.kubernetes_access)),
        (F::GraphPermissions, json!(graph)),
        (F::Roles, json!(roles)),
    ];
    Value::Object(
        fields
            .into_iter()
            .map(|(f, v)| (f.name().to_owned(), v))
            .collect(),
    )
}

/// A runner's access as it compares across environments: the model's, planned (a promotion
/// compares intent, not rollout phase, so the Kubernetes side counts before it is rendered),
/// with scopes and the runner name normalised. The token source is fleet-wide, the same on
/// both sides, so it is left out.
fn access(fleet: &Fleet, side: &Side, r: &Runner) -> Access {
    let a = Access::planned(fleet, side.env, r);
    let trigger = a.trigger.map(|t| crate::access::Trigger {
        path: side.normalize(&t.path),
        tags: t.tags.iter().map(|tag| side.normalize(tag)).collect(),
        ..t
    });
    let workload = a.workload.map(|w| crate::access::Workload {
        job_namespace: side.normalize(&w.job_namespace),
        ..w
    });
    let pods = a.pods.map(|p| crate::access::PodSettings {
        extra: p
            .extra
            .into_iter()
            .map(|(k, v)| (k, side.normalize(&v)))
            .collect(),
        node_selector: p
            .node_selector
            .into_iter()
            .map(|(k, v)| (k, side.normalize(&v)))
            .collect(),
        ..p
    });
    Access {
        roles: a
            .roles
            .into_iter()
            .map(|(role, scope)| (role, side.normalize(&scope)))
            .collect(),
        token_source: None,
        // Each environment deploys in its own stacks: not a difference to promote.
        stack: None,
        runner_name: a.runner_name.as_deref().map(|n| side.normalize(n)),
        trigger,
        workload,
        pods,
        ..a
    }
}

/// The security changes of bringing `to`'s access (`old`) where `from`'s is (`new`), those
/// that only the declared `roles` make marked expected: a role change is expected when it is
/// gone once those assignments are taken out of both sides. Taking them out can leave a
/// change of its own (a swap whose other half is not declared becomes a plain grant or
/// removal): that one is reported, unexpected.
fn expected_changes(
    env: &str,
    runner: &str,
    (old, new): (&Access, &Access),
    roles: &BTreeSet<(String, String)>,
) -> Vec<SecurityChange> {
    let mut all = security_changes(env, runner, old, new);
    if roles.is_empty() {
        return all;
    }
    let strip = |a: &Access| Access {
        roles: a
            .roles
            .iter()
            .filter(|r| !roles.contains(*r))
            .cloned()
            .collect(),
        ..a.clone()
    };
    let is_role = |c: &SecurityChange| c.kind.field() == Some(F::Roles);
    let rest = security_changes(env, runner, &strip(old), &strip(new));
    for c in all.iter_mut().filter(|c| is_role(c)) {
        c.expected = !rest.contains(c);
    }
    let left: Vec<SecurityChange> = rest
        .into_iter()
        .filter(|c| is_role(c) && !all.contains(c))
        .collect();
    all.extend(left);
    all
}

/// The compared path of one role assignment under `roles` (as `normalized` lists it).
fn role_path((role, scope): &(String, String)) -> String {
    let entry = format!("{role} on {scope}");
    format!(
        ".roles[{}]",
        serde_json::to_string(&entry).unwrap_or_default()
    )
}

/// Runners pair by key with the environment's own tokens replaced (`tf-dev` ↔ `tf-prd`).
fn by_key<'a>(side: &Side<'a>) -> BTreeMap<String, &'a Runner> {
    side.env
        .runners
        .iter()
        .map(|r| (side.normalize(&r.key), r))
        .collect()
}

/// The top-level field of a flattened path (`.resources.requests.cpu` → `resources`).
fn field_of(path: &str) -> Option<PromotionField> {
    let p = path.trim_start_matches('.');
    PromotionField::parse(p.split(['.', '[']).next().unwrap_or(p))
}

/// What is declared as meant to differ for one runner, from the promotion and from each
/// side's runner: the fields, and the role assignments, each read in its environment and
/// normalised by its side as the compared roles are.
fn declared_for(
    declared: &crate::model::Promotion,
    (a_side, ra): (&Side, Option<&&Runner>),
    (b_side, rb): (&Side, Option<&&Runner>),
) -> (BTreeSet<PromotionField>, BTreeSet<(String, String)>) {
    let fields = declared
        .expect
        .iter()
        .chain(ra.iter().flat_map(|r| &r.promotion_expect))
        .chain(rb.iter().flat_map(|r| &r.promotion_expect))
        .copied()
        .collect();
    let roles = [
        (a_side, declared.expect_roles.get(&a_side.env.key)),
        (b_side, declared.expect_roles.get(&b_side.env.key)),
        (a_side, ra.map(|r| &r.promotion_expect_roles)),
        (b_side, rb.map(|r| &r.promotion_expect_roles)),
    ]
    .into_iter()
    .flat_map(|(side, list)| list.into_iter().flatten().map(|ra| side.role(ra)))
    .collect();
    (fields, roles)
}

/// Compares environment `from` with `to`, runner by runner: what promoting `from`'s setup
/// to `to` would change, seen from `to`. Differences declared in the spec (`promotion`, and
/// each runner's `promotion.expect`) are marked expected.
pub fn diff_environments(fleet: &Fleet, from: &Environment, to: &Environment) -> Report {
    let declared = fleet.promotion(&from.key, &to.key);
    let (a_side, b_side) = sides(&declared.subscriptions, from, to);
    let (a, b) = (by_key(&a_side), by_key(&b_side));
    let keys: BTreeSet<&str> = a.keys().chain(b.keys()).map(String::as_str).collect();
    let mut runners = Vec::new();
    let mut security: Vec<SecurityChange> = Vec::new();
    let mut touched = Vec::new();
    for k in keys {
        let (ra, rb) = (a.get(k), b.get(k));
        let (expected, roles) = declared_for(&declared, (&a_side, ra), (&b_side, rb));
        let name = rb.or(ra).map_or(k, |r| r.key.as_str());
        let (acc_a, acc_b) = (
            ra.map(|r| access(fleet, &a_side, r)).unwrap_or_default(),
            rb.map(|r| access(fleet, &b_side, r)).unwrap_or_default(),
        );
        let existence = (ra.is_none() || rb.is_none()) && expected.contains(&F::Existence);
        let before = security.len();
        for mut c in expected_changes(&to.key, name, (&acc_b, &acc_a), &roles) {
            // A revocation runs against `to`: its placeholders back to `to`'s own values.
            c.revocation = c.revocation.map(|r| denormalize(&r, to));
            c.expected |= c.kind.field().is_some_and(|f| expected.contains(&f)) || existence;
            security.push(c);
        }
        if security.len() > before {
            touched.push(super::Touched {
                environment: to.key.clone(),
                runner: name.to_owned(),
                old: in_env(&acc_b, &b_side, to),
                new: in_env(&acc_a, &a_side, to),
            });
        }
        let (status, fields) = match (ra, rb) {
            (Some(x), Some(y)) => {
                let mut fields = field_changes(
                    &normalized(fleet, &b_side, y),
                    &normalized(fleet, &a_side, x),
                );
                if fields.is_empty() {
                    continue;
                }
                for f in &mut fields {
                    f.expected = field_of(&f.path).is_some_and(|f| expected.contains(&f))
                        || roles.iter().any(|r| f.path == role_path(r));
                }
                (Status::Changed, fields)
            }
            (Some(_), None) => (Status::Added, Vec::new()),
            (None, Some(_)) => (Status::Removed, Vec::new()),
            (None, None) => continue,
        };
        let expected = match status {
            Status::Changed => fields.iter().all(|f| f.expected),
            _ => expected.contains(&F::Existence),
        };
        runners.push(RunnerChange {
            runner: k.to_owned(),
            status,
            fields,
            expected,
        });
    }
    SecurityChange::sort(&mut security);
    Report {
        from: from.key.clone(),
        to: to.key.clone(),
        security,
        changes: Changes::Runners(runners),
        access: touched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The preview compares a runner under exactly the fields `expect:` may name (but
    /// `existence`, which is no key), each spelled by `PromotionField::name`.
    #[test]
    fn the_compared_keys_are_the_promotion_fields() {
        let text = crate::testing::read("fixtures/two-envs/runners.yaml");
        let fleet = crate::compile::resolve(&text, &crate::compile::no_files)
            .unwrap_or_else(|_| panic!("two-envs resolves"))
            .fleet;
        let env = &fleet.environments[0];
        let side = Side {
            env,
            aliases: BTreeMap::new(),
            shared: BTreeSet::new(),
        };
        let compared = normalized(&fleet, &side, &env.runners[0]);
        let keys: Vec<&str> = compared
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let fields: Vec<&str> = PromotionField::ALL
            .iter()
            .filter(|f| **f != F::Existence)
            .map(|f| f.name())
            .collect();
        assert_eq!(keys, fields);
    }

    #[test]
    fn promotion_fields_are_named_once_and_serialise_by_name() {
        for f in PromotionField::ALL {
            assert_eq!(PromotionField::parse(f.name()), Some(f));
            assert_eq!(serde_json::to_value(f).unwrap(), f.name());
        }
        let names: Vec<&str> = PromotionField::ALL.iter().map(|f| f.name()).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {names:?}");
        assert_eq!(PromotionField::parse("Roles"), None);
    }

    #[test]
    fn fields_of_paths() {
        assert_eq!(field_of(".resources.requests.cpu"), Some(F::Resources));
        assert_eq!(field_of(".roles[\"Owner on x\"]"), Some(F::Roles));
        assert_eq!(field_of(".concurrent"), Some(F::Concurrent));
    }
}
