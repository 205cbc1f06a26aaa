//! Who can do what, as a Mermaid flowchart (GitLab renders Mermaid in Markdown): who can
//! trigger a runner → the runner → its identities → each role at its scope and its Microsoft
//! Graph permissions; the job pods' Kubernetes access. Drawn from an [`Access`] alone.
//!
//! PERMISSIONS.md draws one chart per runner ([`runner`]); the merge-request note draws the
//! runners a change touches, after the change, with each edge that widens what the runner's
//! jobs can do drawn thick and red and labelled `widened` ([`changes`]). An edge is widened
//! when what it grants was not granted before: a role assignment the old assignments do not
//! cover (`roles::contain::covered`, the containment `diff` ranks roles by), a Graph
//! permission no old one covers, and the trigger or Kubernetes edge when `diff` reports a
//! widening of that kind for the runner.

use crate::access::{Access, kubernetes_access_name};
use crate::roles::contain::{covered, graph_covers};
use crate::spec::RunnerType;
use std::collections::BTreeSet;
use std::fmt::Write;

/// A Mermaid label: quoted, with what would end the quote or open markup written as entities.
pub fn label(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What an edge grants, to tell whether a change widened it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Grant {
    /// Jobs reach the runner (who, from which refs, with which tags).
    Trigger,
    /// The runner's pods carry the identity.
    Identity,
    /// A role at a scope, held by the job identity (`manager: false`) or the manager's.
    Role {
        manager: bool,
        role: String,
        scope: String,
    },
    /// Microsoft Graph application permissions.
    Graph(Vec<String>),
    /// The job pods' Kubernetes access.
    Kubernetes,
}

/// One edge: from node (id, label) to node (id, label), with its own label.
struct Edge {
    from: (&'static str, String),
    label: Option<String>,
    to: (String, String),
    grant: Grant,
}

/// The edges of runner `key`'s access, in drawing order.
fn edges(key: &str, a: &Access) -> Vec<Edge> {
    let runner = || ("runner", format!("runner {key}"));
    let mut out = Vec::new();
    if let Some(t) = &a.trigger {
        let who = match t.runner_type {
            RunnerType::Group => "group",
            RunnerType::Project => "project",
        };
        let refs = if a.protected == Some(true) {
            "protected branches and tags"
        } else {
            "any branch"
        };
        let tags = t.tags.join(", ");
        out.push(Edge {
            from: (
                "jobs",
                format!("jobs of {who} {}, {refs}, tags among {tags}", t.path),
            ),
            label: None,
            to: ("runner".into(), format!("runner {key}")),
            grant: Grant::Trigger,
        });
    }
    let mut identity =
        |id: &str, node: &'static str, roles: &[(String, String)], graph: &[&str]| {
            let manager = node == "mgr";
            out.push(Edge {
                from: runner(),
                label: None,
                to: (node.into(), format!("identity {id}")),
                grant: Grant::Identity,
            });
            for (i, (role, scope)) in roles.iter().enumerate() {
                out.push(Edge {
                    from: (node, format!("identity {id}")),
                    label: Some(role.clone()),
                    to: (format!("{node}s{i}"), scope.clone()),
                    grant: Grant::Role {
                        manager,
                        role: role.clone(),
                        scope: scope.clone(),
                    },
                });
            }
            if !graph.is_empty() {
                out.push(Edge {
                    from: (node, format!("identity {id}")),
                    label: Some("Microsoft Graph".into()),
                    to: (format!("{node}g"), graph.join(", ")),
                    grant: Grant::Graph(graph.iter().map(|p| (*p).to_owned()).collect()),
                });
            }
        };
    if let Some(id) = &a.identity {
        let perms: Vec<&str> = a.graph.iter().map(String::as_str).collect();
        identity(&id.name, "id", &a.roles, &perms);
    }
    if let Some(m) = &a.manager_identity {
        identity(&m.name, "mgr", &a.manager_roles, &[]);
    }
    if let Some(k) = a.kubernetes {
        let privileged = if a.privileged == Some(true) {
            ", privileged"
        } else {
            ""
        };
        out.push(Edge {
            from: runner(),
            label: Some("job pods".into()),
            to: (
                "k8s".into(),
                format!("Kubernetes: {}{privileged}", kubernetes_access_name(k)),
            ),
            grant: Grant::Kubernetes,
        });
    }
    out
}

/// Writes `edges` as flowchart lines, node IDs prefixed by `prefix`, each node's label at its
/// first mention; `widened(edge)` draws an edge thick and labels it `widened`. Returns the
/// indexes (in Mermaid's link order, counting from `first`) of the widened edges.
fn write_edges(
    g: &mut String,
    prefix: &str,
    edges: &[Edge],
    first: usize,
    widened: impl Fn(&Edge) -> bool,
) -> Vec<usize> {
    let mut declared = BTreeSet::new();
    let mut node = |id: &str, text: &str| {
        if declared.insert(id.to_owned()) {
            format!("{prefix}{id}[{}]", label(text))
        } else {
            format!("{prefix}{id}")
        }
    };
    let mut marked = Vec::new();
    for (i, e) in edges.iter().enumerate() {
        let from = node(e.from.0, &e.from.1);
        let to = node(&e.to.0, &e.to.1);
        let wide = widened(e);
        let text = match (&e.label, wide) {
            (Some(l), true) => Some(format!("widened: {l}")),
            (None, true) => Some("widened".to_owned()),
            (l, false) => l.clone(),
        };
        let arrow = if wide { "==>" } else { "-->" };
        let _ = match text {
            Some(t) => writeln!(g, "  {from} {arrow}|{}| {to}", label(&t)),
            None => writeln!(g, "  {from} {arrow} {to}"),
        };
        if wide {
            marked.push(first + i);
        }
    }
    marked
}

/// Runner `key`'s access as one flowchart (PERMISSIONS.md).
pub fn runner(key: &str, a: &Access) -> String {
    let mut g = String::from("flowchart LR\n");
    write_edges(&mut g, "", &edges(key, a), 0, |_| false);
    g
}

/// Which kinds of widening a change reported for one runner, as the chart needs them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Widened {
    /// More jobs can reach the runner (tags, path, refs, untagged jobs, unlocked).
    pub trigger: bool,
    /// The job pods' Kubernetes access or pod settings widened.
    pub kubernetes: bool,
}

