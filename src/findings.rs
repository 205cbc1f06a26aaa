//! Lint findings as data: the rules (`RULES`, each with its level, rationale and upstream
//! source), a finding on one runner, and a fleet's report. `lint` computes the findings;
//! `compile` places them in the spec and hands the report to the model's `Fleet::lint`, which
//! PERMISSIONS.md, `validate`, `render` and `runnergen lint` read. It sits below both the model
//! and `lint`: the fleet carries the report without the model importing the lint that computes
//! it.

use crate::spec::code::SubjectKind;
use crate::spec::problem::Anchor;
pub use crate::spec::subject::Subject;
use crate::spec::yaml::Pos;
use crate::spec::{self, Diagnostic, RuleId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Refused like a spec error (exit 2, nothing written) until fixed or acknowledged.
    Error,
    High,
    Medium,
    Low,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::High => "high",
            Level::Medium => "medium",
            Level::Low => "low",
        }
    }
}

/// One lint rule.
pub struct Rule {
    pub id: RuleId,
    pub level: Level,
    pub title: &'static str,
    /// Why it matters, for docs/lint-rules.md.
    pub rationale: &'static str,
    /// Where the rule comes from upstream.
    pub source: &'static str,
    /// What one finding is about, which an acknowledgement names besides the rule
    /// (`RuleId::subject`, which the spec's checks read; a test keeps the two equal).
    pub subject: SubjectKind,
}

impl Rule {
    /// What an `acknowledge:` entry of the rule writes, for docs/lint-rules.md's table.
    pub fn acknowledged_by(&self) -> String {
        let mut fields = vec!["rule"];
        fields.extend(self.subject.fields());
        fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub const RULES: &[Rule] = &[
    Rule {
        id: RuleId::L001,
        level: Level::High,
        title: "Owner, User Access Administrator or Role Based Access Control Administrator at subscription scope",
        rationale: "the identity can assign itself, or anyone, any role on the whole subscription: every job of the runner is a subscription administrator",
        source: "Azure RBAC best practices, \"Limit privileged administrator role assignments\" (learn.microsoft.com/azure/role-based-access-control/best-practices)",
        subject: SubjectKind::Role,
    },
    Rule {
        id: RuleId::L002,
        level: Level::High,
        title: "job pods are cluster-admin",
        rationale: "any job can read every Secret of the cluster, other runners' tokens included, and change anything",
        source: "Kubernetes, RBAC good practices: least privilege, avoid cluster-admin (kubernetes.io/docs/concepts/security/rbac-good-practices)",
        subject: SubjectKind::Runner,
    },
    Rule {
        id: RuleId::L003,
        level: Level::High,
        title: "privileged job pods without a dedicated node pool",
        rationale: "a privileged container is root on its node: it can read the projected service-account and workload-identity tokens of every other pod there. Give privileged runners their own nodes (nodeSelector and a toleration of their taint)",
        source: "Kubernetes Pod Security Standards, Privileged profile (kubernetes.io/docs/concepts/security/pod-security-standards); GitLab runner docs, Kubernetes executor, \"Use Docker in builds\" security note",
        subject: SubjectKind::Runner,
    },
    Rule {
        id: RuleId::L004,
        level: Level::Medium,
        title: "run-untagged on a runner whose identity can write",
        rationale: "every untagged job of the group or project lands on the runner and gets the identity, without asking for it",
        source: "GitLab docs, ci/runners/configure_runners.md \"Control jobs that a runner can run\"",
        subject: SubjectKind::Runner,
    },
    Rule {
        id: RuleId::L005,
        level: Level::Medium,
        title: "an identity that can write on a runner not limited to protected branches and tags",
        rationale: "anyone who can push a branch can run a job with the identity; `accessLevel: ref_protected` keeps it to protected refs",
        source: "GitLab docs, ci/runners/configure_runners.md \"Prevent runners from revealing sensitive information\"",
        subject: SubjectKind::Runner,
    },
    Rule {
        id: RuleId::L006,
        level: Level::Medium,
        title: "Microsoft Graph Directory.Read.All",
        rationale: "reads every object of the directory; User.Read.All, Group.Read.All or GroupMember.Read.All are narrower and usually enough",
        source: "Microsoft Graph permissions reference, least-privileged permissions (learn.microsoft.com/graph/permissions-reference)",
        subject: SubjectKind::Permission,
    },
    Rule {
        id: RuleId::L007,
        level: Level::Low,
        title: "a role on a whole subscription",
        rationale: "a resource group or one resource is usually enough; a subscription scope also covers everything created there later",
        source: "Azure RBAC best practices, \"Only grant the access users need\" (learn.microsoft.com/azure/role-based-access-control/best-practices)",
        subject: SubjectKind::Role,
    },
    Rule {
        id: RuleId::L008,
        level: Level::High,
        title: "a role in another environment's subscription",
        rationale: "a runner of one environment can change another (a dev job writing production): environments are no longer isolated",
        source: "Azure landing zones, environment separation by subscription (Cloud Adoption Framework, \"Landing zone design areas: resource organization\")",
        subject: SubjectKind::Role,
    },
    Rule {
        id: RuleId::L009,
        level: Level::Low,
        title: "job pods with an Azure identity but no CPU or memory limit",
        rationale: "one job can starve the node's other pods, the manager included; limits also bound what a compromised job can mine",
        source: "Kubernetes, Resource Management for Pods and Containers (kubernetes.io/docs/concepts/configuration/manage-resources-containers)",
        subject: SubjectKind::Runner,
    },
    Rule {
        id: RuleId::L010,
        level: Level::Medium,
        title: "manager and job pods share one service account",
        rationale: "jobs run as the manager, in its namespace: they can read the runner's glrt- token and use the manager's API rights",
        source: "GitLab runner docs, Kubernetes executor `service_account` (jobs' account apart from the manager's)",
        subject: SubjectKind::Runner,
    },
    Rule {
        id: RuleId::L011,
        level: Level::Error,
        title: "jobs written for the runner can run on another with other access",
        rationale: "both serve the job's project and the other has every tag the job asks for (all the runner's tags but its own), so GitLab may give it to either: a dev job can run with prd's identity",
        source: "GitLab `app/models/ci/matching/runner_matcher.rb` (`accepting_tags?`: a runner takes a job when the job's tags are all among its own)",
        subject: SubjectKind::Runner,
    },
];

pub fn rule(id: RuleId) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .expect("every rule ID has its row (a test checks the table)")
}

/// One finding on one runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: RuleId,
    pub environment: String,
    pub runner: String,
    /// JSON pointer into the spec: the instance's as `lint` finds it, then, once placed
    /// (`compile::resolve`, through `spec::locate::place`), where the value is written
    /// (`instances::source_path`).
    pub path: String,
    /// How it is placed: at the field, or at the runner's key when the spec leaves the field to
    /// its default (`Anchor::Written` with the runner's pointer).
    pub anchor: Anchor,
    /// Where it is reported, once placed; placed once, so the findings need no source map
    /// afterwards.
    pub pos: Pos,
    pub message: String,
    /// What the finding is about beyond its rule: an acknowledgement covers it when it names
    /// the rule and this (`Subject::named_by`).
    pub about: Subject,
    /// One per rule and place: static, so that 20,000 findings do not hold 20,000 copies.
    pub hint: &'static str,
    /// The reason, when an acknowledgement of the runner in this environment covers it.
    pub acknowledged: Option<String>,
}

