//! Fixed facts from Azure, GitLab and Kubernetes that the compiler checks against.
//! Each table names its upstream source.

/// What the runner manager's cache identity gets on the cache's storage account: it signs a
/// user-delegation SAS for each cache download and upload (gitlab-runner `cache/azure/adapter.go`
/// `generateSASToken`, `azure.go` `newUserDelegationKeySigner`), so it needs data access, and
/// `generateUserDelegationKey` at account scope or above (learn.microsoft.com
/// rest/api/storageservices/get-user-delegation-key). Storage Blob Data Contributor has both:
/// its actions include `Microsoft.Storage/storageAccounts/blobServices/
/// generateUserDelegationKey/action` (azure-docs built-in-roles/storage.md, in
/// `data/azure-builtin-roles.json`; a test checks it), so Storage Blob Delegator, which grants
/// only that action, would add nothing.
pub const CACHE_MANAGER_ROLES: [&str; 1] = ["Storage Blob Data Contributor"];

/// The volume kinds of config.toml's `[runners.kubernetes.volumes]` (gitlab-runner
/// `common/config.go`, `KubernetesVolumes`: `host_path`, `pvc`, `config_map`, `secret`,
/// `empty_dir`, `csi`), each a list of tables.
pub const KUBERNETES_VOLUME_KINDS: &[&str] = &[
    "host_path",
    "pvc",
    "config_map",
    "secret",
    "empty_dir",
    "csi",
];

/// Microsoft Graph application permissions runnergen accepts. The rendered Bicep looks each
/// app role up by name on the Graph service principal (quickstart `msi-as-a-fic-secretless`),
/// so no app-role GUID is hard-coded in output.
pub const GRAPH_PERMISSIONS: &[&str] = &[
    "Application.Read.All",
    "AuditLog.Read.All",
    "Device.Read.All",
    "Directory.Read.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Policy.Read.All",
    "RoleManagement.Read.Directory",
    "User.Read.All",
];

/// Microsoft Graph's well-known application ID (msgraph-bicep-types quickstarts).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Audience of federated credentials for workload identity (Entra docs,
/// workload-identity-federation-considerations.md): exactly one, this one.
pub const FIC_AUDIENCE: &str = "api://AzureADTokenExchange";

/// At most 20 federated identity credentials per managed identity (same source).
pub const MAX_FICS_PER_IDENTITY: usize = 20;

/// Azure Workload Identity labels and annotations (Azure/azure-workload-identity
/// `pkg/webhook/consts.go`). The label goes on pods; the annotations on the service account.
pub const WI_USE_LABEL: &str = "azure.workload.identity/use";
pub const WI_CLIENT_ID_ANNOTATION: &str = "azure.workload.identity/client-id";
pub const WI_TENANT_ID_ANNOTATION: &str = "azure.workload.identity/tenant-id";

/// Azure deployment names: at most 64 characters (azure-docs resource-name-rules.md,
/// Microsoft.Resources/deployments).
pub const MAX_DEPLOYMENT_NAME: usize = 64;

/// API versions: newest stable in the ARM schemas and Bicep types
/// (`Azure/azure-resource-manager-schemas`, `Azure/bicep-types-az`).
pub const API_IDENTITY: &str = "2024-11-30";
pub const API_ROLE_ASSIGNMENT: &str = "2022-04-01";
pub const API_RESOURCE_GROUP: &str = "2024-03-01";
pub const API_DEPLOYMENT: &str = "2024-03-01";

/// gitlab-runner chart defaults (chart 0.86.0, values.yaml).
pub const CHART_VERSION: &str = "0.86.0";

/// The gitlab-runner version chart [`CHART_VERSION`] ships (its appVersion).
pub const RUNNER_VERSION: &str = "18.9.0";

