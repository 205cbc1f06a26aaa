//! The spec `import` writes, as ordered serde types (fields in the order docs/spec.md writes
//! them, absent ones left out), and its text: the unmapped listing as a comment block on top.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub version: u32,
    pub organization: String,
    pub gitlab: Gitlab,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<Chart>,
    pub token_source: TokenSource,
    pub environments: BTreeMap<String, Environment>,
    pub runners: BTreeMap<String, Runner>,
}

#[derive(Serialize, Default)]
pub struct Gitlab {
    pub url: String,
}

#[derive(Serialize)]
pub struct Chart {
    pub version: String,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TokenSource {
    /// The article keeps each runner's token in a Kubernetes Secret it creates itself.
    pub existing_secret: BTreeMap<String, String>,
}

#[derive(Serialize, Default, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub long_name: String,
    pub region_code: String,
    pub location: String,
    pub tenant_id: String,
    pub subscriptions: BTreeMap<String, String>,
    pub identities: Identities,
    pub cluster: Cluster,
    pub identity_outputs: String,
}

#[derive(Serialize, Default, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Identities {
    pub subscription: String,
    pub resource_group: String,
}

#[derive(Serialize, Default, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub oidc_issuer_url: String,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Runner {
    pub environment: String,
    #[serde(rename = "type")]
    pub runner_type: String,
    pub path: String,
    pub purpose: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_untagged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_interval: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Kubernetes>,
    pub service_accounts: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub naming: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kubernetes {
    pub pod_labels_overwrite_allowed: String,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub roles: Vec<Role>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub graph_permissions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_access: Option<String>,
}

#[derive(Serialize, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Role {
    pub role: String,
    pub scope: Scope,
}

#[derive(Serialize, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// The spec's text: the schema modeline, what it was imported from, the unmapped listing,
/// then the spec.
pub fn text(spec: &Spec, source: &str, unmapped: &[String]) -> Result<String, String> {
    let mut out = format!(
        "# Imported by `runnergen import` from {source} (Terraform state). Review it before the first\n# render: the names, roles and Graph permissions below are the state's.\n"
    );
    if unmapped.is_empty() {
        out.push_str("#\n# Everything in the state was mapped.\n");
    } else {
        out.push_str(&format!(
            "#\n# NOT MAPPED ({}): runnergen has no field for these; nothing below stands for them.\n",
            unmapped.len()
        ));
        for u in unmapped {
            out.push_str(&format!("#   - {}\n", u.replace('\n', " ")));
        }
    }
    // Long single-line strings (issuer, resource IDs, purposes) stay on one line.
    let mut opts = serde_saphyr::SerializerOptions::default();
    opts.folded_wrap_chars = usize::MAX / 2;
    opts.min_fold_chars = usize::MAX / 2;
    let body = serde_saphyr::to_string_with_options(spec, opts).map_err(|e| e.to_string())?;
    out.push_str(&body);
    Ok(out)
}
