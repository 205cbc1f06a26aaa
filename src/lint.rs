//! `runnergen lint`: privilege findings on a valid spec. Each rule has a stable ID, a level, a
//! rationale and its upstream source (README "Lint rules" is generated from [`RULES`]). Lint
//! reads the checked spec (for where each finding is) and the model (for the resolved values),
//! and never changes either: a finding is advice, not an error, unless `--strict`.
//!
//! A runner accepts a finding with `acknowledge: [{rule, reason}]`; the finding still prints,
//! marked, and `--strict` lets it pass.

use crate::facts;
use crate::model::{Fleet, Runner};
use crate::spec::types as t;
use crate::spec::yaml::{Pos, SourceMap};
use crate::spec::{self, Code, Diagnostic};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    High,
    Medium,
    Low,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::High => "high",
            Level::Medium => "medium",
            Level::Low => "low",
        }
    }
}

/// One lint rule.
pub struct Rule {
    pub id: Code,
    pub level: Level,
    pub title: &'static str,
    /// Why it matters, for the README.
    pub rationale: &'static str,
    /// Where the rule comes from upstream.
    pub source: &'static str,
}

/// The privileged built-in roles of L001: each can grant any role to anyone at its scope.
pub const ACCESS_ADMIN_ROLES: &[&str] = &[
    "Owner",
    "Role Based Access Control Administrator",
    "User Access Administrator",
];

pub const RULES: &[Rule] = &[
    Rule {
        id: Code::L001,
        level: Level::High,
        title: "Owner, User Access Administrator or Role Based Access Control Administrator at subscription scope",
        rationale: "the identity can assign itself, or anyone, any role on the whole subscription: every job of the runner is a subscription administrator",
        source: "Azure RBAC best practices, \"Limit privileged administrator role assignments\" (learn.microsoft.com/azure/role-based-access-control/best-practices)",
    },
    Rule {
        id: Code::L002,
        level: Level::High,
        title: "job pods are cluster-admin",
        rationale: "any job can read every Secret of the cluster, other runners' tokens included, and change anything",
        source: "Kubernetes, RBAC good practices: least privilege, avoid cluster-admin (kubernetes.io/docs/concepts/security/rbac-good-practices)",
    },
    Rule {
        id: Code::L003,
        level: Level::High,
        title: "privileged job pods without a dedicated node pool",
        rationale: "a privileged container is root on its node: it can read the projected service-account and workload-identity tokens of every other pod there. Give privileged runners their own nodes (nodeSelector and a toleration of their taint)",
        source: "Kubernetes Pod Security Standards, Privileged profile (kubernetes.io/docs/concepts/security/pod-security-standards); GitLab runner docs, Kubernetes executor, \"Use Docker in builds\" security note",
    },
    Rule {
        id: Code::L004,
        level: Level::Medium,
        title: "run-untagged on a runner whose identity can write",
        rationale: "every untagged job of the group or project lands on the runner and gets the identity, without asking for it",
        source: "GitLab docs, ci/runners/configure_runners.md \"Control jobs that a runner can run\"",
    },
    Rule {
        id: Code::L005,
        level: Level::Medium,
        title: "an identity that can write on a runner not limited to protected branches and tags",
        rationale: "anyone who can push a branch can run a job with the identity; `accessLevel: ref_protected` keeps it to protected refs",
        source: "GitLab docs, ci/runners/configure_runners.md \"Prevent runners from revealing sensitive information\"",
    },
    Rule {
        id: Code::L006,
        level: Level::Medium,
        title: "Microsoft Graph Directory.Read.All",
        rationale: "reads every object of the directory; User.Read.All, Group.Read.All or GroupMember.Read.All are narrower and usually enough",
        source: "Microsoft Graph permissions reference, least-privileged permissions (learn.microsoft.com/graph/permissions-reference)",
    },
    Rule {
        id: Code::L007,
        level: Level::Low,
        title: "a role on a whole subscription",
        rationale: "a resource group or one resource is usually enough; a subscription scope also covers everything created there later",
        source: "Azure RBAC best practices, \"Only grant the access users need\" (learn.microsoft.com/azure/role-based-access-control/best-practices)",
    },
    Rule {
        id: Code::L008,
        level: Level::High,
        title: "a role in another environment's subscription",
        rationale: "a runner of one environment can change another (a dev job writing production): environments are no longer isolated",
        source: "Azure landing zones, environment separation by subscription (Cloud Adoption Framework, \"Landing zone design areas: resource organization\")",
    },
    Rule {
        id: Code::L009,
        level: Level::Low,
        title: "job pods with an Azure identity but no CPU or memory limit",
        rationale: "one job can starve the node's other pods, the manager included; limits also bound what a compromised job can mine",
        source: "Kubernetes, Resource Management for Pods and Containers (kubernetes.io/docs/concepts/configuration/manage-resources-containers)",
    },
    Rule {
        id: Code::L010,
        level: Level::Medium,
        title: "manager and job pods share one service account",
        rationale: "jobs run as the manager, in its namespace: they can read the runner's glrt- token and use the manager's API rights",
        source: "GitLab runner docs, Kubernetes executor `service_account` (jobs' account apart from the manager's)",
    },
];

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// One finding on one runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub environment: String,
    pub runner: String,
    /// JSON pointer into the spec, where the value is written (`instances::source_path`).
    pub path: String,
    /// Where it is reported: at the field, or at the runner's key when the spec leaves the field
    /// to its default. Placed once by [`lint`], so the findings need no source map afterwards.
    pub pos: Pos,
    pub message: String,
    /// One per rule and place: static, so that 20,000 findings do not hold 20,000 copies.
    pub hint: &'static str,
    /// The reason, when the runner acknowledges the rule.
    pub acknowledged: Option<String>,
}

