//! The words rendered files share with the code that reads them back: labels, annotation keys,
//! the document separator, the shape of a service account as both sides see it, and the RBAC
//! rules runnergen grants. Renderers (`render/*`) write with these and `readback`, `access` and
//! the invariants read with them; everything here depends on `facts` at most, so both sides
//! import downward and neither imports the other.

use crate::facts;
use crate::spec::RunnerType;
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::Value;

/// What separates the documents of a multi-document YAML file that `render::yaml_file` writes.
pub const DOCUMENT_SEPARATOR: &str = "\n---\n";

/// The label on the Role and RoleBinding that give job pods `kubernetesAccess: namespace`, so
/// that a reader of rbac.yaml (readback, `diff`) tells them from the manager's.
pub const JOB_ACCESS_LABEL: &str = "runnergen.dev/grants";

/// [`JOB_ACCESS_LABEL`]'s value: the binding grants the runner's job pods.
pub const JOB_ACCESS_JOBS: &str = "jobs";

/// The ARM type of a federated identity credential, which main templates deploy on each
/// managed identity and `readback::federated_credentials` reads back.
pub const FEDERATED_CREDENTIAL_TYPE: &str =
    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials";

/// Pod Security Admission's label on a namespace (kubernetes.io/docs/concepts/security/
/// pod-security-admission).
pub const POD_SECURITY_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// The capabilities the Pod Security Standards' baseline profile lets a container add
/// (kubernetes.io/docs/concepts/security/pod-security-standards, baseline "Capabilities").
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The Pod Security level a runner's job pods need, from what they are (Docker-in-Docker is
/// `privileged`) and from the spec's `kubernetes.extra`: a capability beyond the baseline
/// list (`cap_add`) or a host path volume (`volumes.host_path`; baseline forbids hostPath)
/// needs `privileged` too, or the admission controller rejects every job pod. Everything else
/// runs under `baseline`.
pub fn pod_security_level(
    privileged: bool,
    extra: &std::collections::BTreeMap<String, serde_json::Value>,
) -> &'static str {
    let capability = |c: &serde_json::Value| {
        let c = c.as_str().unwrap_or_default().to_ascii_uppercase();
        let c = c.strip_prefix("CAP_").unwrap_or(&c).to_owned();
        !BASELINE_CAPABILITIES.contains(&c.as_str())
    };
    let caps = extra
        .get("cap_add")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|a| a.iter().any(capability));
    let host_path = extra
        .get("volumes")
        .and_then(|v| v.get("host_path"))
        .is_some_and(|h| h.as_array().is_none_or(|a| !a.is_empty()));
    if privileged || caps || host_path {
        "privileged"
    } else {
        "baseline"
    }
}

/// The baseline level, of a namespace no job pod runs in (the manager's).
pub const POD_SECURITY_BASELINE: &str = "baseline";

/// A service account as the invariants read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub namespace: String,
    /// Its Azure Workload Identity client-id annotation.
    pub client_id: Option<String>,
}

impl Account {
    /// From a ServiceAccount document (rendered or parsed back).
    pub fn of(doc: &Value) -> Account {
        let meta = &doc["metadata"];
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Account {
            name: s(&meta["name"]),
            namespace: s(&meta["namespace"]),
            client_id: meta["annotations"][facts::WI_CLIENT_ID_ANNOTATION]
                .as_str()
                .map(str::to_owned),
        }
    }

    /// The subject a federated credential names for this account.
    pub fn subject(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|s| (*s).to_owned()).collect()),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

