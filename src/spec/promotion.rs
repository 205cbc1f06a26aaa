//! Checks of the declared promotion differences: environments and subscription aliases that
//! exist, fields the preview knows.

use super::diag::Code;
use super::problem::Ctx;
use super::schema::did_you_mean;
use super::types::{PromotionField, Spec};
use std::collections::BTreeSet;

fn fields(cx: &mut Ctx, at: &str, expect: &[String]) {
    let names = || PromotionField::ALL.iter().map(|f| f.name());
    for (i, f) in expect.iter().enumerate() {
        if PromotionField::parse(f).is_none() {
            let all = names().collect::<Vec<_>>().join(", ");
            let hint = match did_you_mean(f, names()) {
                Some(m) => format!("did you mean `{m}`? Fields: {all}"),
                None => format!("fields: {all}"),
            };
            cx.err(
                Code::E005,
                &format!("{at}/{i}"),
                format!("`{f}` is not a field the promotion preview compares"),
                hint,
            );
        }
    }
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
        fields(cx, &format!("{at}/expect"), &p.expect);
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
            fields(cx, &format!("{}/promotion/expect", inst.at), &p.expect);
        }
    }
}
