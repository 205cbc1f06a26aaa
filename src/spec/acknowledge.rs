//! `acknowledge:` entries: each names a lint rule (`RuleId`), what the finding is about (its
//! [`Subject`]: nothing more for a rule that finds the runner as a whole, `role` and `scope`,
//! or `permission`) and a reason. An entry is checked once where it is written, against every
//! instance it applies to: the runner's own entries in each of its environments, an override's
//! in its environment. An entry that would cover every finding of a keyed rule (no subject), or
//! that names a role assignment or permission the runner has in none of those environments, is
//! refused (E018); one that names what the runner has but the rule does not find is the lint's
//! stale note (N002).

use super::code::{Code, RuleId, SubjectKind};
use super::problem::Ctx;
use super::schema::did_you_mean;
use super::subject::{self, Subject};
use super::types::{Acknowledgement, Instance, Spec};
use std::collections::{BTreeMap, BTreeSet};

/// Every entry of every runner, once where it is written; duplicates per instance (E031).
pub(super) fn check(cx: &mut Ctx, spec: &Spec) {
    let mut entries: BTreeMap<&str, (&Acknowledgement, Vec<&Instance>)> = BTreeMap::new();
    for inst in &spec.instances {
        let mut seen = BTreeSet::new();
        for (ack, at) in inst.runner.acknowledge.iter().zip(&inst.acknowledge_at) {
            entries
                .entry(at.as_str())
                .or_insert_with(|| (ack, Vec::new()))
                .1
                .push(inst);
            let fields = subject::written(ack).to_lowercase();
            if RuleId::parse(&ack.rule).is_some() && !seen.insert((ack.rule.as_str(), fields)) {
                let what = described(ack);
                cx.err(
                    Code::E031,
                    &format!("{at}/rule"),
                    format!("{what} is acknowledged twice"),
                    "keep one acknowledgement per finding: the runner's own apply in each of its environments, an override's are added in its environment".into(),
                );
            }
        }
    }
    for (at, (ack, insts)) in entries {
        entry(cx, at, ack, &insts);
    }
}

/// `L001`, or `L001 (role: Owner, scope: {…})`.
fn described(ack: &Acknowledgement) -> String {
    match subject::written(ack) {
        f if f.is_empty() => ack.rule.clone(),
        f => format!("{} (`{f}`)", ack.rule),
    }
}

/// One entry written at `at`, applying to `insts`.
fn entry(cx: &mut Ctx, at: &str, ack: &Acknowledgement, insts: &[&Instance]) {
    let Some(rule) = RuleId::parse(&ack.rule) else {
        let ids: Vec<&str> = RuleId::ALL.iter().map(|c| c.as_str()).collect();
        cx.err(
            Code::E018,
            &format!("{at}/rule"),
            format!("`{}` is not a lint rule", ack.rule),
            format!("one of {}", ids.join(", ")),
        );
        return;
    };
    if ack.reason.trim().is_empty() {
        cx.err(
            Code::E018,
            &format!("{at}/reason"),
            format!("the acknowledgement of {} gives no reason", ack.rule),
            "say why the finding is accepted: reviewers read it beside the finding".into(),
        );
    }
    if foreign_fields(cx, at, ack, rule) {
        return;
    }
    let kind = rule.subject();
    if kind == SubjectKind::Runner {
        return;
    }
    // What the runner has in the environments the entry applies to, each once, in spec order.
    let mut has: Vec<Subject> = Vec::new();
    for inst in insts {
        for s in Subject::of(rule, &inst.runner) {
            if !has.contains(&s) {
                has.push(s);
            }
        }
    }
    let runner = insts.first().map_or("", |i| i.key.as_str());
    if let Some(missing) = missing_fields(ack, kind) {
        let found: Vec<String> = has
            .iter()
            .filter(|s| may_find(rule, s))
            .map(Subject::fields)
            .collect();
        cx.err(
            Code::E018,
            &format!("{at}/rule"),
            format!(
                "the acknowledgement of {rule} has no {missing}: {rule} {}, and an acknowledgement covers only the one it names",
                kind.about()
            ),
            name_one(&found, runner, rule),
        );
    } else if !has.iter().any(|s| s.named_by(ack)) {
        absent(cx, at, ack, kind, runner, &has);
    }
}