/// The permissions the runner manager needs for the Kubernetes executor: GitLab's documented
/// list (runner docs/executors/kubernetes/_index.md §Configure runner API permissions), without
/// the rules for features runnergen does not enable (namespace per job, autoscaler, PDBs),
/// instead of the chart's `*` on `*` default. Granted in the job namespace only: the manager
/// reads its own configuration from mounted files and needs no API access where it runs.
pub fn manager_rules() -> Vec<PolicyRule> {
    let rule = |resources: &[&str], verbs: &[&str]| rule("", resources, verbs);
    vec![
        rule(&["events"], &["list", "watch"]),
        rule(&["pods"], &["create", "delete", "get", "list", "watch"]),
        rule(&["pods/attach"], &["create", "delete", "get", "patch"]),
        rule(&["pods/exec"], &["create", "delete", "get", "patch"]),
        rule(&["pods/log"], &["get", "list"]),
        rule(&["secrets"], &["create", "delete", "get", "update"]),
        rule(&["serviceaccounts"], &["get"]),
        rule(&["services"], &["create", "get"]),
    ]
}

/// What `kubernetesAccess: namespace` lets job pods do in their own namespace: workloads,
/// services, config and storage, never `secrets` and nothing of External Secrets Operator. Not
/// the built-in `edit` ClusterRole: `edit` reads and writes Secrets (kubernetes.io/docs
/// reference/access-authn-authz/rbac §User-facing roles), and ESO's chart aggregates
/// create/update on `externalsecrets` and `secretstores` into it (external-secrets
/// deploy/charts/external-secrets/templates/rbac.yaml, `aggregate-to-edit`), which would let a
/// job read any secret the shared store can reach.
pub fn job_namespace_rules() -> Vec<PolicyRule> {
    const WRITE: &[&str] = &[
        "create", "delete", "get", "list", "patch", "update", "watch",
    ];
    vec![
        rule(
            "",
            &[
                "configmaps",
                "persistentvolumeclaims",
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/log",
                "pods/portforward",
                "services",
            ],
            WRITE,
        ),
        rule("", &["events"], &["get", "list", "watch"]),
        rule(
            "apps",
            &["deployments", "replicasets", "statefulsets"],
            WRITE,
        ),
        rule("batch", &["cronjobs", "jobs"], WRITE),
        rule(
            "networking.k8s.io",
            &["ingresses", "networkpolicies"],
            WRITE,
        ),
    ]
}

/// registration.json's `runner_type` and the key its group or project path goes under, for a
/// runner type (GitLab's `POST /api/v4/user/runners`).
pub fn registration_type(t: RunnerType) -> (&'static str, &'static str) {
    match t {
        RunnerType::Group => ("group_type", "group_path"),
        RunnerType::Project => ("project_type", "project_path"),
    }
}

/// The runner type whose `runner_type` in registration.json is `s`.
pub fn registration_runner_type(s: &str) -> Option<RunnerType> {
    [RunnerType::Group, RunnerType::Project]
        .into_iter()
        .find(|t| registration_type(*t).0 == s)
}

/// registration.json's `access_level`: protected branches and tags only, or any ref.
pub fn registration_access_level(protected: bool) -> &'static str {
    if protected {
        "ref_protected"
    } else {
        "not_protected"
    }
}

/// A toleration's key as config.toml's `node_tolerations` writes it: `key=value`, or `key` for
/// any value.
pub fn toleration_key(t: &crate::spec::Toleration) -> String {
    match &t.value {
        Some(v) => format!("{}={v}", t.key),
        None => t.key.clone(),
    }
}

/// A taint effect as config.toml's `node_tolerations` writes it (Kubernetes `TaintEffect`).
pub fn toleration_effect(effect: crate::spec::TolerationEffect) -> &'static str {
    match effect {
        crate::spec::TolerationEffect::NoSchedule => "NoSchedule",
        crate::spec::TolerationEffect::PreferNoSchedule => "PreferNoSchedule",
        crate::spec::TolerationEffect::NoExecute => "NoExecute",
    }
}

/// The `[runners.kubernetes]` keys runnergen writes itself (`render::runner_config`); every
/// other key of the table is the spec's `kubernetes.extra`. `volumes` is runnergen's on a
/// privileged runner only (the Docker certificates), the spec's otherwise.
pub const RUNNER_KUBERNETES_KEYS: &[&str] = &[
    "namespace",
    "image",
    "privileged",
    "service_account",
    "pod_labels",
    "pod_labels_overwrite_allowed",
    "node_selector",
    "node_tolerations",
    "cpu_request",
    "cpu_limit",
    "memory_request",
    "memory_limit",
    "ephemeral_storage_request",
    "ephemeral_storage_limit",
];