impl Finding {
    /// Sets `pos` from the source map, and `path` to where the value is written; `runner` is
    /// the runner's pointer (in its environment).
    fn place(&mut self, map: &SourceMap, runner: &str) {
        // A field the spec leaves to its default is shown at the runner's key.
        self.pos = if map.get(&self.path).is_some() {
            spec::pos(map, &self.path)
        } else {
            let nearest = spec::pos(map, &self.path);
            if nearest == spec::pos(map, runner) {
                spec::key_pos(map, runner)
            } else {
                nearest
            }
        };
        if let Some(p) = crate::spec::instances::source_path(map, &self.path) {
            self.path = p;
        }
    }

    pub fn level(&self) -> Level {
        rule(self.rule).map_or(Level::Low, |r| r.level)
    }

    /// The finding as a located warning.
    pub fn diagnostic(&self) -> Diagnostic {
        let level = self.level().as_str();
        let message = match &self.acknowledged {
            None => format!("{} ({level})", self.message),
            Some(reason) => format!("{} ({level}; acknowledged: {reason})", self.message),
        };
        let code = Code::lint_rule(self.rule).expect("a finding's rule is a lint rule");
        Diagnostic::warning(code, self.pos, &self.path, message).hint(self.hint)
    }
}

/// The findings of every runner, and the acknowledgements that match none (notes: a stale
/// acknowledgement would hide the next real finding of its rule).
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub stale: Vec<Diagnostic>,
}

impl Report {
    /// The findings of one runner.
    pub fn of<'a>(&'a self, env: &'a str, runner: &'a str) -> impl Iterator<Item = &'a Finding> {
        // Sorted by (environment, runner) in `lint`: one binary search, not a scan per runner.
        let key = |f: &Finding| (f.environment.as_str(), f.runner.as_str()) < (env, runner);
        let start = self.findings.partition_point(key);
        self.findings[start..]
            .iter()
            .take_while(move |f| f.environment == env && f.runner == runner)
    }

    /// Findings not acknowledged: what fails `--strict`.
    pub fn open(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.acknowledged.is_none())
            .count()
    }

    /// Every finding and stale acknowledgement as diagnostics, sorted by position.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut d: Vec<Diagnostic> = self.findings.iter().map(Finding::diagnostic).collect();
        d.extend(self.stale.iter().cloned());
        spec::diag::sort(&mut d);
        d.dedup();
        d
    }
}