/// Every `[runners.kubernetes]` key of config.toml gitlab-runner [`RUNNER_VERSION`] knows: the
/// `toml:"…"` tags of `type KubernetesConfig struct` in `common/config.go` at tag v18.9.0
/// (gitlab-org/gitlab-runner). The runner ignores unknown keys silently
/// (`toml.DecodeFile` without an undecoded-keys check), so runnergen refuses them.
#[rustfmt::skip]
pub const KUBERNETES_CONFIG_KEYS: &[&str] = &[
    "host", "context", "cert_file", "key_file", "ca_file", "bearer_token_overwrite_allowed",
    "bearer_token", "image", "namespace", "namespace_overwrite_allowed", "namespace_per_job",
    "privileged", "runtime_class_name", "allow_privilege_escalation", "cpu_limit",
    "cpu_limit_overwrite_max_allowed", "cpu_request", "cpu_request_overwrite_max_allowed",
    "memory_limit", "memory_limit_overwrite_max_allowed", "memory_request",
    "memory_request_overwrite_max_allowed", "ephemeral_storage_limit",
    "ephemeral_storage_limit_overwrite_max_allowed", "ephemeral_storage_request",
    "ephemeral_storage_request_overwrite_max_allowed", "service_cpu_limit",
    "service_cpu_limit_overwrite_max_allowed", "service_cpu_request",
    "service_cpu_request_overwrite_max_allowed", "service_memory_limit",
    "service_memory_limit_overwrite_max_allowed", "service_memory_request",
    "service_memory_request_overwrite_max_allowed", "service_ephemeral_storage_limit",
    "service_ephemeral_storage_limit_overwrite_max_allowed", "service_ephemeral_storage_request",
    "service_ephemeral_storage_request_overwrite_max_allowed", "helper_cpu_limit",
    "helper_cpu_limit_overwrite_max_allowed", "helper_cpu_request",
    "helper_cpu_request_overwrite_max_allowed", "helper_memory_limit",
    "helper_memory_limit_overwrite_max_allowed", "helper_memory_request",
    "helper_memory_request_overwrite_max_allowed", "helper_ephemeral_storage_limit",
    "helper_ephemeral_storage_limit_overwrite_max_allowed", "helper_ephemeral_storage_request",
    "helper_ephemeral_storage_request_overwrite_max_allowed", "allowed_images",
    "allowed_pull_policies", "allowed_services", "allowed_users", "allowed_groups", "pull_policy",
    "node_selector", "node_selector_overwrite_allowed", "node_tolerations",
    "node_tolerations_overwrite_allowed", "affinity", "image_pull_secrets",
    "use_service_account_image_pull_secrets", "helper_image", "helper_image_flavor",
    "helper_image_autoset_arch_and_os", "pod_termination_grace_period_seconds",
    "cleanup_grace_period_seconds", "cleanup_resources_timeout", "poll_interval", "poll_timeout",
    "resource_availability_check_max_attempts", "retry_limit", "retry_backoff_max",
    "retry_limits", "pod_labels", "pod_labels_overwrite_allowed", "scheduler_name",
    "service_account", "service_account_overwrite_allowed", "automount_service_account_token",
    "pod_annotations", "pod_annotations_overwrite_allowed", "pod_security_context",
    "init_permissions_container_security_context", "build_container_security_context",
    "helper_container_security_context", "service_container_security_context", "volumes",
    "host_aliases", "services", "cap_add", "cap_drop", "dns_policy", "dns_config",
    "container_lifecycle", "priority_class_name", "pod_spec", "logs_base_dir", "scripts_base_dir",
    "print_pod_warning_events",
];

/// The `[runners.kubernetes]` keys that bear on neither what a job pod may do nor where it
/// runs nor who can use it: resource requests and limits of the helper and service
/// containers, the ceilings jobs may raise theirs to, polling, retries and clean-up timing
/// (gitlab-runner docs, executors/kubernetes: "Overwrite container resources", "Configuration
/// settings"). Every other key a spec may write (`kubernetes.extra`) is compared as a privilege
/// by `diff`: capabilities, security contexts, `pod_spec` patches, volumes, the runtime class,
/// images, pull policies and secrets, DNS, annotations, affinity, scheduling.
pub const KUBERNETES_NO_EFFECT: &[&str] = &[
    "cpu_limit_overwrite_max_allowed",
    "cpu_request_overwrite_max_allowed",
    "memory_limit_overwrite_max_allowed",
    "memory_request_overwrite_max_allowed",
    "ephemeral_storage_limit_overwrite_max_allowed",
    "ephemeral_storage_request_overwrite_max_allowed",
    "service_cpu_limit",
    "service_cpu_limit_overwrite_max_allowed",
    "service_cpu_request",
    "service_cpu_request_overwrite_max_allowed",
    "service_memory_limit",
    "service_memory_limit_overwrite_max_allowed",
    "service_memory_request",
    "service_memory_request_overwrite_max_allowed",
    "service_ephemeral_storage_limit",
    "service_ephemeral_storage_limit_overwrite_max_allowed",
    "service_ephemeral_storage_request",
    "service_ephemeral_storage_request_overwrite_max_allowed",
    "helper_cpu_limit",
    "helper_cpu_limit_overwrite_max_allowed",
    "helper_cpu_request",
    "helper_cpu_request_overwrite_max_allowed",
    "helper_memory_limit",
    "helper_memory_limit_overwrite_max_allowed",
    "helper_memory_request",
    "helper_memory_request_overwrite_max_allowed",
    "helper_ephemeral_storage_limit",
    "helper_ephemeral_storage_limit_overwrite_max_allowed",
    "helper_ephemeral_storage_request",
    "helper_ephemeral_storage_request_overwrite_max_allowed",
    "pod_termination_grace_period_seconds",
    "cleanup_grace_period_seconds",
    "cleanup_resources_timeout",
    "poll_interval",
    "poll_timeout",
    "resource_availability_check_max_attempts",
    "retry_limit",
    "retry_backoff_max",
    "retry_limits",
    "print_pod_warning_events",
];
pub const CHART_REPOSITORY: &str = "https://charts.gitlab.io";
/// `serviceAccount.*` values arrived in chart 0.66.0 (chart CHANGELOG, !415).
pub const CHART_MIN_VERSION: (u64, u64, u64) = (0, 66, 0);

pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Kubernetes DNS-1123 label: at most 63 lowercase alphanumerics or '-', alphanumeric at both
/// ends (kubernetes apimachinery `validation.IsDNS1123Label`).
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// User-assigned identity name: 3–128 of `[A-Za-z0-9_-]`, first alphanumeric
/// (azure-docs resource-name-rules.md, Microsoft.ManagedIdentity).
pub fn is_identity_name(s: &str) -> bool {
    is_azure_name(s, 128)
}

/// 3 to `max` of `[A-Za-z0-9_-]`, the first alphanumeric.
fn is_azure_name(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    (3..=max).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// Federated credential name: `^[a-zA-Z0-9]{1}[a-zA-Z0-9-_]{2,119}$`
/// (Entra docs federated-credential-configuration-considerations.md).
pub fn is_fic_name(s: &str) -> bool {
    is_azure_name(s, 120)
}

/// Kubernetes DNS-1123 subdomain: at most 253 of lowercase alphanumerics, '-' and '.',
/// alphanumeric at both ends (apimachinery `validation.IsDNS1123Subdomain`).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(|l| !l.is_empty() && is_dns1123_label(l))
}

fn is_resource_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')' | '~')
}

/// Resource group name: 1–90 letters, digits, `-`, `_`, `.` or parentheses, not ending in
/// `.` (azure-docs resource-name-rules.md, Microsoft.Resources/resourcegroups).
pub fn is_resource_group(s: &str) -> bool {
    (1..=90).contains(&s.chars().count())
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
}

/// Storage account name: 3–24 lowercase letters and digits (azure-docs
/// resource-name-rules.md, Microsoft.Storage/storageAccounts).
pub fn is_storage_account_name(s: &str) -> bool {
    (3..=24).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Helm release names are DNS-1123 labels of at most 53 characters (helm `chartutil`
/// ValidateReleaseName: 53 leaves room for suffixes the chart adds).
pub fn is_helm_release(s: &str) -> bool {
    s.len() <= 53 && is_dns1123_label(s)
}

/// A Kubernetes label value: empty, or at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both
/// ends (apimachinery `validation.IsValidLabelValue`).
pub fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

/// A Kubernetes label or taint key: an optional DNS-1123 subdomain prefix (≤ 253) and `/`, then
/// a name of 1–63 characters shaped like a label value (apimachinery `IsQualifiedName`).
pub fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let prefix_ok = prefix
        .is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns1123_label));
    prefix_ok && !name.is_empty() && is_label_value(name)
}

/// Key Vault secret name: 1–127 alphanumerics and '-' (azure-docs resource-name-rules.md).
pub fn is_key_vault_secret(s: &str) -> bool {
    (1..=127).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

/// A resource type a role assignment may target directly (`scope: {resource: <id>}`). Bicep
/// needs an `existing` declaration of the target, with a type and API version, to scope an
/// assignment to it, so each supported type gets its own module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoleTargetType {
    /// ARM resource type, canonical casing.
    pub resource_type: &'static str,
    /// API version of the `existing` declaration (a read of the resource's ID only; stable
    /// versions from Azure/bicep-types-az).
    pub api_version: &'static str,
    /// Module file: `modules/role-assignments-<module>.bicep`.
    pub module: &'static str,
}

/// Resource types runnergen can scope a role assignment to. Only top-level types: a child
/// resource (`…/storageAccounts/x/blobServices/default/containers/c`) is not supported.
pub const ROLE_TARGET_TYPES: &[RoleTargetType] = &[
    RoleTargetType {
        resource_type: "Microsoft.Compute/galleries",
        api_version: "2023-07-03",
        module: "galleries",
    },
    RoleTargetType {
        resource_type: "Microsoft.ContainerRegistry/registries",
        api_version: "2023-07-01",
        module: "registries",
    },
    RoleTargetType {
        resource_type: "Microsoft.ContainerService/managedClusters",
        api_version: "2024-05-01",
        module: "managed-clusters",
    },
    RoleTargetType {
        resource_type: "Microsoft.KeyVault/vaults",
        api_version: "2023-07-01",
        module: "key-vaults",
    },
    RoleTargetType {
        resource_type: "Microsoft.Storage/storageAccounts",
        api_version: "2023-05-01",
        module: "storage-accounts",
    },
];

