//! `runnergen lint`: privilege findings on a valid spec, a stage `compile` runs after the model
//! is built. Each rule has a stable ID, a level, a rationale and its upstream source
//! (`findings::RULES`; the table of docs/lint-rules.md is generated from it). Lint reads the checked spec
//! (acknowledgements, the roles as written) and the model (the resolved values), and never
//! changes either: a finding is advice, not an error, unless `--strict`, or unless its rule's
//! level is `error` (L011), which `compile::resolve` refuses until it is acknowledged. What it finds is
//! named by pointer; `compile` places it in the spec.
//!
//! A runner accepts a finding with `acknowledge: [{rule, …, reason}]`, naming what the finding
//! is about (`Finding::about`: nothing more, a role assignment, or a Graph permission); the
//! finding still prints, marked, and `--strict` lets it pass. An entry covers the findings of
//! its rule about what it names in each environment it applies in (the runner's own in all, an
//! override's in its own); one that covers nothing in some of them is noted once where it is
//! written (N002), naming those environments.

use crate::facts;
pub use crate::findings::{Finding, Level, RULES, Report, Rule, rule};
use crate::model::{Fleet, Runner};
use crate::spec::subject::{self, Subject};
use crate::spec::types as t;
use crate::spec::yaml::Pos;
use crate::spec::{Anchor, Code, Problem, RuleId};
use std::collections::BTreeMap;

/// What [`lint`] finds, before it is placed in the spec: findings at their instance's
/// pointers, and acknowledgements that match no finding (N002) as problems.
#[derive(Clone, Debug, Default)]
pub struct Unplaced {
    pub findings: Vec<Finding>,
    pub stale: Vec<Problem>,
}

/// The privileged built-in roles of L001: each can grant any role to anyone at its scope.
pub const ACCESS_ADMIN_ROLES: &[&str] = &[
    "Owner",
    "Role Based Access Control Administrator",
    "User Access Administrator",
];

/// The findings of every runner, sorted by environment then runner, and the stale
/// acknowledgements.
pub fn lint(spec: &t::Spec, fleet: &Fleet) -> Unplaced {
    let mut report = Unplaced::default();
    let mut entries: BTreeMap<&str, Entry> = BTreeMap::new();
    for env in &fleet.environments {
        for r in &env.runners {
            let Some(inst) = spec.instance(&r.key, &env.key) else {
                continue;
            };
            let mut found = runner(fleet, env, r, &inst.runner);
            acknowledge(inst, &mut found, &mut entries);
            report.findings.extend(found);
        }
    }
    report.stale = entries
        .into_iter()
        .filter_map(|(at, e)| e.stale(at))
        .collect();
    // By environment then runner (stable: a runner's findings keep their rule order), so that
    // `Report::of` finds a runner's findings by binary search.
    report
        .findings
        .sort_by(|a, b| (&a.environment, &a.runner).cmp(&(&b.environment, &b.runner)));
    report
}

/// One `acknowledge:` entry where it is written, over the instances it applies to.
struct Entry<'a> {
    ack: &'a t::Acknowledgement,
    runner: &'a str,
    /// The environments it applies in, and those where it covers nothing.
    applies: Vec<&'a str>,
    stale: Vec<&'a str>,
}

impl Entry<'_> {
    /// N002 at the entry when it covers nothing in some environment it applies in, naming those
    /// environments when it applies in more than one.
    fn stale(&self, at: &str) -> Option<Problem> {
        if self.stale.is_empty() {
            return None;
        }
        let what = match subject::written(self.ack) {
            f if f.is_empty() => self.ack.rule.clone(),
            f => format!("{} (`{f}`)", self.ack.rule),
        };
        let envs = |e: &[&str]| {
            e.iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let place = match (self.applies.len(), self.stale.len()) {
            (1, _) => String::new(),
            (_, 1) => format!(" in environment {}", envs(&self.stale)),
            _ => format!(" in environments {}", envs(&self.stale)),
        };
        let hint = if self.stale.len() < self.applies.len() {
            "move it to `overrides.<env>` of the environments where it covers a finding, so that a future finding elsewhere is seen"
        } else {
            "remove the acknowledgement, so that a future finding of the rule is seen"
        };
        let message = format!(
            "runner `{}` acknowledges {what}, which finds nothing on it{place}",
            self.runner
        );
        Some(Problem::note(Code::N002, format!("{at}/rule"), message).hint(hint))
    }
}

