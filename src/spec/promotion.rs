//! Checks of the declared promotion differences: environments and subscription aliases that
//! exist, fields the preview knows.

use super::diag::Code;
use super::problem::Ctx;
use super::schema::did_you_mean;
use super::types::{Environment, Expect, PromotionField, Spec};
use std::collections::BTreeSet;

/// Each entry of an `expect` list: a field the preview compares, or role assignments whose
/// roles are known and whose scopes are well formed, with their subscription aliases in one of
/// `envs` (the two environments of a fleet-wide promotion, or a runner's own).
fn expects(cx: &mut Ctx, at: &str, expect: &[Expect], envs: &[(&str, &Environment)]) {
    for (i, e) in expect.iter().enumerate() {
        match e {
            Expect::Field(f) => field(cx, &format!("{at}/{i}"), f),
            Expect::Roles(r) => {
                for (j, ra) in r.roles.iter().enumerate() {
                    let p = format!("{at}/{i}/roles/{j}");
                    super::identity::role_assignment(cx, &p, ra);
                    alias(cx, &format!("{p}/scope/subscription"), ra, envs);
                }
            }
        }
    }
}

/// A subscription alias of an expected role that none of `envs` has.
fn alias(cx: &mut Ctx, at: &str, ra: &super::types::RoleAssignment, envs: &[(&str, &Environment)]) {
    let Some(a) = ra.scope.subscription.as_deref().filter(|a| *a != "*") else {
        return;
    };
    if envs.is_empty() || envs.iter().any(|(_, e)| e.subscriptions.contains_key(a)) {
        return;
    }
    let names: BTreeSet<&str> = envs
        .iter()
        .flat_map(|(_, e)| e.subscriptions.keys().map(String::as_str))
        .collect();
    let which: Vec<&str> = envs.iter().map(|(k, _)| *k).collect();
    let mut hint = format!(
        "their aliases: {}",
        names.iter().copied().collect::<Vec<_>>().join(", ")
    );
    if let Some(m) = did_you_mean(a, names.iter().copied()) {
        hint = format!("did you mean `{m}`? {hint}");
    }
    cx.err(
        Code::E010,
        at,
        format!("no subscription alias `{a}` in {}", which.join(" or ")),
        hint,
    );
}

/// A field the preview compares, or E005 with the nearest.
fn field(cx: &mut Ctx, at: &str, f: &str) {
    if PromotionField::parse(f).is_some() {
        return;
    }
    let names = || PromotionField::ALL.iter().map(|f| f.name());
    let all = names().collect::<Vec<_>>().join(", ");
    let hint = match did_you_mean(f, names()) {
        Some(m) => format!("did you mean `{m}`? Fields: {all}"),
        None => format!("fields: {all}"),
    };
    cx.err(
        Code::E005,
        at,
        format!("`{f}` is not a field the promotion preview compares"),
        hint,
    );
}

fn environment(cx: &mut Ctx, at: &str, key: &str, env_keys: &BTreeSet<String>) -> bool {
    if env_keys.contains(key) {
        return true;
    }
    let known: Vec<&str> = env_keys.iter().map(String::as_str).collect();
    let mut hint = format!("known environments: {}", known.join(", "));
    if let Some(m) = did_you_mean(key, known.iter().copied()) {
        hint = format!("did you mean `{m}`? {hint}");
    }
    cx.err(Code::E010, at, format!("unknown environment `{key}`"), hint);
    false
}

pub(super) fn check(cx: &mut Ctx, spec: &Spec, env_keys: &BTreeSet<String>) {
    for (i, p) in spec.promotion.iter().enumerate() {
        let at = format!("/promotion/{i}");
        let from_ok = environment(cx, &format!("{at}/from"), &p.from, env_keys);
        let to_ok = environment(cx, &format!("{at}/to"), &p.to, env_keys);
        let envs: Vec<(&str, &Environment)> = [&p.from, &p.to]
            .into_iter()
            .filter_map(|k| spec.environments.get(k).map(|e| (k.as_str(), e)))
            .collect();
        // An unknown environment is reported above; its aliases cannot be checked.
        let envs = if from_ok && to_ok { envs } else { Vec::new() };
        expects(cx, &format!("{at}/expect"), &p.expect, &envs);
        for (a, b) in &p.subscriptions {
            let sp = format!("{at}/subscriptions/{}", super::ptr_key(a));
            for (ok, env, alias) in [(from_ok, &p.from, a), (to_ok, &p.to, b)] {
                let known = spec.environments.get(env).map(|e| &e.subscriptions);
                if ok && known.is_some_and(|k| !k.contains_key(alias)) {
                    let names: Vec<&str> = known
                        .into_iter()
                        .flat_map(|k| k.keys().map(String::as_str))
                        .collect();
                    cx.err(
                        Code::E010,
                        &sp,
                        format!("environment `{env}` has no subscription alias `{alias}`"),
                        format!("its aliases: {}", names.join(", ")),
                    );
                }
            }
        }
    }
    for inst in &spec.instances {
        if let Some(p) = &inst.runner.promotion {
            let envs: Vec<(&str, &Environment)> = spec
                .environments
                .get(&inst.env)
                .map(|e| (inst.env.as_str(), e))
                .into_iter()
                .collect();
            expects(
                cx,
                &format!("{}/promotion/expect", inst.at),
                &p.expect,
                &envs,
            );
        }
    }
}
