//! The escape hatches, checked: extra chart values (`chart.values`, fleet and runner), extra
//! `[runners.kubernetes]` keys (`kubernetes.extra`) and job variables (`jobVariables`).
//!
//! What runnergen writes itself stays runnergen's: a value it sets is refused where it is
//! written, naming the spec field that sets it, so the rendered artifacts keep agreeing (the
//! token Secret the chart mounts is the one the ExternalSecret fills, the job pods' account is
//! the one the federated credential trusts).

use super::diag::Code;
use super::problem::Ctx;
use super::schema::did_you_mean;
use super::types::{Runner, Spec};
use super::{ptr_key, values::has_control};
use crate::facts;
use serde_json::{Map, Value};

/// Chart values runnergen sets (`render::values`), as JSON pointers into the values, with what
/// to use instead. Chart keys: the gitlab-runner chart's `values.yaml`.
pub const CHART_VALUES_OWNED: &[(&str, &str)] = &[
    ("/gitlabUrl", "`gitlab.url`"),
    (
        "/runnerToken",
        "`tokenSource`: the spec never holds a token",
    ),
    (
        "/runnerRegistrationToken",
        "`tokenSource`: the spec never holds a token",
    ),
    (
        "/unregisterRunners",
        "nothing: runnergen keeps it on, so a manager that stops unregisters (chart preStop)",
    ),
    (
        "/terminationGracePeriodSeconds",
        "the runner's `terminationGracePeriodSeconds`",
    ),
    ("/concurrent", "the runner's `concurrent`"),
    ("/checkInterval", "the runner's `checkInterval`"),
    (
        "/rbac",
        "`identity.kubernetesAccess`: runnergen renders the manager's and the jobs' RBAC itself",
    ),
    (
        "/serviceAccount",
        "`serviceAccounts` and `naming.managerServiceAccount`: runnergen renders the accounts",
    ),
    (
        "/runners/config",
        "the runner's fields, `kubernetes.extra` and `jobVariables` (they make config.toml)",
    ),
    ("/runners/secret", "`tokenSource` and `naming.tokenSecret`"),
    ("/runners/name", "`naming.runnerName`"),
    (
        "/runners/executor",
        "nothing: runnergen runs the kubernetes executor",
    ),
    ("/runners/jobNamespace", "`naming.jobNamespace`"),
    ("/runners/tags", "the runner's `tags` (registration.json)"),
    (
        "/runners/locked",
        "the runner's `locked` (registration.json)",
    ),
    (
        "/runners/runUntagged",
        "the runner's `runUntagged` (registration.json)",
    ),
    (
        "/runners/protected",
        "the runner's `accessLevel` (registration.json)",
    ),
    (
        "/runners/maximumTimeout",
        "the runner's `maximumTimeout` (registration.json)",
    ),
    ("/image", "`chart.image`"),
    (
        "/podLabels/azure.workload.identity~1use",
        "nothing: the label follows the manager's identity (a cache or a shared account)",
    ),
    (
        "/deploymentAnnotations/secret.reloader.stakater.com~1reload",
        "`tokenSource.restartOnRotation`",
    ),
    (
        "/extraObjects",
        "manifests of your own beside `out/`: objects in chart values escape review and `runnergen lint`",
    ),
];

/// `[runners.kubernetes]` keys runnergen writes (`render::runner_config`), with what to use
/// instead; and keys that would take the job pods out of the cluster whose issuer their
/// identity trusts.
pub const KUBERNETES_OWNED: &[(&str, &str)] = &[
    ("namespace", "`naming.jobNamespace`"),
    ("image", "the runner's `jobImage`"),
    ("privileged", "the runner's `privileged`"),
    ("service_account", "`naming.jobServiceAccount`"),
    (
        "pod_labels",
        "nothing: runnergen writes the job pods' labels (the workload-identity label); use `pod_annotations`",
    ),
    (
        "pod_labels_overwrite_allowed",
        "the runner's `kubernetes.podLabelsOverwriteAllowed`",
    ),
    ("node_selector", "the runner's `nodeSelector`"),
    ("node_tolerations", "the runner's `tolerations`"),
    ("cpu_request", "`resources.requests.cpu`"),
    ("cpu_limit", "`resources.limits.cpu`"),
    ("memory_request", "`resources.requests.memory`"),
    ("memory_limit", "`resources.limits.memory`"),
    (
        "ephemeral_storage_request",
        "`resources.requests.ephemeralStorage`",
    ),
    (
        "ephemeral_storage_limit",
        "`resources.limits.ephemeralStorage`",
    ),
    (
        "host",
        "nothing: job pods run in the runner's own cluster, whose issuer their identity trusts",
    ),
    (
        "context",
        "nothing: job pods run in the runner's own cluster, whose issuer their identity trusts",
    ),
    (
        "bearer_token",
        "nothing: a token never goes into the spec, and job pods run in the runner's own cluster",
    ),
];

