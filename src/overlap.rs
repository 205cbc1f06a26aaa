//! Runners whose jobs can land on one another. GitLab gives a job to a runner when every tag
//! the job asks for is among the runner's (gitlab `app/models/ci/matching/runner_matcher.rb`,
//! `accepting_tags?`), a job without tags to runners that run untagged jobs, and a group
//! runner takes the jobs of every project in its group and subgroups. So a job written for one
//! runner can run on another when both serve its project and the other has every tag the job
//! asks for.
//!
//! A job written for runner A asks for A's tags other than its own tag (`<env>-<runner>`, which
//! only A carries and its `ci-template.yml` asks for): the region, the runner's key and the
//! spec's tags, the tags pipelines used before runnergen gave each runner its own. Runner B
//! *shares A's reach* when B serves a project A serves and carries all of those tags (or both
//! run untagged jobs). With other access on B, that is lint rule L011; PERMISSIONS.md names
//! every runner that shares a runner's reach, either way.
//!
//! The relation is computed on [`Reach`] views, built from the model (`model::Runner::reach`)
//! and from what is read back from rendered files (`access::Access::reach`), so a test can hold
//! the report of a committed tree to the model's.

use crate::spec::{KubernetesAccess, RunnerType};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a runner's jobs get: the access two runners are compared by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    /// (role, scope ID) pairs.
    pub roles: BTreeSet<(String, String)>,
    pub graph: BTreeSet<String>,
    /// The job pods' Kubernetes access and privilege, where the runner's Kubernetes files are
    /// rendered.
    pub kubernetes: Option<KubernetesAccess>,
    pub privileged: Option<bool>,
}

/// Who can make one runner run a job, and what the job gets there.
#[derive(Clone, Debug)]
pub struct Reach {
    pub env: String,
    pub key: String,
    pub runner_type: RunnerType,
    pub path: String,
    /// Its tags, its own tag first taken out: what a job written for it asks for.
    pub asked: Vec<String>,
    /// All its tags.
    pub tags: Vec<String>,
    pub run_untagged: bool,
    pub protected: bool,
    pub grants: Grants,
}

impl Reach {
    /// `tags` less `own`, the runner's own tag.
    pub fn asked(tags: &[String], own: &str) -> Vec<String> {
        tags.iter().filter(|t| *t != own).cloned().collect()
    }
}

/// Another runner that a job written for this one can land on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Overlap {
    pub env: String,
    pub runner: String,
    /// The other runner has every tag a job written for this one asks for.
    pub by_tags: bool,
    /// Both run untagged jobs.
    pub untagged: bool,
    /// Its jobs get what this runner's get.
    pub same_access: bool,
    /// Exactly one of the two takes jobs of protected branches and tags only.
    pub one_protected: bool,
}

impl Overlap {
    /// Whether the overlap lets a job reach what it was not written for (L011): other access,
    /// and nothing (one runner protected, the other not) keeps the jobs apart.
    pub fn flagged(&self) -> bool {
        !self.same_access && !self.one_protected
    }
}

/// For each runner, by (environment, key), the runners its jobs can land on (`onto`) and those
/// whose jobs can land on it (`from`), each list in (environment, key) order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overlaps {
    onto: BTreeMap<(String, String), Vec<Overlap>>,
    from: BTreeMap<(String, String), Vec<Overlap>>,
}

