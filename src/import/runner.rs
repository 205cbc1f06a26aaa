//! One imported runner: its environment's facts (from its identity and credential), its
//! fields, the names it keeps (`naming` where they differ from runnergen's defaults) and its
//! identity's roles and Graph permissions.

use super::azure::{self, Aliases};
use super::collect::{Collected, Found};
use super::helm;
use super::out;
use super::state::Resource;
use crate::names::{RULES, expand};
use serde_json::Value;

/// What a runner says about its environment.
pub struct EnvFacts {
    pub key: String,
    pub env: out::Environment,
    pub identity_subscription: String,
}

/// A runner mapped, with its environment's facts; the listing of what was not.
pub struct Mapped {
    pub key: String,
    pub runner: out::Runner,
    pub env: EnvFacts,
    /// The organisation its credential's name gives.
    pub organization: Option<String>,
    pub gitlab_url: Option<String>,
    pub chart_version: Option<String>,
    pub client_id: String,
    pub principal_id: String,
}

/// `<region>-<env>` of the article's identity name `<region>-<env>-msi-gitlab-<key>`.
fn region_env<'a>(name: &'a str, key: &str) -> Option<(&'a str, &'a str)> {
    name.strip_suffix(&format!("-msi-gitlab-{key}"))?
        .split_once('-')
}

/// `(org, envLong)` of the article's credential name `<org>-<envLong>-msi-gitlab-<key>-cred`.
pub fn org_env_long(name: &str, key: &str, org: Option<&str>) -> Option<(String, String)> {
    let head = name.strip_suffix(&format!("-msi-gitlab-{key}-cred"))?;
    let (o, long) = match org {
        Some(o) => (o, head.strip_prefix(&format!("{o}-"))?),
        None => head.split_once('-')?,
    };
    Some((o.to_owned(), long.to_owned()))
}

fn meta<'a>(r: Option<&'a Resource>, key: &str) -> Option<&'a str> {
    r?.block("metadata")?.get(key)?.as_str()
}

pub fn map(
    key: &str,
    f: &Found,
    c: &Collected,
    aliases: &Aliases,
    org: Option<&str>,
    unmapped: &mut Vec<String>,
) -> Option<Mapped> {
    let mut note = |what: String| unmapped.push(format!("runner `{key}`: {what}"));
    let Some(identity) = f.identity else {
        note("no `azurerm_user_assigned_identity` for it; runnergen imports runners with their identity".into());
        return None;
    };
    let name = identity.str("name").unwrap_or_default();
    let Some((region, env_key)) = region_env(name, key) else {
        note(format!(
            "identity name `{name}` is not `<region>-<env>-msi-gitlab-{key}`, so its environment is unknown"
        ));
        return None;
    };
    let credential = f.credential;
    let cred_name = credential.and_then(|r| r.str("name")).unwrap_or_default();
    let parsed = org_env_long(cred_name, key, org);
    if credential.is_none() {
        note("no federated identity credential on its identity".into());
    }
    let env = env_facts(identity, credential, env_key, region, parsed.as_ref());
    let values = match f.helm.map(|h| {
        helm::read(
            h.values
                .get("values")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice),
        )
    }) {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            note(format!("Helm release: {e}"));
            helm::Values::default()
        }
        None => {
            note("no `helm_release`".into());
            helm::Values::default()
        }
    };
    let mut runner = fields(key, f, &values, &mut note);
    let env_long = env.env.long_name.clone();
    let lookup = Lookup {
        org: parsed
            .as_ref()
            .map(|p| p.0.clone())
            .or(org.map(str::to_owned)),
        env: env_key,
        env_long: &env_long,
        region,
        key,
    };
    runner.naming = naming(f, &values, &lookup, &mut note);
    check_subject(credential, &runner, &lookup, &mut note);
    runner.identity = Some(identity_of(f, c, aliases, &mut note));
    runner.environment = env_key.to_owned();
    if let Some(p) = identity
        .values
        .get("tags")
        .and_then(|t| t.get("purpose"))
        .and_then(Value::as_str)
    {
        runner.purpose = p.to_owned();
    }
    Some(Mapped {
        key: key.to_owned(),
        chart_version: chart(f.helm, &mut note),
        runner,
        env,
        organization: lookup.org,
        gitlab_url: values.gitlab_url.clone(),
        client_id: identity.str("client_id").unwrap_or_default().to_owned(),
        principal_id: identity.str("principal_id").unwrap_or_default().to_owned(),
    })
}