impl Finding {
    pub fn level(&self) -> Level {
        rule(self.rule).level
    }

    /// The finding as a located warning.
    pub fn diagnostic(&self) -> Diagnostic {
        let level = self.level().as_str();
        let message = match &self.acknowledged {
            None if self.level() == Level::Error => self.message.clone(),
            None => format!("{} ({level})", self.message),
            Some(reason) => format!("{} ({level}; acknowledged: {reason})", self.message),
        };
        // A keyed finding says what its acknowledgement names, and where: an override's finding
        // in that override, so that it applies in that environment only.
        let hint = match (&self.acknowledged, self.about.fields()) {
            (None, fields) if !fields.is_empty() => {
                let override_of = format!("/overrides/{}/", spec::ptr_key(&self.environment));
                let place = match self.path.contains(&override_of) {
                    true => format!("in `overrides.{}`", self.environment),
                    false => "on the runner".to_owned(),
                };
                format!(
                    "{}; or accept it {place}: `acknowledge: [{{rule: {}, {fields}, reason: …}}]`",
                    self.hint, self.rule
                )
            }
            _ => self.hint.to_owned(),
        };
        if self.blocks() {
            Diagnostic::error(self.rule.into(), self.pos, &self.path, message).hint(hint)
        } else {
            Diagnostic::warning(self.rule.into(), self.pos, &self.path, message).hint(hint)
        }
    }

    /// An error-level finding nobody acknowledged: the spec is refused until it is fixed or
    /// acknowledged.
    pub fn blocks(&self) -> bool {
        self.level() == Level::Error && self.acknowledged.is_none()
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
        // Sorted by (environment, runner) in `lint::lint`: one binary search, not a scan per runner.
        let key = |f: &Finding| (f.environment.as_str(), f.runner.as_str()) < (env, runner);
        let start = self.findings.partition_point(key);
        self.findings[start..]
            .iter()
            .take_while(move |f| f.environment == env && f.runner == runner)
    }

    /// Whether an error-level finding stands unacknowledged: `compile::resolve` refuses the
    /// spec then.
    pub fn blocks(&self) -> bool {
        self.findings.iter().any(Finding::blocks)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What `acknowledge:` may name (`RuleId::ALL`, checked by spec) is the rule table, in order.
    #[test]
    fn the_rule_table_is_the_lint_codes() {
        let ids: Vec<RuleId> = RULES.iter().map(|r| r.id).collect();
        assert_eq!(ids, RuleId::ALL);
    }

    /// What the table says an acknowledgement names is what the spec's checks ask for.
    #[test]
    fn the_rule_table_subjects_are_the_spec_checks() {
        for r in RULES {
            assert_eq!(r.subject, r.id.subject(), "{}", r.id);
        }
        assert_eq!(
            rule(RuleId::L001).acknowledged_by(),
            "`rule`, `role`, `scope`"
        );
        assert_eq!(rule(RuleId::L003).acknowledged_by(), "`rule`");
    }
}