impl Overlaps {
    /// The runners a job written for runner `key` of `env` can also run on.
    pub fn onto(&self, env: &str, key: &str) -> &[Overlap] {
        self.onto
            .get(&(env.to_owned(), key.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// The runners whose jobs can also run on runner `key` of `env`.
    pub fn from(&self, env: &str, key: &str) -> &[Overlap] {
        self.from
            .get(&(env.to_owned(), key.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// Every overlap among `runners`. A candidate must carry the rarest tag a job for the
    /// runner asks for, so a large fleet compares each runner with few others.
    pub fn compute(runners: &[Reach]) -> Overlaps {
        let mut by_tag: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, r) in runners.iter().enumerate() {
            for t in &r.tags {
                by_tag.entry(t.as_str()).or_default().push(i);
            }
        }
        let untagged: Vec<usize> = (0..runners.len())
            .filter(|&i| runners[i].run_untagged)
            .collect();
        let mut out = Overlaps::default();
        for (i, a) in runners.iter().enumerate() {
            let rarest = a
                .asked
                .iter()
                .filter_map(|t| by_tag.get(t.as_str()))
                .min_by_key(|l| l.len());
            let mut candidates: BTreeSet<usize> = rarest.into_iter().flatten().copied().collect();
            if a.run_untagged {
                candidates.extend(&untagged);
            }
            for j in candidates {
                if j == i {
                    continue;
                }
                if let Some(o) = overlap(a, &runners[j]) {
                    let back = Overlap {
                        env: a.env.clone(),
                        runner: a.key.clone(),
                        ..o.clone()
                    };
                    let b = &runners[j];
                    out.onto
                        .entry((a.env.clone(), a.key.clone()))
                        .or_default()
                        .push(o);
                    out.from
                        .entry((b.env.clone(), b.key.clone()))
                        .or_default()
                        .push(back);
                }
            }
        }
        for list in out.onto.values_mut().chain(out.from.values_mut()) {
            list.sort_by(|x, y| (&x.env, &x.runner).cmp(&(&y.env, &y.runner)));
        }
        out
    }
}

/// Whether a job written for `a` can run on `b`.
fn overlap(a: &Reach, b: &Reach) -> Option<Overlap> {
    if !projects_meet(a, b) {
        return None;
    }
    // A runner always has tags (its region and key), so a job written for it asks for some.
    let by_tags = !a.asked.is_empty() && a.asked.iter().all(|t| b.tags.contains(t));
    let untagged = a.run_untagged && b.run_untagged;
    (by_tags || untagged).then(|| Overlap {
        env: b.env.clone(),
        runner: b.key.clone(),
        by_tags,
        untagged,
        same_access: a.grants == b.grants,
        one_protected: a.protected != b.protected,
    })
}

/// Whether some project's jobs reach both runners: a group runner serves the projects of its
/// group and subgroups, a project runner its project. GitLab paths compare case-insensitively.
fn projects_meet(a: &Reach, b: &Reach) -> bool {
    let inside = |path: &str, group: &str| {
        path.len() > group.len()
            && path.as_bytes()[group.len()] == b'/'
            && path[..group.len()].eq_ignore_ascii_case(group)
    };
    let same = a.path.eq_ignore_ascii_case(&b.path);
    match (a.runner_type, b.runner_type) {
        (RunnerType::Project, RunnerType::Project) => same,
        (RunnerType::Group, RunnerType::Group) => {
            same || inside(&a.path, &b.path) || inside(&b.path, &a.path)
        }
        (RunnerType::Group, RunnerType::Project) => same || inside(&b.path, &a.path),
        (RunnerType::Project, RunnerType::Group) => same || inside(&a.path, &b.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(env: &str, key: &str, t: RunnerType, path: &str, tags: &[&str]) -> Reach {
        let tags: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
        let own = format!("{env}-{key}");
        Reach {
            env: env.into(),
            key: key.into(),
            runner_type: t,
            path: path.into(),
            asked: Reach::asked(&tags, &own),
            tags: [tags, vec![own]].concat(),
            run_untagged: false,
            protected: false,
            grants: Grants::default(),
        }
    }

    #[test]
    fn jobs_cross_where_every_asked_tag_is_carried_and_projects_meet() {
        use RunnerType::*;
        let dev = reach("dev", "tf", Group, "acme/infra", &["weu", "tf"]);
        let mut prd = reach("prd", "tf", Group, "acme/infra", &["weu", "tf"]);
        prd.grants
            .roles
            .insert(("Owner".into(), "/subscriptions/x".into()));
        let sub = reach(
            "dev",
            "app",
            Project,
            "ACME/infra/app",
            &["weu", "tf", "app"],
        );
        let other = reach("dev", "web", Group, "acme/infrastructure", &["weu", "tf"]);
        let o = Overlaps::compute(&[dev, prd, sub, other]);
        let names = |l: &[Overlap]| -> Vec<String> {
            l.iter()
                .map(|o| format!("{}/{}", o.env, o.runner))
                .collect()
        };
        // dev's jobs (weu, tf) land on prd and on the project runner inside the group, not on
        // a group whose name merely starts alike.
        assert_eq!(names(o.onto("dev", "tf")), ["dev/app", "prd/tf"]);
        assert!(o.onto("dev", "tf")[1].flagged());
        assert!(!o.onto("dev", "tf")[0].flagged(), "same access");
        // The project runner's jobs ask for `app` too, which the group runners lack.
        assert!(o.onto("dev", "app").is_empty());
        assert_eq!(names(o.from("prd", "tf")), ["dev/tf"]);
    }

    #[test]
    fn one_protected_runner_keeps_the_jobs_apart() {
        use RunnerType::*;
        let dev = reach("dev", "tf", Group, "acme", &["tf"]);
        let mut prd = reach("prd", "tf", Group, "acme", &["tf"]);
        prd.grants.privileged = Some(true);
        prd.protected = true;
        let o = Overlaps::compute(&[dev, prd]);
        assert!(!o.onto("dev", "tf")[0].flagged());
        assert!(o.onto("dev", "tf")[0].one_protected);
    }
}