/// What the runner's identity and credential say about its environment.
fn env_facts(
    identity: &Resource,
    credential: Option<&Resource>,
    env_key: &str,
    region: &str,
    parsed: Option<&(String, String)>,
) -> EnvFacts {
    let (sub, ..) = identity
        .str("id")
        .and_then(azure::split_scope)
        .unwrap_or_default();
    EnvFacts {
        key: env_key.to_owned(),
        identity_subscription: sub,
        env: out::Environment {
            long_name: parsed.as_ref().map_or(env_key.to_owned(), |p| p.1.clone()),
            region_code: region.to_owned(),
            location: identity.str("location").unwrap_or_default().to_owned(),
            tenant_id: identity.str("tenant_id").unwrap_or_default().to_owned(),
            cluster: out::Cluster {
                oidc_issuer_url: credential
                    .and_then(|r| r.str("issuer"))
                    .unwrap_or_default()
                    .to_owned(),
            },
            identities: out::Identities {
                subscription: String::new(),
                resource_group: identity
                    .str("resource_group_name")
                    .unwrap_or_default()
                    .to_owned(),
            },
            ..out::Environment::default()
        },
    }
}

/// The chart's version; a chart or repository other than GitLab's is listed.
fn chart(helm: Option<&Resource>, note: &mut impl FnMut(String)) -> Option<String> {
    let h = helm?;
    if h.str("chart") != Some("gitlab-runner") {
        note(format!(
            "Helm chart `{}` is not gitlab-runner",
            h.str("chart").unwrap_or("")
        ));
    }
    let repo = h.str("repository").unwrap_or("").trim_end_matches('/');
    if repo != crate::facts::CHART_REPOSITORY {
        note(format!(
            "Helm repository `{repo}` is not {}",
            crate::facts::CHART_REPOSITORY
        ));
    }
    h.str("version")
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The runner's own fields: GitLab's registration, the chart values.
fn fields(key: &str, f: &Found, v: &helm::Values, note: &mut impl FnMut(String)) -> out::Runner {
    let gl = f.gitlab_runner;
    let gl_bool = |k: &str| gl.and_then(|r| r.values.get(k)).and_then(Value::as_bool);
    let (runner_type, path) = match (f.group, f.project) {
        (Some(g), _) => ("group", g.str("full_path")),
        (None, Some(p)) => ("project", p.str("path_with_namespace")),
        (None, None) => {
            note(
                "no `data.gitlab_group` or `data.gitlab_project`, so its GitLab path is unknown"
                    .into(),
            );
            ("group", None)
        }
    };
    if let Some(t) = gl.and_then(|r| r.str("runner_type"))
        && t != format!("{runner_type}_type")
    {
        note(format!(
            "GitLab runner type `{t}` disagrees with its `{runner_type}` data source"
        ));
    }
    if gl.is_none() {
        note("no `gitlab_user_runner`".into());
    }
    if gl_bool("paused") == Some(true) {
        note("paused in GitLab (`paused: true`); runnergen registers runners active".into());
    }
    for k in &v.unmapped {
        note(format!("chart value `{k}` has no runnergen field"));
    }
    out::Runner {
        runner_type: runner_type.to_owned(),
        path: path.unwrap_or_default().to_owned(),
        purpose: format!("Imported from Terraform (runner {key})"),
        tags: tags(gl, key, f),
        run_untagged: gl_bool("untagged").filter(|u| *u),
        locked: gl_bool("locked").filter(|l| *l),
        access_level: gl
            .and_then(|r| r.str("access_level"))
            .filter(|a| *a == "ref_protected")
            .map(str::to_owned),
        maximum_timeout: gl
            .and_then(|r| r.values.get("maximum_timeout"))
            .and_then(Value::as_u64)
            .filter(|t| *t > 0),
        privileged: v.privileged,
        concurrent: v.concurrent,
        check_interval: v.check_interval,
        termination_grace_period_seconds: v.termination_grace_period_seconds,
        job_image: v.job_image.clone(),
        kubernetes: v
            .pod_labels_overwrite
            .clone()
            .filter(|p| p != ".*")
            .map(|p| out::Kubernetes {
                pod_labels_overwrite_allowed: p,
            }),
        service_accounts: "shared".into(),
        ..out::Runner::default()
    }
}

/// `tag_list` without what runnergen adds itself: the region code, the runner key, its own tag.
fn tags(gl: Option<&Resource>, key: &str, f: &Found) -> Vec<String> {
    let region = f
        .identity
        .and_then(|i| i.str("name"))
        .and_then(|n| region_env(n, key));
    let own = region.map(|(_, e)| crate::names::own_tag(e, key));
    let mut tags: Vec<String> = gl
        .and_then(|r| r.values.get("tag_list"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|t| Some(*t) != region.map(|r| r.0) && *t != key && Some(*t) != own.as_deref())
        .map(str::to_owned)
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    tags.retain(|t| seen.insert(t.clone()));
    tags
}

/// The placeholders of runnergen's default names for this runner.
struct Lookup<'a> {
    org: Option<String>,
    env: &'a str,
    env_long: &'a str,
    region: &'a str,
    key: &'a str,
}

impl Lookup<'_> {
    fn default_name(&self, field: &str) -> Option<String> {
        let rule = RULES.iter().find(|r| r.field == field)?;
        expand(rule.default, |p| match p {
            "org" => self.org.clone(),
            "env" => Some(self.env.to_owned()),
            "envLong" => Some(self.env_long.to_owned()),
            "region" => Some(self.region.to_owned()),
            "runner" => Some(self.key.to_owned()),
            _ => None,
        })
        .ok()
    }
}

