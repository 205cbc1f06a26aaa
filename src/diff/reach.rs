//! Who can make a runner run a job, where its job pods run and with what, and whom its manager
//! trusts: the changes of these that `diff` ranks beside the roles. Each comparison says when
//! the new side reaches further than the old; what cannot be shown to reach no further is a
//! widening.

use super::security::{Found, SecurityKind};
use crate::access::{Access, PodSettings, Trigger};
use crate::spec::RunnerType;

/// Changes of the trigger, the manager's GitLab, the job pods' settings and placement, their
/// account and namespace, compared where both sides have them.
pub(super) fn reach_changes(old: &Access, new: &Access) -> Vec<Found> {
    let mut out = Vec::new();
    if let (Some(a), Some(b)) = (&old.trigger, &new.trigger) {
        trigger(a, b, &mut out);
    }
    if let (Some(a), Some(b)) = (&old.gitlab_url, &new.gitlab_url)
        && a != b
    {
        out.push((
            SecurityKind::GitlabUrlChanged,
            format!("GitLab URL {a} → {b}: the manager registers there and sends its token there"),
            None,
        ));
    }
    for (what, a, b) in [
        (
            "chart repository",
            &old.chart_repository,
            &new.chart_repository,
        ),
        ("manager image", &old.chart_image, &new.chart_image),
    ] {
        // Where both sides render the manager (its image unset is the chart's default).
        let both = old.workload.is_some() && new.workload.is_some();
        if both && a != b {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "the default".into());
            out.push((
                SecurityKind::ChartSourceChanged,
                format!(
                    "{what} {} → {}: other code runs as the manager, with its token",
                    show(a),
                    show(b)
                ),
                None,
            ));
        }
    }
    if let (Some(a), Some(b)) = (&old.chart_values, &new.chart_values) {
        chart_values(a, b, &mut out);
    }
    if let (Some(a), Some(b)) = (&old.pods, &new.pods) {
        pods(a, b, new.privileged == Some(true), &mut out);
    }
    if let (Some(a), Some(b)) = (&old.workload, &new.workload) {
        if b.shared_service_account && !a.shared_service_account {
            out.push((
                SecurityKind::SharedServiceAccountOn,
                "job pods now run as the manager's service account, beside its token".into(),
                None,
            ));
        }
        if a.job_namespace != b.job_namespace {
            out.push((
                SecurityKind::JobNamespaceChanged,
                format!(
                    "job pods move from namespace {} to {}: what else runs there becomes reachable",
                    a.job_namespace, b.job_namespace
                ),
                None,
            ));
        }
    }
    out
}

/// Who can run jobs on the runner. GitLab gives a job to a runner only when every tag of the
/// job is among the runner's (gitlab `app/models/ci/matching/runner_matcher.rb`,
/// `accepting_tags?`: the build's tags less the runner's are empty), so a tag added lets more
/// jobs in and a tag removed lets fewer. A group runner takes the jobs of every project in the
/// group and its subgroups; a project runner those of its project.
fn trigger(old: &Trigger, new: &Trigger, out: &mut Vec<Found>) {
    if !reaches_within(old, new) {
        out.push((
            SecurityKind::TriggerWidened,
            format!(
                "runner moves from {} {} to {} {}: other projects' jobs can run on it",
                type_name(old.runner_type),
                old.path,
                type_name(new.runner_type),
                new.path
            ),
            None,
        ));
    }
    if old.locked && !new.locked {
        out.push((
            SecurityKind::LockedOff,
            "runner no longer locked to its project: other projects can enable it".into(),
            None,
        ));
    }
    let added: Vec<&str> = new
        .tags
        .iter()
        .filter(|t| !old.tags.contains(t))
        .map(String::as_str)
        .collect();
    if !added.is_empty() {
        out.push((
            SecurityKind::TagsAdded,
            format!(
                "runner takes jobs tagged {} too (a job runs where all its tags are among the runner's)",
                added.join(", ")
            ),
            None,
        ));
    }
}

/// Whether every job the new registration accepts, the old accepted too (by namespace).
fn reaches_within(old: &Trigger, new: &Trigger) -> bool {
    let inside = |path: &str, group: &str| {
        path.eq_ignore_ascii_case(group)
            || path
                .to_ascii_lowercase()
                .starts_with(&format!("{}/", group.to_ascii_lowercase()))
    };
    match (old.runner_type, new.runner_type) {
        (RunnerType::Group, _) => inside(&new.path, &old.path),
        (RunnerType::Project, RunnerType::Project) => old.path.eq_ignore_ascii_case(&new.path),
        (RunnerType::Project, RunnerType::Group) => false,
    }
}

fn type_name(t: RunnerType) -> &'static str {
    match t {
        RunnerType::Group => "group",
        RunnerType::Project => "project",
    }
}

/// The job pods' own settings (any change may give a pod more: a capability, a host path, a
/// security context, a pod_spec patch) and, for privileged pods, where they are scheduled.
fn pods(old: &PodSettings, new: &PodSettings, privileged: bool, out: &mut Vec<Found>) {
    for (key, a, b) in changed(&old.extra, &new.extra) {
        if crate::facts::KUBERNETES_NO_EFFECT.contains(&key.as_str()) {
            continue;
        }
        out.push((
            SecurityKind::PodSettingChanged,
            format!("job pods' `{key}` {} → {}", shown(a), shown(b)),
            None,
        ));
    }
    // Which labels a job may set on its pod (a label can select it into a NetworkPolicy or a
    // node pool's admission): any pattern other than the old one may allow more; none allows
    // nothing.
    if let (a, Some(b)) = (&old.labels_overwrite, &new.labels_overwrite)
        && a.as_ref() != Some(b)
    {
        out.push((
            SecurityKind::PodSettingChanged,
            format!(
                "jobs may set pod labels matching `{b}` (was {})",
                a.as_ref().map_or("none".to_owned(), |a| format!("`{a}`"))
            ),
            None,
        ));
    }
    let moved = old.node_selector != new.node_selector || old.tolerations != new.tolerations;
    if privileged && moved {
        out.push((
            SecurityKind::PrivilegedPlacementChanged,
            "privileged job pods change node pool (node selector or tolerations): root on other nodes".into(),
            None,
        ));
    }
}

/// The manager's chart values beyond runnergen's: any added, removed or changed one may give
/// the manager more (a security context, host access, a volume, a proxy, a CA), except its
/// resources, which bound it.
fn chart_values(
    old: &std::collections::BTreeMap<String, String>,
    new: &std::collections::BTreeMap<String, String>,
    out: &mut Vec<Found>,
) {
    for (path, a, b) in changed(old, new) {
        if path.starts_with("/resources/") {
            continue;
        }
        out.push((
            SecurityKind::ChartValueChanged,
            format!("manager's chart value `{path}` {} → {}", shown(a), shown(b)),
            None,
        ));
    }
}

/// The keys, sorted, whose values differ between `old` and `new` (set on one side only, or to
/// another value), with both values.
fn changed<'a>(
    old: &'a std::collections::BTreeMap<String, String>,
    new: &'a std::collections::BTreeMap<String, String>,
) -> Vec<(&'a String, Option<&'a String>, Option<&'a String>)> {
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .map(|k| (k, old.get(k), new.get(k)))
        .filter(|(_, a, b)| a != b)
        .collect()
}

/// A setting's value in a message: quoted, or `(unset)`.
fn shown(v: Option<&String>) -> String {
    v.map_or("(unset)".to_owned(), |v| format!("`{v}`"))
}