/// The chart values runnergen writes alike for every runner: its own settings and the chart's
/// defaults written out so that a review shows them (chart `values.yaml`). `render::values`
/// starts from them; `access` compares what the spec's chart values change in them or add.
pub fn chart_value_defaults() -> serde_json::Value {
    serde_json::json!({
        // preStop unregisters the runner manager on shutdown (chart: only without
        // deploymentLifecycle).
        "unregisterRunners": true,
        // runnergen renders the Role, RoleBinding and ServiceAccounts itself.
        "rbac": { "create": false },
        "serviceAccount": { "create": false },
        "metrics": { "enabled": true },
        "podLabels": {},
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": { "drop": ["ALL"] },
            "privileged": false,
            "readOnlyRootFilesystem": false,
            "runAsNonRoot": true,
        },
        "podSecurityContext": { "runAsUser": 100, "fsGroup": 65533 },
    })
}

/// Chart values runnergen derives per runner (JSON pointers): from the runner's fields and
/// names, reviewed as those; never the spec's chart values (`spec::escape` refuses them there).
pub const CHART_VALUES_DERIVED: &[&str] = &[
    "/gitlabUrl",
    "/terminationGracePeriodSeconds",
    "/concurrent",
    "/checkInterval",
    "/serviceAccount/name",
    "/runners",
    "/deploymentLabels/deployment_repository",
    "/podLabels/azure.workload.identity~1use",
    "/deploymentAnnotations/secret.reloader.stakater.com~1reload",
    "/image",
];

/// What a runner's chart values add to or change in runnergen's (`values`: the rendered
/// values, or the defaults with the spec's merged over them): each leaf (a list whole) by JSON
/// pointer, with its JSON text, that is neither derived nor one of the defaults.
pub fn chart_values_beyond(
    values: &serde_json::Value,
) -> std::collections::BTreeMap<String, String> {
    fn leaves(
        v: &serde_json::Value,
        at: &str,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    leaves(v, &format!("{at}/{key}"), out);
                }
            }
            other => {
                out.insert(at.to_owned(), other.to_string());
            }
        }
    }
    let (mut all, mut defaults) = Default::default();
    leaves(values, "", &mut all);
    leaves(&chart_value_defaults(), "", &mut defaults);
    all.into_iter()
        .filter(|(path, _)| {
            !CHART_VALUES_DERIVED
                .iter()
                .any(|d| path == d || path.starts_with(&format!("{d}/")))
        })
        .filter(|(path, v)| defaults.get(path) != Some(v))
        .collect()
}

/// The keys of main.json's access summary (`metadata.runnergen`, which ARM ignores): per
/// runner, what its identities may do and which client ID each has; the Key Vault store's
/// identity. `render::azure::arm` writes it, `readback` reads it.
pub mod summary {
    pub const RUNNERS: &str = "runners";
    pub const STORE: &str = "store";
    pub const GRAPH_PERMISSIONS: &str = "graphPermissions";
    pub const ROLES: &str = "roles";
    pub const IDENTITY: &str = "identity";
    pub const MANAGER_ROLES: &str = "managerRoles";
    pub const MANAGER_IDENTITY: &str = "managerIdentity";
    /// Of a role: its display name, definition ID and scope ID.
    pub const ROLE: &str = "role";
    pub const ROLE_DEFINITION_ID: &str = "roleDefinitionId";
    pub const SCOPE: &str = "scope";
    /// Of an identity.
    pub const NAME: &str = "name";
    pub const RESOURCE_GROUP: &str = "resourceGroup";
    pub const SUBSCRIPTION_ID: &str = "subscriptionId";
    pub const CLIENT_ID: &str = "clientId";
}