/// The names the state gives, each kept as a runner-level `naming` entry where it differs
/// from runnergen's default.
fn naming(
    f: &Found,
    v: &helm::Values,
    l: &Lookup,
    note: &mut impl FnMut(String),
) -> std::collections::BTreeMap<&'static str, String> {
    let sa = meta(f.service_account, "name");
    let actual: [(&'static str, Option<&str>); 7] = [
        ("namespace", meta(f.namespace, "name")),
        ("managerServiceAccount", sa),
        ("tokenSecret", meta(f.secret, "name")),
        ("identity", f.identity.and_then(|r| r.str("name"))),
        (
            "federatedCredential",
            f.credential.and_then(|r| r.str("name")),
        ),
        ("helmRelease", f.helm.and_then(|r| r.str("name"))),
        ("runnerName", v.runner_name.as_deref()),
    ];
    let mut out = std::collections::BTreeMap::new();
    for (field, name) in actual {
        match name {
            Some(n) if l.default_name(field).as_deref() != Some(n) => {
                out.insert(field, n.to_owned());
            }
            Some(_) => {}
            None if matches!(field, "namespace" | "managerServiceAccount" | "tokenSecret") => {
                note(format!(
                    "no {field} in the state; runnergen's default name applies"
                ));
            }
            None => {}
        }
    }
    consistent(f, v, sa, note);
    out
}