/// Marks the findings of instance `inst` its acknowledgements cover, and records in `entries`
/// where each entry covers nothing. An unknown rule is refused by the spec's checks (E018).
fn acknowledge<'a>(
    inst: &'a t::Instance,
    found: &mut [Finding],
    entries: &mut BTreeMap<&'a str, Entry<'a>>,
) {
    for (ack, at) in inst.runner.acknowledge.iter().zip(&inst.acknowledge_at) {
        let Some(id) = RuleId::parse(&ack.rule) else {
            continue;
        };
        let mut matched = false;
        for f in found
            .iter_mut()
            .filter(|f| f.rule == id && f.about.named_by(ack))
        {
            f.acknowledged = Some(ack.reason.trim().to_owned());
            matched = true;
        }
        let e = entries.entry(at).or_insert_with(|| Entry {
            ack,
            runner: &inst.key,
            applies: Vec::new(),
            stale: Vec::new(),
        });
        e.applies.push(&inst.env);
        if !matched {
            e.stale.push(&inst.env);
        }
    }
}

/// Whether the runner's identity can change anything in Azure or Microsoft Graph.
pub fn identity_writes(sr: &t::Runner) -> bool {
    sr.access()
        .roles
        .iter()
        .any(|ra| crate::roles::writes(&ra.role))
        || sr
            .access()
            .graph_permissions
            .iter()
            .any(|p| p.contains("ReadWrite"))
}

/// One runner's findings, collected in rule order.
struct Found<'a> {
    env: &'a crate::model::Environment,
    r: &'a Runner,
    /// How messages name the runner.
    who: String,
    out: Vec<Finding>,
}

impl Found<'_> {
    /// A finding of `rule` about `about` at `at`, under the runner's pointer.
    fn find(
        &mut self,
        rule: RuleId,
        about: Subject,
        at: &str,
        message: String,
        hint: &'static str,
    ) {
        let base = &self.r.at;
        self.out.push(Finding {
            rule,
            environment: self.env.key.clone(),
            runner: self.r.key.clone(),
            path: format!("{base}{at}"),
            anchor: Anchor::Written {
                owner: base.clone(),
            },
            pos: Pos { line: 1, col: 1 },
            message,
            about,
            hint,
            acknowledged: None,
        });
    }
}

fn runner(
    fleet: &Fleet,
    env: &crate::model::Environment,
    r: &Runner,
    sr: &t::Runner,
) -> Vec<Finding> {
    let mut found = Found {
        env,
        r,
        who: format!("runner `{}`", r.key),
        out: Vec::new(),
    };
    azure_roles(&mut found, fleet, sr);
    job_pods(&mut found);
    exposure(&mut found, sr);
    graph(&mut found, sr);
    limits(&mut found);
    accounts(&mut found);
    shared_reach(&mut found, fleet);
    found.out
}