/// Fields of another kind of subject than the rule's (`role` on L003): E018 each; whether any.
fn foreign_fields(cx: &mut Ctx, at: &str, ack: &Acknowledgement, rule: RuleId) -> bool {
    let kind = rule.subject();
    let given = [
        ("role", ack.role.is_some()),
        ("scope", ack.scope.is_some()),
        ("permission", ack.permission.is_some()),
    ];
    let mut any = false;
    for (field, _) in given
        .iter()
        .filter(|(f, g)| *g && !kind.fields().contains(f))
    {
        any = true;
        let instead = match kind {
            SubjectKind::Runner => format!("it covers the runner's one {rule} finding"),
            SubjectKind::Role => "name the role assignment with `role` and `scope`".into(),
            SubjectKind::Permission => "name the Graph permission with `permission`".into(),
        };
        cx.err_key(
            Code::E018,
            &format!("{at}/{field}"),
            format!(
                "{rule} {}: its acknowledgement takes no `{field}`",
                kind.about()
            ),
            format!("remove `{field}`: {instead}"),
        );
    }
    any
}

/// The subject fields the rule needs that the entry leaves out (`` `role` or `scope` ``).
fn missing_fields(ack: &Acknowledgement, kind: SubjectKind) -> Option<String> {
    let given = |f: &str| match f {
        "role" => ack.role.is_some(),
        "scope" => ack.scope.is_some(),
        _ => ack.permission.is_some(),
    };
    let missing: Vec<String> = kind
        .fields()
        .iter()
        .filter(|f| !given(f))
        .map(|f| format!("`{f}`"))
        .collect();
    (!missing.is_empty()).then(|| missing.join(" or "))
}

/// Whether `rule` can find `s` by the shape of its scope: L001 and L007 a whole
/// subscription, L008 a resource (the lint decides the rest).
fn may_find(rule: RuleId, s: &Subject) -> bool {
    match (rule, s) {
        (RuleId::L001 | RuleId::L007, Subject::Role { scope, .. }) => {
            scope.subscription.is_some() && scope.resource_group.is_none()
        }
        (RuleId::L008, Subject::Role { scope, .. }) => scope.resource.is_some(),
        _ => true,
    }
}

/// The hint of an entry without its subject: the subjects the rule may find on the runner.
fn name_one(found: &[String], runner: &str, rule: RuleId) -> String {
    let quoted: Vec<String> = found.iter().map(|f| format!("`{f}`")).collect();
    match quoted.as_slice() {
        [] => format!("runner `{runner}` has nothing {rule} can find: remove the acknowledgement"),
        [one] => format!("add what it covers, as the runner writes it: {one}"),
        many => format!(
            "add the one it covers, as the runner writes it: {}",
            many.join(", or ")
        ),
    }
}

/// An entry whose subject the runner has in none of its environments: E018 with the nearest.
fn absent(
    cx: &mut Ctx,
    at: &str,
    ack: &Acknowledgement,
    kind: SubjectKind,
    runner: &str,
    has: &[Subject],
) {
    let written = subject::written(ack);
    // At the field that differs: the scope when the runner has the role elsewhere.
    let has_role = |r: &str| {
        has.iter()
            .any(|s| matches!(s, Subject::Role { role, .. } if subject::same_role(role, r)))
    };
    let (what, field) = match kind {
        SubjectKind::Permission => ("Graph permission", "permission"),
        _ if ack.role.as_deref().is_some_and(has_role) => ("role assignment", "scope"),
        _ => ("role assignment", "role"),
    };
    let all: Vec<String> = has.iter().map(Subject::fields).collect();
    let hint = match did_you_mean(&written, all.iter().map(String::as_str)) {
        Some(near) => format!("did you mean `{near}`?"),
        None if all.is_empty() => format!("it has no {what}: remove the acknowledgement"),
        None => format!(
            "its {what}s: {}",
            all.iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    cx.err(
        Code::E018,
        &format!("{at}/{field}"),
        format!(
            "the acknowledgement of {} names `{written}`, a {what} runner `{runner}` does not have",
            ack.rule
        ),
        hint,
    );
}