/// Environment variables of the manager's container that runnergen's configuration sets or
/// the chart derives from it (chart `templates/_env_vars.tpl`: `CI_SERVER_URL` from
/// `gitlabUrl`, `RUNNER_EXECUTOR`, `KUBERNETES_NAMESPACE`; the entrypoint exports
/// `CI_SERVER_TOKEN` and `REGISTRATION_TOKEN` from the token Secret; `REGISTER_*` and
/// `RUNNER_*` are gitlab-runner's registration settings). The chart lists its own variables
/// before `envVars` and `extraEnv`, and Kubernetes keeps the last of two with one name, so a
/// user's entry would win: `CI_SERVER_URL` would send the manager, with its token, to another
/// GitLab.
pub const OWNED_ENV_PREFIXES: &[&str] = &[
    "CI_SERVER_",
    "KUBERNETES_",
    "RUNNER_",
    "REGISTER_",
    "REGISTRATION_TOKEN",
];

/// Refuses the values runnergen sets; every chart value elsewhere is the user's, held to text
/// Helm's `tpl` does not evaluate.
pub(super) fn check(cx: &mut Ctx, spec: &Spec) {
    if let Some(v) = &spec.chart.values {
        chart_values(cx, "/chart/values", v);
    }
    for inst in &spec.instances {
        runner(cx, &inst.at, &inst.runner);
    }
}

fn runner(cx: &mut Ctx, at: &str, r: &Runner) {
    if let Some(v) = r.chart.as_ref().and_then(|c| c.values.as_ref()) {
        chart_values(cx, &format!("{at}/chart/values"), v);
    }
    let extra = r.kubernetes.iter().flat_map(|k| &k.extra);
    for (key, value) in extra {
        let p = format!("{at}/kubernetes/extra/{}", ptr_key(key));
        if let Some((_, instead)) = KUBERNETES_OWNED.iter().find(|(k, _)| k == key) {
            cx.err_key(
                Code::E023,
                &p,
                format!("runnergen writes `[runners.kubernetes]` key `{key}` itself"),
                format!("use {instead}"),
            );
        } else if key == "volumes" && r.privileged == Some(true) {
            cx.err_key(
                Code::E023,
                &p,
                "runnergen writes `volumes` of a privileged runner itself (the Docker certificates)".into(),
                "mount what you need through `pod_spec` patches, or run the runner unprivileged".into(),
            );
        } else if !facts::KUBERNETES_CONFIG_KEYS.contains(&key.as_str()) {
            let mut hint = format!(
                "`[runners.kubernetes]` keys are those of gitlab-runner {}'s KubernetesConfig (docs.gitlab.com/runner/executors/kubernetes)",
                facts::RUNNER_VERSION
            );
            if let Some(m) = did_you_mean(key, facts::KUBERNETES_CONFIG_KEYS.iter().copied()) {
                hint = format!("did you mean `{m}`? {hint}");
            }
            cx.err_key(
                Code::E002,
                &p,
                format!(
                    "gitlab-runner {} has no `[runners.kubernetes]` key `{key}`",
                    facts::RUNNER_VERSION
                ),
                hint,
            );
        } else if has_template(value) {
            cx.err(
                Code::E005,
                &p,
                format!("`{key}` holds `{{{{`, which Helm's `tpl` would evaluate"),
                "the chart renders runners.config through `tpl` (chart templates/configmap.yaml); write the value without `{{`".into(),
            );
        } else if let Some((at, why)) = volume_shape(value, key) {
            // An unknown kind is its key's mistake; a wrong shape, its value's.
            match why.0.starts_with("gitlab-runner has no") {
                true => cx.err_key(Code::E005, &format!("{p}{at}"), why.0, why.1),
                false => cx.err(Code::E005, &format!("{p}{at}"), why.0, why.1),
            }
        } else if let Some((at, why)) = too_big(value, "") {
            cx.err(Code::E005, &format!("{p}{at}"), why.0, why.1);
        } else if has_null(value) {
            cx.err(
                Code::E004,
                &p,
                format!("`{key}` holds a null, which config.toml cannot write"),
                "give a value, or leave the key out".into(),
            );
        }
    }
    job_variables(cx, at, r);
}