/// The supported target type for `resource_type`; ARM resource types are case-insensitive.
pub fn role_target_type(resource_type: &str) -> Option<&'static RoleTargetType> {
    ROLE_TARGET_TYPES
        .iter()
        .find(|t| t.resource_type.eq_ignore_ascii_case(resource_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_shape() {
        assert!(is_guid("8e3af657-a8ff-443c-a75c-2fe8c4bcb635"));
        assert!(!is_guid("8e3af657-a8ff-443c-a75c-2fe8c4bcb63"));
        assert!(!is_guid("8e3af657ga8ff-443c-a75c-2fe8c4bcb635"));
        assert!(!is_guid("zz3af657-a8ff-443c-a75c-2fe8c4bcb635"));
    }

    #[test]
    fn dns_label() {
        assert!(is_dns1123_label("gitlab-tf"));
        assert!(!is_dns1123_label("Gitlab"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_label(&"a".repeat(63)));
    }

    #[test]
    fn azure_names() {
        assert!(is_identity_name("weu-ss-msi-gitlab-tf"));
        assert!(!is_identity_name("_x"));
        assert!(!is_identity_name("ab"));
        assert!(is_fic_name("ascode-shared-msi-gitlab-tf-cred"));
        assert!(!is_fic_name(&"a".repeat(121)));
        assert!(is_helm_release("ascode-ss-tf"));
        assert!(!is_helm_release(&"a".repeat(54)));
    }

    #[test]
    fn label_keys_and_values() {
        assert!(is_label_key("kubernetes.azure.com/agentpool"));
        assert!(is_label_key("workload"));
        assert!(!is_label_key("a\nb"));
        assert!(!is_label_key("a=b"));
        assert!(!is_label_key("/x"));
        assert!(!is_label_key("Bad_Prefix/x"));
        assert!(is_label_value(""));
        assert!(is_label_value("ci"));
        assert!(!is_label_value("-ci"));
        assert!(!is_label_value(&"a".repeat(64)));
    }
}

/// A resource ID inside a resource group:
/// `/subscriptions/<guid>/resourceGroups/<rg>/providers/<Namespace>/<type>/<name>[/<type>/<name>…]`
/// (ARM resource ID format, azure-docs `resource-name-rules.md` and `template-functions-resource.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceId {
    pub id: String,
    pub subscription_id: String,
    pub resource_group: String,
    /// `Microsoft.ContainerRegistry/registries` (child types joined with '/').
    pub resource_type: String,
    /// The last name segment.
    pub name: String,
}

pub fn parse_resource_id(id: &str) -> Option<ResourceId> {
    let parts: Vec<&str> = id.split('/').collect();
    // "", "subscriptions", sub, "resourceGroups", rg, "providers", ns, type, name, ...
    if parts.len() < 9 || parts.len().is_multiple_of(2) || !parts[0].is_empty() {
        return None;
    }
    if !parts[1].eq_ignore_ascii_case("subscriptions")
        || !is_guid(parts[2])
        || !parts[3].eq_ignore_ascii_case("resourceGroups")
        || !parts[5].eq_ignore_ascii_case("providers")
    {
        return None;
    }
    // Resource names are letters, digits and `-._()~` (azure-docs resource-name-rules.md; the
    // supported target types allow less), so no segment carries quotes, braces or controls.
    if parts
        .iter()
        .skip(1)
        .any(|p| p.is_empty() || !p.chars().all(is_resource_name_char))
        || !is_resource_group(parts[4])
    {
        return None;
    }
    let mut types = vec![parts[6].to_owned(), parts[7].to_owned()];
    let mut i = 9;
    while i + 1 < parts.len() {
        types.push(parts[i].to_owned());
        i += 2;
    }
    Some(ResourceId {
        id: id.to_owned(),
        subscription_id: parts[2].to_lowercase(),
        resource_group: parts[4].to_owned(),
        resource_type: types.join("/"),
        name: parts[parts.len() - 1].to_owned(),
    })
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn parses_registry_id() {
        let id = parse_resource_id("/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/ascodeacr").unwrap();
        assert_eq!(id.resource_group, "rg-acr");
        assert_eq!(id.resource_type, "Microsoft.ContainerRegistry/registries");
        assert_eq!(id.name, "ascodeacr");
    }

    #[test]
    fn parses_child_id() {
        let id = parse_resource_id("/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st/blobServices/default").unwrap();
        assert_eq!(
            id.resource_type,
            "Microsoft.Storage/storageAccounts/blobServices"
        );
        assert_eq!(id.name, "default");
    }

    #[test]
    fn rejects_malformed() {
        assert!(parse_resource_id("/subscriptions/x/resourceGroups/rg/providers/A/b/c").is_none());
        assert!(
            parse_resource_id(
                "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg"
            )
            .is_none()
        );
        assert!(parse_resource_id("subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg/providers/A/b/c").is_none());
    }
}