/// L001, L007 and L008: roles on whole subscriptions, and in another environment's.
fn azure_roles(found: &mut Found, fleet: &Fleet, sr: &t::Runner) {
    let who = found.who.clone();
    for (i, ra) in sr.access().roles.iter().enumerate() {
        let name = if facts::is_guid(&ra.role) {
            crate::roles::name(&ra.role).unwrap_or(&ra.role)
        } else {
            ra.role.as_str()
        };
        let at = format!("/identity/roles/{i}/scope");
        let sc = &ra.scope;
        let role = || Subject::Role {
            role: ra.role.clone(),
            scope: sc.clone(),
        };
        let whole_subscription = sc.subscription.is_some() && sc.resource_group.is_none();
        if whole_subscription {
            let subs = match sc.subscription.as_deref() {
                Some("*") => "every subscription of the environment".to_owned(),
                Some(s) => format!("subscription `{s}`"),
                None => unreachable!(),
            };
            if ACCESS_ADMIN_ROLES.contains(&name) {
                found.find(
                    RuleId::L001,
                    role(),
                    &at,
                    format!("{who}'s identity is {name} of {subs}"),
                    "grant Contributor (or a narrower role) and, where the pipelines create role assignments, Role Based Access Control Administrator on a resource group with a condition on the roles it may assign",
                );
            } else {
                found.find(
                    RuleId::L007,
                    role(),
                    &at,
                    format!("{who}'s identity has {name} on {subs}"),
                    "scope the role to a resource group (`resourceGroup:`) or one resource (`resource:`)",
                );
            }
        }
        // A resource ID names its subscription; an alias is the environment's own by the schema.
        if let Some(resource) = sc.resource.as_deref() {
            other_environment(found, fleet, resource, name, role(), &at);
        }
    }
    // The blob cache's roles (Storage Blob Data Contributor on its storage account, held by the
    // manager's identity or the shared one) are the runner's too.
    if let Some(cache) = &sr.cache {
        let role = facts::CACHE_MANAGER_ROLES[0];
        let subject = Subject::Role {
            role: role.to_owned(),
            scope: t::Scope {
                resource: Some(cache.storage_account_id.clone()),
                ..Default::default()
            },
        };
        let id = cache.storage_account_id.as_str();
        other_environment(found, fleet, id, role, subject, "/cache/storageAccountId");
    }
}

/// L008 when `resource` (a role's scope) is in a subscription of another environment and not
/// of the runner's own.
fn other_environment(
    found: &mut Found,
    fleet: &Fleet,
    resource: &str,
    name: &str,
    about: Subject,
    at: &str,
) {
    let (env, who) = (found.env, found.who.clone());
    let Some(id) = facts::parse_resource_id(resource) else {
        return;
    };
    let sub = id.subscription_id.to_lowercase();
    let in_env = |e: &crate::model::Environment| {
        e.subscriptions
            .values()
            .any(|s| s.eq_ignore_ascii_case(&sub))
    };
    if in_env(env) {
        return;
    }
    if let Some(other) = fleet
        .environments
        .iter()
        .find(|e| e.key != env.key && in_env(e))
    {
        found.find(
            RuleId::L008,
            about,
            at,
            format!(
                "{who} of environment `{}` has {name} in subscription {sub} of environment `{}`",
                env.key, other.key
            ),
            "give the role to the other environment's runner, or add the subscription to this environment's `subscriptions` if it is shared on purpose",
        );
    }
}

/// L002 and L003: what job pods can do to the cluster and their node.
fn job_pods(found: &mut Found) {
    let (r, who) = (found.r, found.who.clone());
    if r.kubernetes_access == t::KubernetesAccess::ClusterAdmin {
        found.find(
            RuleId::L002,
            Subject::Runner,
            "/identity/kubernetesAccess",
            format!("{who}'s job pods are cluster-admin"),
            "use `kubernetesAccess: namespace` (a Role in the job namespace) and deploy to other clusters with the Azure identity and Azure RBAC for Kubernetes",
        );
    }
    if r.privileged && (r.node_selector.is_empty() || r.tolerations.is_empty()) {
        found.find(
            RuleId::L003,
            Subject::Runner,
            "/privileged",
            format!("{who} runs privileged job pods on shared nodes"),
            "add `nodeSelector` and `tolerations` for a node pool tainted for privileged jobs only",
        );
    }
}

/// L004 and L005: which jobs get an identity that can write.
fn exposure(found: &mut Found, sr: &t::Runner) {
    let (r, who) = (found.r, found.who.clone());
    let writes = identity_writes(sr);
    if r.run_untagged && writes {
        found.find(
            RuleId::L004,
            Subject::Runner,
            "/runUntagged",
            format!("{who} runs untagged jobs with an identity that can write"),
            "set `runUntagged: false`, so that only jobs that ask for the runner's tags get the identity",
        );
    }
    if r.access_level == t::AccessLevel::NotProtected && writes {
        found.find(
            RuleId::L005,
            Subject::Runner,
            "/accessLevel",
            format!("{who}'s identity can write, and jobs from any branch can use it"),
            "set `accessLevel: ref_protected`",
        );
    }
}