pub fn lint(spec: &t::Spec, fleet: &Fleet, map: &SourceMap) -> Report {
    let mut report = Report {
        findings: Vec::new(),
        stale: Vec::new(),
    };
    for env in &fleet.environments {
        for r in &env.runners {
            let Some(sr) = spec.instance(&r.key, &env.key).map(|i| &i.runner) else {
                continue;
            };
            let mut found = runner(fleet, env, r, sr);
            let base = &r.at;
            for (i, ack) in sr.acknowledge.iter().enumerate() {
                let mut matched = false;
                for f in found.iter_mut().filter(|f| f.rule == ack.rule) {
                    f.acknowledged = Some(ack.reason.trim().to_owned());
                    matched = true;
                }
                if !matched && rule(&ack.rule).is_some() {
                    let path = format!("{base}/acknowledge/{i}/rule");
                    report.stale.push(
                        Diagnostic::note(
                            Code::N002,
                            spec::pos(map, &path),
                            &path,
                            format!(
                                "runner `{}` acknowledges {}, which finds nothing on it",
                                r.key, ack.rule
                            ),
                        )
                        .hint("remove the acknowledgement, so that a future finding of the rule is seen"),
                    );
                }
            }
            for f in &mut found {
                f.place(map, base);
            }
            report.findings.extend(found);
        }
    }
    // Paths where the values are written, as every diagnostic names them (`spec::finish`).
    spec::finish(map, &mut report.stale);
    // By environment then runner (stable: a runner's findings keep their rule order), so that
    // `Report::of` finds a runner's findings by binary search.
    report
        .findings
        .sort_by(|a, b| (&a.environment, &a.runner).cmp(&(&b.environment, &b.runner)));
    report
}

/// Whether the runner's identity can change anything in Azure or Microsoft Graph.
pub fn identity_writes(sr: &t::Runner) -> bool {
    sr.access()
        .roles
        .iter()
        .any(|ra| facts::role_writes(&ra.role))
        || sr
            .access()
            .graph_permissions
            .iter()
            .any(|p| p.contains("ReadWrite"))
}

fn runner(
    fleet: &Fleet,
    env: &crate::model::Environment,
    r: &Runner,
    sr: &t::Runner,
) -> Vec<Finding> {
    let base = &r.at;
    let mut out = Vec::new();
    let mut find = |rule: Code, at: &str, message: String, hint: &'static str| {
        out.push(Finding {
            rule: rule.as_str(),
            environment: env.key.clone(),
            runner: r.key.clone(),
            path: format!("{base}{at}"),
            pos: Pos { line: 1, col: 1 },
            message,
            hint,
            acknowledged: None,
        });
    };
    let who = format!("runner `{}`", r.key);

    for (i, ra) in sr.access().roles.iter().enumerate() {
        let name = if facts::is_guid(&ra.role) {
            facts::role_name(&ra.role).unwrap_or(&ra.role)
        } else {
            ra.role.as_str()
        };
        let at = format!("/identity/roles/{i}/scope");
        let sc = &ra.scope;
        let whole_subscription = sc.subscription.is_some() && sc.resource_group.is_none();
        if whole_subscription {
            let subs = match sc.subscription.as_deref() {
                Some("*") => "every subscription of the environment".to_owned(),
                Some(s) => format!("subscription `{s}`"),
                None => unreachable!(),
            };
            if ACCESS_ADMIN_ROLES.contains(&name) {
                find(
                    Code::L001,
                    &at,
                    format!("{who}'s identity is {name} of {subs}"),
                    "grant Contributor (or a narrower role) and, where the pipelines create role assignments, Role Based Access Control Administrator on a resource group with a condition on the roles it may assign",
                );
            } else {
                find(
                    Code::L007,
                    &at,
                    format!("{who}'s identity has {name} on {subs}"),
                    "scope the role to a resource group (`resourceGroup:`) or one resource (`resource:`)",
                );
            }
        }
        // A resource ID names its subscription; an alias is the environment's own by the schema.
        if let Some(id) = sc.resource.as_deref().and_then(facts::parse_resource_id) {
            let sub = id.subscription_id.to_lowercase();
            let own = env
                .subscriptions
                .values()
                .any(|s| s.eq_ignore_ascii_case(&sub));
            if let Some(other) = fleet.environments.iter().find(|e| {
                e.key != env.key
                    && e.subscriptions
                        .values()
                        .any(|s| s.eq_ignore_ascii_case(&sub))
            }) && !own
            {
                find(
                    Code::L008,
                    &at,
                    format!(
                        "{who} of environment `{}` has {name} in subscription {sub} of environment `{}`",
                        env.key, other.key
                    ),
                    "give the role to the other environment's runner, or add the subscription to this environment's `subscriptions` if it is shared on purpose",
                );
            }
        }
    }

    if r.kubernetes_access == t::KubernetesAccess::ClusterAdmin {
        find(
            Code::L002,
            "/identity/kubernetesAccess",
            format!("{who}'s job pods are cluster-admin"),
            "use `kubernetesAccess: namespace` (a Role in the job namespace) and deploy to other clusters with the Azure identity and Azure RBAC for Kubernetes",
        );
    }
    if r.privileged && (r.node_selector.is_empty() || r.tolerations.is_empty()) {
        find(
            Code::L003,
            "/privileged",
            format!("{who} runs privileged job pods on shared nodes"),
            "add `nodeSelector` and `tolerations` for a node pool tainted for privileged jobs only",
        );
    }
    let writes = identity_writes(sr);
    if r.run_untagged && writes {
        find(
            Code::L004,
            "/runUntagged",
            format!("{who} runs untagged jobs with an identity that can write"),
            "set `runUntagged: false`, so that only jobs that ask for the runner's tags get the identity",
        );
    }
    if r.access_level == t::AccessLevel::NotProtected && writes {
        find(
            Code::L005,
            "/accessLevel",
            format!("{who}'s identity can write, and jobs from any branch can use it"),
            "set `accessLevel: ref_protected`",
        );
    }
    if let Some(i) = sr
        .access()
        .graph_permissions
        .iter()
        .position(|p| p == "Directory.Read.All")
    {
        find(
            Code::L006,
            &format!("/identity/graphPermissions/{i}"),
            format!("{who}'s identity reads the whole directory (Directory.Read.All)"),
            "use User.Read.All, Group.Read.All or GroupMember.Read.All for what the jobs read",
        );
    }
    if r.has_identity && (r.limits.cpu.is_none() || r.limits.memory.is_none()) {
        let missing = match (&r.limits.cpu, &r.limits.memory) {
            (None, None) => "CPU or memory limit",
            (None, Some(_)) => "CPU limit",
            _ => "memory limit",
        };
        find(
            Code::L009,
            "/resources/limits",
            format!("{who}'s job pods carry an Azure identity and have no {missing}"),
            "set `resources.limits.cpu` and `resources.limits.memory`",
        );
    }
    if r.shared_service_account {
        find(
            Code::L010,
            "/serviceAccounts",
            format!("{who}'s manager and job pods share one service account"),
            "remove `serviceAccounts: shared`: jobs then run in their own namespace with their own account",
        );
    }
    out
}