/// The names the chart values and Kubernetes objects repeat agree with the ones kept.
fn consistent(f: &Found, v: &helm::Values, sa: Option<&str>, note: &mut impl FnMut(String)) {
    let same = |what: &str, got: Option<&str>, want: Option<&str>, note: &mut dyn FnMut(String)| {
        if let (Some(g), Some(w)) = (got, want)
            && g != w
        {
            note(format!(
                "{what} `{g}` is not `{w}`, which runnergen would use"
            ));
        }
    };
    let ns = meta(f.namespace, "name");
    same(
        "chart value `serviceAccountName`",
        v.service_account.as_deref(),
        sa,
        note,
    );
    same(
        "config.toml `service_account`",
        v.job_service_account.as_deref(),
        sa,
        note,
    );
    same(
        "config.toml `namespace`",
        v.job_namespace.as_deref(),
        ns,
        note,
    );
    same(
        "chart value `runners.secret`",
        v.secret.as_deref(),
        meta(f.secret, "name"),
        note,
    );
    same(
        "Helm release namespace",
        f.helm.and_then(|h| h.str("namespace")),
        ns,
        note,
    );
    same(
        "service account namespace",
        meta(f.service_account, "namespace"),
        ns,
        note,
    );
    same(
        "token Secret namespace",
        meta(f.secret, "namespace"),
        ns,
        note,
    );
}

/// The credential must trust exactly the account runnergen renders the runner with.
fn check_subject(
    credential: Option<&Resource>,
    r: &out::Runner,
    l: &Lookup,
    note: &mut impl FnMut(String),
) {
    let Some(c) = credential else { return };
    let pick = |field: &str| {
        r.naming
            .get(field)
            .cloned()
            .or_else(|| l.default_name(field))
    };
    let want = format!(
        "system:serviceaccount:{}:{}",
        pick("namespace").unwrap_or_default(),
        pick("managerServiceAccount").unwrap_or_default()
    );
    if c.str("subject") != Some(want.as_str()) {
        note(format!(
            "federated credential subject `{}` is not `{want}`, the shared account runnergen renders",
            c.str("subject").unwrap_or("")
        ));
    }
    let audience: Vec<&str> = c
        .values
        .get("audience")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if audience != [crate::facts::FIC_AUDIENCE] {
        note(format!(
            "federated credential audience {audience:?} is not [{}]",
            crate::facts::FIC_AUDIENCE
        ));
    }
}

/// The identity's roles, Graph permissions and Kubernetes access.
fn identity_of(
    f: &Found,
    c: &Collected,
    aliases: &Aliases,
    note: &mut impl FnMut(String),
) -> out::Identity {
    let mut roles = Vec::new();
    for r in &f.roles {
        match azure::role(r, aliases) {
            Ok(role) => roles.push(role),
            Err(e) => note(format!("{}: {e}", r.address)),
        }
    }
    roles.sort();
    roles.dedup();
    let mut graph = Vec::new();
    for r in &f.app_roles {
        match azure::permission(r, c) {
            Ok(p) => graph.push(p),
            Err(e) => note(format!("{}: {e}", r.address)),
        }
    }
    graph.sort();
    graph.dedup();
    let (ns, sa) = (meta(f.namespace, "name"), meta(f.service_account, "name"));
    let mut admin = false;
    for b in &f.cluster_admin {
        let role = b
            .block("role_ref")
            .and_then(|r| r.get("name"))
            .and_then(Value::as_str);
        let subject = b.block("subject");
        let binds_runner = subject.is_some_and(|s| {
            s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                && s.get("name").and_then(Value::as_str) == sa
                && s.get("namespace").and_then(Value::as_str) == ns
        });
        if role == Some("cluster-admin") && binds_runner {
            admin = true;
        } else {
            note(format!(
                "{}: a ClusterRoleBinding other than cluster-admin to the runner's account",
                b.address
            ));
        }
    }
    out::Identity {
        roles,
        graph_permissions: graph,
        kubernetes_access: admin.then(|| "cluster-admin".into()),
    }
}