/// Job variables: a variable name each, one line each, nothing Helm's `tpl` would evaluate.
fn job_variables(cx: &mut Ctx, at: &str, r: &Runner) {
    for (name, value) in &r.job_variables {
        let p = format!("{at}/jobVariables/{}", ptr_key(name));
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            cx.err_key(
                Code::E005,
                &p,
                format!("`{}` is not a variable name", name.escape_debug()),
                "letters, digits and `_`, not starting with a digit".into(),
            );
        }
        if value.contains("{{") {
            cx.err(
                Code::E005,
                &p,
                "the value holds `{{`, which Helm's `tpl` would evaluate".into(),
                "the chart renders runners.config through `tpl` (chart templates/configmap.yaml); write the value without `{{`".into(),
            );
        }
        if has_control(value) {
            cx.err(
                Code::E005,
                &p,
                "the value contains a line break or control character".into(),
                "config.toml's `environment` takes one line per variable".into(),
            );
        }
    }
}

/// The user's chart values: what runnergen sets stays runnergen's, and nothing reaches `tpl`.
fn chart_values(cx: &mut Ctx, at: &str, values: &Map<String, Value>) {
    owned_values(cx, at, values);
    env_vars(cx, at, values);
    for (k, v) in values {
        chart_text(cx, &format!("{at}/{}", ptr_key(k)), k, v);
    }
}

/// The manager's environment variables (`envVars`, `extraEnv`, `extraEnvFrom`): none of those
/// runnergen's configuration sets ([`OWNED_ENV_PREFIXES`]).
fn env_vars(cx: &mut Ctx, at: &str, values: &Map<String, Value>) {
    let owned = |name: &str| OWNED_ENV_PREFIXES.iter().any(|p| name.starts_with(p));
    let refuse = |cx: &mut Ctx, p: &str, name: &str| {
        cx.err(
            Code::E023,
            p,
            format!("the manager's environment variable `{name}` is runnergen's: the chart sets it from what runnergen renders, and a second one would win"),
            "set the GitLab URL with `gitlab.url`, the job pods' settings with the runner's fields and `kubernetes.extra`, registration settings on the runner (registration.json); the token comes from `tokenSource`".into(),
        );
    };
    if let Some(Value::Array(list)) = values.get("envVars") {
        for (i, entry) in list.iter().enumerate() {
            if let Some(name) = entry.get("name").and_then(Value::as_str)
                && owned(name)
            {
                refuse(cx, &format!("{at}/envVars/{i}/name"), name);
            }
        }
    }
    for key in ["extraEnv", "extraEnvFrom"] {
        if let Some(Value::Object(vars)) = values.get(key) {
            for name in vars.keys().filter(|n| owned(n)) {
                refuse(cx, &format!("{at}/{key}/{}", ptr_key(name)), name);
            }
        }
    }
}

/// Keys and strings of the chart values: no `{{` (the chart passes `podLabels`,
/// `deploymentLabels`, the image and `serviceAccount.annotations` through `tpl`, where a Helm
/// `lookup` would run with helm-controller's rights: chart `templates/_helpers.tpl`,
/// `deployment.yaml`), no control character in a key, none but line breaks and tabs in a value.
fn chart_text(cx: &mut Ctx, p: &str, key: &str, v: &Value) {
    if has_control(key) || key.contains("{{") {
        cx.err_key(
            Code::E005,
            p,
            format!(
                "chart value key `{}` holds `{{{{` or a control character",
                key.escape_debug()
            ),
            "write the key as plain text".into(),
        );
    }
    match v {
        Value::String(s) if s.contains("{{") => cx.err(
            Code::E005,
            p,
            "the chart value holds `{{`, which Helm's `tpl` would evaluate".into(),
            "the chart renders several values through `tpl` (labels, annotations, the image): write the value without `{{`".into(),
        ),
        Value::String(s) if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => {
            cx.err(
                Code::E005,
                p,
                "the chart value holds a control character".into(),
                "write it as plain text (line breaks and tabs are fine)".into(),
            )
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                chart_text(cx, &format!("{p}/{i}"), "", item);
            }
        }
        Value::Object(entries) => {
            for (k, item) in entries {
                chart_text(cx, &format!("{p}/{}", ptr_key(k)), k, item);
            }
        }
        _ => {}
    }
}