/// One runner a change touches: where, its name, its access before and after, and what `diff`
/// reported widening for it.
pub struct Touched<'a> {
    pub environment: &'a str,
    pub runner: &'a str,
    pub old: &'a Access,
    pub new: &'a Access,
    pub widened: Widened,
}

/// The runners a change touches, after the change, one subgraph each, the edges that grant
/// more than before marked. Empty when no runner is touched.
pub fn changes(touched: &[Touched]) -> String {
    if touched.is_empty() {
        return String::new();
    }
    let mut g = String::from("flowchart LR\n");
    let mut marked = Vec::new();
    let mut links = 0;
    for (n, t) in touched.iter().enumerate() {
        let prefix = format!("r{n}_");
        let _ = writeln!(
            g,
            "  subgraph r{n}[{}]",
            label(&format!("{}/{}", t.environment, t.runner))
        );
        let edges = edges(t.runner, t.new);
        marked.extend(write_edges(&mut g, &prefix, &edges, links, |e| {
            widens(e, t.old, t.widened)
        }));
        links += edges.len();
        g.push_str("  end\n");
    }
    if !marked.is_empty() {
        let list: Vec<String> = marked.iter().map(usize::to_string).collect();
        let _ = writeln!(
            g,
            "  linkStyle {} stroke:#d1242f,stroke-width:3px",
            list.join(",")
        );
    }
    g
}

/// Whether edge `e` of the new access grants what `old` did not.
fn widens(e: &Edge, old: &Access, w: Widened) -> bool {
    match &e.grant {
        Grant::Trigger => w.trigger,
        Grant::Kubernetes => w.kubernetes,
        // Carrying an identity grants nothing by itself: its roles and permissions do.
        Grant::Identity => false,
        Grant::Role {
            manager,
            role,
            scope,
        } => {
            let before = if *manager {
                &old.manager_roles
            } else {
                &old.roles
            };
            let before: Vec<(&str, &str)> = before
                .iter()
                .map(|(r, s)| (r.as_str(), s.as_str()))
                .collect();
            !covered((role, scope), &before)
        }
        Grant::Graph(perms) => perms
            .iter()
            .any(|p| !old.graph.iter().any(|o| graph_covers(o, p))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(roles: &[(&str, &str)], graph: &[&str]) -> Access {
        Access {
            roles: roles
                .iter()
                .map(|(r, s)| ((*r).to_owned(), (*s).to_owned()))
                .collect(),
            graph: graph.iter().map(|p| (*p).to_owned()).collect(),
            identity: Some(crate::access::Identity {
                name: "weu-ss-msi-gitlab-tf".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    const SUB: &str = "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

    /// The change picture of runner ss/tf going from `old` to `new`, no other widening.
    fn chart(old: &Access, new: &Access) -> String {
        changes(&[Touched {
            environment: "ss",
            runner: "tf",
            old,
            new,
            widened: Widened::default(),
        }])
    }

    /// Contributor → Owner on one subscription widens the Owner edge; Owner → Reader does not,
    /// nor does a role the old Owner covers; a new Graph permission widens, a Read.All the old
    /// ReadWrite.All covers does not.
    #[test]
    fn an_edge_is_widened_when_the_old_access_does_not_cover_it() {
        let old = access(&[("Contributor", SUB)], &["Group.ReadWrite.All"]);
        let new = access(&[("Owner", SUB)], &["Group.Read.All", "User.Read.All"]);
        let g = chart(&old, &new);
        assert_eq!(
            g,
            format!(
                "flowchart LR\n  subgraph r0[\"ss/tf\"]\n  r0_runner[\"runner tf\"] --> r0_id[\"identity weu-ss-msi-gitlab-tf\"]\n  r0_id ==>|\"widened: Owner\"| r0_ids0[\"{SUB}\"]\n  r0_id ==>|\"widened: Microsoft Graph\"| r0_idg[\"Group.Read.All, User.Read.All\"]\n  end\n  linkStyle 1,2 stroke:#d1242f,stroke-width:3px\n"
            )
        );
        let old = access(&[("Owner", SUB)], &["Group.ReadWrite.All"]);
        let new = access(
            &[
                ("Reader", SUB),
                ("Contributor", &format!("{SUB}/resourceGroups/rg")),
            ],
            &["Group.Read.All"],
        );
        let g = chart(&old, &new);
        assert!(!g.contains("==>") && !g.contains("linkStyle"), "{g}");
    }

    #[test]
    fn labels_cannot_break_out() {
        assert_eq!(label("a\"b<c>#d\ne"), "\"a#quot;b#lt;c#gt;#35;d e\"");
    }
}