/// L006: a Graph permission that reads the whole directory.
fn graph(found: &mut Found, sr: &t::Runner) {
    let who = found.who.clone();
    if let Some(i) = sr
        .access()
        .graph_permissions
        .iter()
        .position(|p| p == "Directory.Read.All")
    {
        found.find(
            RuleId::L006,
            Subject::Permission(sr.access().graph_permissions[i].clone()),
            &format!("/identity/graphPermissions/{i}"),
            format!("{who}'s identity reads the whole directory (Directory.Read.All)"),
            "use User.Read.All, Group.Read.All or GroupMember.Read.All for what the jobs read",
        );
    }
}

/// L009: job pods with an Azure identity and no limits.
fn limits(found: &mut Found) {
    let (r, who) = (found.r, found.who.clone());
    if r.has_identity() && (r.limits.cpu.is_none() || r.limits.memory.is_none()) {
        let missing = match (&r.limits.cpu, &r.limits.memory) {
            (None, None) => "CPU or memory limit",
            (None, Some(_)) => "CPU limit",
            _ => "memory limit",
        };
        found.find(
            RuleId::L009,
            Subject::Runner,
            "/resources/limits",
            format!("{who}'s job pods carry an Azure identity and have no {missing}"),
            "set `resources.limits.cpu` and `resources.limits.memory`",
        );
    }
}

/// L010: manager and jobs as one service account.
fn accounts(found: &mut Found) {
    let (r, who) = (found.r, found.who.clone());
    if r.shared_service_account {
        found.find(
            RuleId::L010,
            Subject::Runner,
            "/serviceAccounts",
            format!("{who}'s manager and job pods share one service account"),
            "remove `serviceAccounts: shared`: jobs then run in their own namespace with their own account",
        );
    }
}

/// L011: a runner whose jobs can run on another runner with other access (`overlap`), where
/// neither tag nor protection keeps them apart.
fn shared_reach(found: &mut Found, fleet: &Fleet) {
    let (env, r, who) = (found.env, found.r, found.who.clone());
    for o in fleet
        .overlaps
        .onto(&env.key, &r.key)
        .iter()
        .filter(|o| o.flagged())
    {
        let how = match (o.by_tags, o.untagged) {
            (true, true) => format!(
                "it has every tag they ask for ({}) and runs untagged jobs too",
                asked(r, &env.key)
            ),
            (true, false) => format!("it has every tag they ask for ({})", asked(r, &env.key)),
            _ => "both run untagged jobs".to_owned(),
        };
        found.find(
            RuleId::L011,
            Subject::Runner,
            "/tags",
            format!(
                "jobs written for {who} can run on runner `{}` of `{}`, whose jobs get other access: both serve their project and {how}",
                o.runner, o.env
            ),
            "give the runner a tag the other lacks (`overrides.<env>.tags: [<env>]`), so that its jobs ask for it, or set `accessLevel: ref_protected` on the stronger of the two",
        );
    }
}

/// The tags a job written for runner `r` of `env` asks for, as a message lists them.
fn asked(r: &Runner, env: &str) -> String {
    let own = crate::names::own_tag(env, &r.key);
    r.tags
        .iter()
        .filter(|t| **t != own)
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table of rules of docs/lint-rules.md.
pub fn markdown() -> String {
    let mut s = String::from(
        "| rule | level | finds | acknowledged by | why | source |\n|---|---|---|---|---|---|\n",
    );
    for r in RULES {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.id,
            r.level.as_str(),
            r.title,
            r.acknowledged_by(),
            r.rationale,
            r.source
        ));
    }
    s
}

#[cfg(test)]
mod tests;