/// Acknowledgements that name no rule or give no reason: errors (E018) of the spec.
pub fn check_acknowledgements(spec: &t::Spec, map: &SourceMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for inst in &spec.instances {
        let mut seen = std::collections::BTreeSet::new();
        for (i, ack) in inst.runner.acknowledge.iter().enumerate() {
            let base = format!("{}/acknowledge/{i}", inst.at);
            if rule(&ack.rule).is_none() {
                let ids: Vec<&str> = RULES.iter().map(|r| r.id.as_str()).collect();
                let path = format!("{base}/rule");
                out.push(
                    Diagnostic::error(
                        Code::E018,
                        spec::pos(map, &path),
                        &path,
                        format!("`{}` is not a lint rule", ack.rule),
                    )
                    .hint(format!("one of {}", ids.join(", "))),
                );
            } else if !seen.insert(ack.rule.as_str()) {
                let path = format!("{base}/rule");
                out.push(
                    Diagnostic::error(
                        Code::E031,
                        spec::pos(map, &path),
                        &path,
                        format!("{} is acknowledged twice", ack.rule),
                    )
                    .hint("keep one acknowledgement per rule"),
                );
            }
            if ack.reason.trim().is_empty() {
                let path = format!("{base}/reason");
                out.push(
                    Diagnostic::error(
                        Code::E018,
                        spec::pos(map, &path),
                        &path,
                        format!("the acknowledgement of {} gives no reason", ack.rule),
                    )
                    .hint("say why the finding is accepted: reviewers read it beside the finding"),
                );
            }
        }
    }
    out
}

/// The README's table of rules.
pub fn markdown() -> String {
    let mut s = String::from("| rule | level | finds | why | source |\n|---|---|---|---|---|\n");
    for r in RULES {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.id,
            r.level.as_str(),
            r.title,
            r.rationale,
            r.source
        ));
    }
    s
}

#[cfg(test)]
mod tests;
