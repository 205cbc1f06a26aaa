//! `runnergen audit`: did anyone grant more than the rendered output says? It compares the
//! live state, exported by the operator as files (`az role assignment list`, `az identity
//! list`, `az identity federated-credential list`, `kubectl get … -o json`, GitLab's runner
//! details), with what a rendered output directory grants, read back from its files
//! (`expected`, through `readback`), never from the spec. It never calls Azure, Kubernetes or
//! GitLab: like `register` it is a consumer of `out/`, but an offline one.
//!
//! Each finding is about one runner and is either *beyond* the rendered output (a role
//! assignment, federated credential, binding or GitLab runner the files do not render: exit 3)
//! or *missing* from live state (something rendered that is not there: exit 1).

mod azure;
pub mod expected;
pub mod format;
mod gitlab;
mod kubernetes;
pub mod live;

use serde::Serialize;
use std::collections::BTreeMap;

/// Whether a finding grants more than the output renders or lacks what it renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Live state grants what the rendered output does not.
    Beyond,
    /// Something the output renders is not in live state.
    Missing,
}

/// One difference between live state and a runner's rendered output.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub env: String,
    pub runner: String,
    pub class: Class,
    /// `role-assignment`, `managed-identity`, `federated-credential`, `namespace`,
    /// `service-account`, `binding`, `external-secret`, `gitlab-runner`.
    pub kind: &'static str,
    /// What was found, in words (no secret: only names, IDs, roles and scopes).
    pub what: String,
}

/// A check that could not run, and why (an input not given).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotRun {
    pub check: &'static str,
    pub reason: String,
}

/// What an audit found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The output directory, as given.
    pub out: String,
    /// `<env>/<runner>` of every runner audited.
    pub runners: Vec<String>,
    pub not_run: Vec<NotRun>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn beyond(&self) -> usize {
        self.count(Class::Beyond)
    }

    pub fn missing(&self) -> usize {
        self.count(Class::Missing)
    }

    fn count(&self, class: Class) -> usize {
        self.findings.iter().filter(|f| f.class == class).count()
    }
}

/// One exported file: its name as given (for messages) and its bytes.
#[derive(Clone, Debug)]
pub struct Input {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The exported live state; each input is optional, and a check without its input is
/// reported as not run.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// `az role assignment list --all -o json`, one file per subscription (or more).
    pub azure_roles: Vec<Input>,
    /// `az identity list -o json`.
    pub identities: Option<Input>,
    /// `az identity federated-credential list … -o json`, one file per identity (or more).
    pub federated_credentials: Vec<Input>,
    /// `kubectl get … -A -o json`.
    pub kubernetes: Option<Input>,
    /// The GitLab runners' details (`GET /runners/:id` objects) as one JSON array.
    pub gitlab_runners: Option<Input>,
}

impl Inputs {
    fn is_empty(&self) -> bool {
        self.azure_roles.is_empty()
            && self.identities.is_none()
            && self.federated_credentials.is_empty()
            && self.kubernetes.is_none()
            && self.gitlab_runners.is_none()
    }
}

/// Audits the rendered `files` of an output directory (path relative to it → bytes), the
/// environments `envs` of it (all when empty), against the live state `inputs`. Fails, with a
/// message naming the file, on an input that is not what its command exports, and on an
/// environment the output does not render.
pub fn audit(
    out: &str,
    files: &BTreeMap<String, Vec<u8>>,
    envs: &[String],
    inputs: &Inputs,
) -> Result<Report, String> {
    if inputs.is_empty() {
        return Err(
            "no live state to audit: give at least one of --azure-roles, --identities, \
            --federated-credentials, --kubernetes, --gitlab-runners (docs/audit.md)"
                .into(),
        );
    }
    let runners = expected::read(files, envs)?;
    if runners.is_empty() {
        return Err(format!("{out}: no rendered runner to audit"));
    }
    let live = live::Live::parse(inputs)?;
    let mut report = Report {
        out: out.to_owned(),
        runners: runners
            .iter()
            .map(|r| format!("{}/{}", r.env, r.key))
            .collect(),
        ..Report::default()
    };
    azure::check(&runners, &live, &mut report);
    kubernetes::check(&runners, &live, &mut report);
    gitlab::check(&runners, &expected::notes(files), &live, &mut report);
    report.findings.sort();
    report.findings.dedup();
    Ok(report)
}

/// Adds a finding about runner `r`.
fn found(
    report: &mut Report,
    r: &expected::Runner,
    class: Class,
    kind: &'static str,
    what: String,
) {
    report.findings.push(Finding {
        env: r.env.clone(),
        runner: r.key.clone(),
        class,
        kind,
        what,
    });
}

/// Notes a check that did not run.
fn not_run(report: &mut Report, check: &'static str, reason: impl Into<String>) {
    report.not_run.push(NotRun {
        check,
        reason: reason.into(),
    });
}
