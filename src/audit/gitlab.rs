//! The GitLab side: each rendered registration has its runner (the one whose
//! `maintenance_note` names this fleet, environment and runner), and no other runner can take
//! a job written for it: one in its group or project, a group above or below it, that carries
//! every tag such a job asks for (or runs untagged jobs when it does), by the matching of
//! `overlap`, the same as lint's L011 and PERMISSIONS.md use.

use super::expected::Runner;
use super::live::{GitLabRunner, Live};
use super::{Class, Report, found, not_run};
use crate::overlap::{Grants, Overlaps, Reach};
use crate::register::note::Note;
use crate::spec::shapes::redact;
use std::collections::BTreeMap;

/// The environment a live runner's [`Reach`] is filed under: no rendered environment is
/// named so (names are lowercase letters, digits and `-`).
const LIVE: &str = "GitLab";

/// `notes`: `<env>/<runner>` → note of every registration the output renders, the
/// environments not audited included ([`super::expected::notes`]).
pub fn check(
    runners: &[Runner],
    notes: &BTreeMap<String, String>,
    live: &Live,
    report: &mut Report,
) {
    let Some(gitlab) = &live.gitlab_runners else {
        not_run(
            report,
            "GitLab runners",
            "no --gitlab-runners (the runners' details, `GET /runners/:id`)",
        );
        return;
    };
    // Ours: the note names a rendered runner of the fleet its registration names. Any
    // environment's, not only the audited ones': with `--env dev`, prd's runner in the same
    // group, carrying the tags dev's jobs ask for, is runnergen's (an overlap between rendered
    // runners is lint's L011), not a hand-registered one to report beyond the output.
    let ours = |g: &GitLabRunner| -> bool {
        let Some(Note::Fleet { fleet, key }) = g.note.as_deref().and_then(Note::parse) else {
            return false;
        };
        notes.get(&key).and_then(|n| Note::parse(n)) == Some(Note::Fleet { fleet, key })
    };
    let mut reaches: Vec<Reach> = runners
        .iter()
        .filter_map(|r| r.access.reach(&r.env, &r.key))
        .collect();
    for g in gitlab.iter().filter(|g| !ours(g)) {
        reaches.extend(reach(g));
    }
    let overlaps = Overlaps::compute(&reaches);
    for r in runners {
        let Some(trigger) = &r.access.trigger else {
            continue;
        };
        let key = format!("{}/{}", r.env, r.key);
        let registered = gitlab.iter().any(|g| {
            ours(g)
                && g.note
                    .as_deref()
                    .and_then(Note::parse)
                    .is_some_and(|n| n.key() == key)
        });
        if !registered {
            let what = format!(
                "no runner with the note `{}` in {}",
                r.note.as_deref().unwrap_or("?"),
                trigger.path
            );
            found(report, r, Class::Missing, "gitlab-runner", what);
        }
        for o in overlaps
            .onto(&r.env, &r.key)
            .iter()
            .filter(|o| o.env == LIVE)
        {
            let Some(g) = gitlab.iter().find(|g| g.id.to_string() == o.runner) else {
                continue;
            };
            found(
                report,
                r,
                Class::Beyond,
                "gitlab-runner",
                words(g, o.by_tags),
            );
        }
    }
}

/// The reach of a live runner, one per group or project it is in; none for an instance
/// runner (not exported: the export lists a group's and a project's own runners).
fn reach(g: &GitLabRunner) -> Vec<Reach> {
    let Some(runner_type) = crate::vocab::registration_runner_type(&g.runner_type) else {
        return Vec::new();
    };
    g.paths
        .iter()
        .map(|path| Reach {
            env: LIVE.to_owned(),
            key: g.id.to_string(),
            runner_type,
            path: path.clone(),
            asked: g.tags.clone(),
            tags: g.tags.clone(),
            run_untagged: g.run_untagged,
            protected: false,
            grants: Grants::default(),
        })
        .collect()
}

/// The finding's words: the runner by ID, description and place, how jobs reach it, whose it
/// is by its note. Free text passes through `redact`, so no token is quoted.
fn words(g: &GitLabRunner, by_tags: bool) -> String {
    let how = if by_tags {
        format!("carries every tag its jobs ask for ({})", g.tags.join(", "))
    } else {
        "runs untagged jobs".to_owned()
    };
    let whose = match g.note.as_deref() {
        Some(n) if Note::parse(n).is_some() => format!("note `{n}` names no rendered runner"),
        _ => "not registered by runnergen".to_owned(),
    };
    let text = format!(
        "#{} `{}` ({} in {}) {how}; {whose}",
        g.id,
        g.description,
        g.runner_type,
        g.paths.join(", ")
    );
    redact(&text).into_owned()
}