/// A key runnergen sets, or a non-mapping that would replace a mapping holding one, is refused
/// at its key.
fn owned_values(cx: &mut Ctx, at: &str, values: &Map<String, Value>) {
    fn walk(cx: &mut Ctx, at: &str, rel: &str, values: &Map<String, Value>) {
        for (k, v) in values {
            let rel = format!("{rel}/{}", ptr_key(k));
            let p = format!("{at}{rel}");
            if let Some((_, instead)) = CHART_VALUES_OWNED.iter().find(|(o, _)| *o == rel) {
                cx.err_key(
                    Code::E023,
                    &p,
                    format!(
                        "runnergen sets chart value `{}` itself",
                        rel[1..]
                            .replace('/', ".")
                            .replace("~1", "/")
                            .replace("~0", "~")
                    ),
                    format!("use {instead}"),
                );
                continue;
            }
            let holds_owned = CHART_VALUES_OWNED
                .iter()
                .any(|(o, _)| o.starts_with(&format!("{rel}/")));
            match v {
                Value::Object(inner) if holds_owned => walk(cx, at, &rel, inner),
                _ if holds_owned => cx.err_key(
                    Code::E023,
                    &p,
                    format!("chart value `{k}` would replace values runnergen sets inside it"),
                    format!("write `{k}` as a mapping of the keys you add"),
                ),
                _ => {}
            }
        }
    }
    walk(cx, at, "", values);
}

/// A problem's pointer suffix, message and hint.
type Found = (String, (String, String));

/// `volumes`: a mapping of gitlab-runner's volume kinds, each a list of tables.
fn volume_shape(v: &Value, key: &str) -> Option<Found> {
    if key != "volumes" {
        return None;
    }
    let kinds = facts::KUBERNETES_VOLUME_KINDS;
    let hint = || {
        format!(
            "`volumes` maps each kind ({}) to a list of volumes",
            kinds.join(", ")
        )
    };
    let Some(map) = v.as_object() else {
        return Some((String::new(), ("`volumes` is not a mapping".into(), hint())));
    };
    map.iter().find_map(|(kind, list)| {
        let at = format!("/{}", ptr_key(kind));
        if !kinds.contains(&kind.as_str()) {
            let mut h = hint();
            if let Some(m) = did_you_mean(kind, kinds.iter().copied()) {
                h = format!("did you mean `{m}`? {h}");
            }
            Some((
                at,
                (format!("gitlab-runner has no volume kind `{kind}`"), h),
            ))
        } else if !list
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_object))
        {
            Some((
                at,
                (format!("`volumes.{kind}` is not a list of volumes"), hint()),
            ))
        } else {
            None
        }
    })
}

/// A number config.toml cannot write exactly: TOML integers are 64-bit signed, and a larger
/// one would be written as a float (toml.io, "Integer").
fn too_big(v: &Value, at: &str) -> Option<Found> {
    let found = |at: &str| {
        Some((
            at.to_owned(),
            (
                "a number beyond config.toml's 64-bit integers".to_owned(),
                format!(
                    "TOML integers are at most {}; write a smaller value",
                    i64::MAX
                ),
            ),
        ))
    };
    match v {
        Value::Number(n) if n.as_i64().is_none() && n.as_u64().is_some() => found(at),
        // An integer beyond u64 reaches here as the float the YAML reader made of it.
        Value::Number(n)
            if n.is_f64()
                && n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() >= 9.2e18) =>
        {
            found(at)
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| too_big(x, &format!("{at}/{i}"))),
        Value::Object(o) => o
            .iter()
            .find_map(|(k, x)| too_big(x, &format!("{at}/{}", ptr_key(k)))),
        _ => None,
    }
}

fn has_template(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{"),
        Value::Array(a) => a.iter().any(has_template),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains("{{") || has_template(v)),
        _ => false,
    }
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.iter().any(has_null),
        Value::Object(o) => o.values().any(has_null),
        _ => false,
    }
}
