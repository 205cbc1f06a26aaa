//! The output directory's layout: every path runnergen writes is built here, and every path it
//! reads back is classified here, so no other module splits a path by hand.
//!
//! ```text
//! <env>/kustomization.yaml            every Kubernetes file of the environment, in apply order
//! <env>/PERMISSIONS.md                who can trigger each runner and what it can do
//! <env>/secret-store.yaml             the Key Vault secret store runnergen renders
//! <env>/<runner>/<file>               one runner (RunnerFile)
//! <env>/azure/…                       the environment's Azure deployment (AzureFile)
//! .runnergen-manifest.json            what runnergen owns (outdir::MANIFEST)
//! ```

use crate::facts::RoleTargetType;
use serde::{Serialize, Serializer};

/// The folder of an environment's Azure files.
pub const AZURE_DIR: &str = "azure";

/// The most shards an environment's Azure deployment may have: shard files and deployments
/// are numbered with two digits (`main-NN.json`, `runnergen-<env>-NN`).
pub const MAX_SHARDS: u32 = 99;

/// Folder names runnergen writes next to the runners' folders: no runner key may be one.
pub const RESERVED_RUNNER_KEYS: &[&str] = &[AZURE_DIR];

/// Where one role-assignment module instance is deployed: its file name is part of the layout
/// (`role-assignments-<module>.bicep`), so the kind lives here and the model uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ModuleKind {
    Subscription,
    ResourceGroup,
    Resource(&'static RoleTargetType),
}

impl ModuleKind {
    /// What the Bicep templates call the kind.
    pub fn name(self) -> &'static str {
        match self {
            ModuleKind::Subscription => "subscription",
            ModuleKind::ResourceGroup => "resource_group",
            ModuleKind::Resource(_) => "resource",
        }
    }
    /// The module's own part of its file name (`role-assignments-<module>.bicep`).
    pub fn module(self) -> &'static str {
        match self {
            ModuleKind::Subscription => "subscription",
            ModuleKind::ResourceGroup => "resource-group",
            ModuleKind::Resource(t) => t.module,
        }
    }
}

/// Templates read `kind.name` and `kind.module`.
impl Serialize for ModuleKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ModuleKind", 2)?;
        st.serialize_field("name", self.name())?;
        st.serialize_field("module", self.module())?;
        st.end()
    }
}

/// A file of one runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunnerFile {
    Namespace,
    ServiceAccounts,
    Rbac,
    ExternalSecret,
    /// Flux HelmRepository + HelmRelease.
    HelmRelease,
    /// Argo CD Application.
    Application,
    Config,
    Values,
    Registration,
    /// A GitLab CI template with a hidden job that runs on the runner as its identity.
    CiTemplate,
}

impl RunnerFile {
    pub const ALL: [RunnerFile; 10] = [
        RunnerFile::Namespace,
        RunnerFile::ServiceAccounts,
        RunnerFile::Rbac,
        RunnerFile::ExternalSecret,
        RunnerFile::HelmRelease,
        RunnerFile::Application,
        RunnerFile::Config,
        RunnerFile::Values,
        RunnerFile::Registration,
        RunnerFile::CiTemplate,
    ];

    /// The files of a runner whose change can change what it may do or who can make it
    /// (`runnergen codeowners` assigns them to the security group): its namespace (the job
    /// pods' Pod Security level), accounts (the identity they sign in as), RBAC, the chart
    /// source and image the manager trusts (HelmRelease, Application), config.toml and the
    /// Helm values (job pods, executor settings), and registration.json (who can trigger it).
    pub const PRIVILEGE: [RunnerFile; 8] = [
        RunnerFile::Namespace,
        RunnerFile::ServiceAccounts,
        RunnerFile::Rbac,
        RunnerFile::HelmRelease,
        RunnerFile::Application,
        RunnerFile::Config,
        RunnerFile::Values,
        RunnerFile::Registration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RunnerFile::Namespace => "namespace.yaml",
            RunnerFile::ServiceAccounts => "serviceaccounts.yaml",
            RunnerFile::Rbac => "rbac.yaml",
            RunnerFile::ExternalSecret => "externalsecret.yaml",
            RunnerFile::HelmRelease => "helmrelease.yaml",
            RunnerFile::Application => "application.yaml",
            RunnerFile::Config => "config.toml",
            RunnerFile::Values => "values.yaml",
            RunnerFile::Registration => "registration.json",
            RunnerFile::CiTemplate => "ci-template.yml",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A file of an environment's Azure deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AzureFile {
    MainBicep,
    MainJson,
    Identities,
    RoleModule(ModuleKind),
    BicepConfig,
    GraphBicep,
    GraphJson,
}

impl AzureFile {
    /// The path inside `<env>/azure/`.
    pub fn name(self) -> String {
        self.name_in(None)
    }

    /// The path inside `<env>/azure/` for a shard of a large environment (`main-NN.json`);
    /// the role-assignment modules and bicepconfig.json are shared.
    pub fn name_in(self, shard: Option<u32>) -> String {
        let n = shard.map(|n| format!("-{n:02}")).unwrap_or_default();
        match self {
            AzureFile::MainBicep => format!("main{n}.bicep"),
            AzureFile::MainJson => format!("main{n}.json"),
            AzureFile::Identities => format!("modules/identities{n}.bicep"),
            AzureFile::RoleModule(kind) => {
                format!("modules/role-assignments-{}.bicep", kind.module())
            }
            AzureFile::BicepConfig => "bicepconfig.json".into(),
            AzureFile::GraphBicep => format!("graph{n}.bicep"),
            AzureFile::GraphJson => format!("graph{n}.json"),
        }
    }

    /// Whether `file` (a path inside `<env>/azure/`) is a main template, of a shard or not.
    pub fn is_main_json(file: &str) -> bool {
        Self::main_json_shard(file).is_some()
    }

    /// The shard whose main template `file` (a path inside `<env>/azure/`) is: `Some(None)`
    /// for `main.json` (an environment deployed in one piece), `Some(Some(n))` for
    /// `main-NN.json`, none for any other file.
    pub fn main_json_shard(file: &str) -> Option<Option<u32>> {
        if file == "main.json" {
            return Some(None);
        }
        let n = file.strip_prefix("main-")?.strip_suffix(".json")?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Some(n.parse().ok()?))
    }
}

pub fn runner_dir(env: &str, runner: &str) -> String {
    format!("{env}/{runner}")
}

pub fn runner_file(env: &str, runner: &str, file: RunnerFile) -> String {
    format!("{env}/{runner}/{}", file.name())
}

/// A runner's file as `<env>/kustomization.yaml` lists it.
pub fn runner_file_in_env(runner: &str, file: RunnerFile) -> String {
    format!("{runner}/{}", file.name())
}

/// The folder of an environment's Azure deployment.
pub fn azure_dir(env: &str) -> String {
    format!("{env}/{AZURE_DIR}")
}

/// The paths of an environment, relative to the output directory, whose change can change a
/// runner's privileges (a folder ends in `/`): PERMISSIONS.md, the Azure deployment, the Key
/// Vault store, the kustomization that says what is applied, and each runner's
/// [`RunnerFile::PRIVILEGE`] files. `env` and the runners may be patterns (`*`).
pub fn privilege_paths<'a>(env: &str, runners: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut paths = vec![
        permissions(env),
        format!("{}/", azure_dir(env)),
        secret_store(env),
        kustomization(env),
    ];
    for runner in runners {
        paths.extend(
            RunnerFile::PRIVILEGE
                .iter()
                .map(|f| runner_file(env, runner, *f)),
        );
    }
    paths
}

pub fn azure_file(env: &str, file: AzureFile) -> String {
    azure_file_in(env, None, file)
}

/// [`azure_file`] for a shard of a large environment.
pub fn azure_file_in(env: &str, shard: Option<u32>, file: AzureFile) -> String {
    format!("{}/{}", azure_dir(env), file.name_in(shard))
}

pub fn kustomization(env: &str) -> String {
    format!("{env}/kustomization.yaml")
}

/// The environment's Key Vault secret store and its service accounts.
pub fn secret_store(env: &str) -> String {
    format!("{env}/secret-store.yaml")
}

/// Who can trigger each runner of the environment and what it can do (PERMISSIONS.md).
pub fn permissions(env: &str) -> String {
    format!("{env}/PERMISSIONS.md")
}

/// Argo CD's repository Secret for an OCI chart.
pub fn chart_repository(env: &str) -> String {
    format!("{env}/chart-repository.yaml")
}

/// A path of an environment's folder as its kustomization.yaml lists it.
pub fn env_relative(path: &str) -> String {
    path.split_once('/')
        .map_or(path, |(_, rest)| rest)
        .to_owned()
}

/// What a path of the output directory is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location<'a> {
    /// A file directly in an environment's folder.
    Environment { env: &'a str },
    /// A file in `<env>/azure/`; `file` is its path below that folder.
    Azure { env: &'a str, file: &'a str },
    /// A file in a runner's folder; `file` is `None` for a name runnergen does not write.
    Runner {
        env: &'a str,
        runner: &'a str,
        file: Option<RunnerFile>,
    },
    /// Anything else (the manifest, files outside any environment).
    Other,
}

impl<'a> Location<'a> {
    pub fn of(path: &'a str) -> Self {
        let mut parts = path.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(env), Some(_), None) => Location::Environment { env },
            (Some(env), Some(AZURE_DIR), Some(file)) => Location::Azure { env, file },
            (Some(env), Some(runner), Some(file)) => Location::Runner {
                env,
                runner,
                file: RunnerFile::from_name(file),
            },
            _ => Location::Other,
        }
    }

    pub fn env(&self) -> Option<&'a str> {
        match *self {
            Location::Environment { env }
            | Location::Azure { env, .. }
            | Location::Runner { env, .. } => Some(env),
            Location::Other => None,
        }
    }

    /// The group a path belongs to within its environment: the runner, or `azure`.
    pub fn group(&self) -> Option<&'a str> {
        match *self {
            Location::Azure { .. } => Some(AZURE_DIR),
            Location::Runner { runner, .. } => Some(runner),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for f in RunnerFile::ALL {
            let p = runner_file("ss", "tf", f);
            assert_eq!(
                Location::of(&p),
                Location::Runner {
                    env: "ss",
                    runner: "tf",
                    file: Some(f)
                }
            );
        }
        let main = azure_file("ss", AzureFile::MainJson);
        assert_eq!(main, "ss/azure/main.json");
        assert_eq!(
            Location::of(&main),
            Location::Azure {
                env: "ss",
                file: "main.json"
            }
        );
        assert_eq!(
            Location::of(&azure_file("ss", AzureFile::Identities)).group(),
            Some("azure")
        );
        assert_eq!(
            Location::of(&kustomization("ss")),
            Location::Environment { env: "ss" }
        );
        assert_eq!(Location::of(".runnergen-manifest.json"), Location::Other);
        for shard in [None, Some(1), Some(7), Some(MAX_SHARDS)] {
            let main = AzureFile::MainJson.name_in(shard);
            assert_eq!(AzureFile::main_json_shard(&main), Some(shard), "{main}");
        }
        for other in ["main.bicep", "main-.json", "main-x1.json", "graph-01.json"] {
            assert_eq!(AzureFile::main_json_shard(other), None, "{other}");
        }
        assert_eq!(Location::of("ss/tf/notes.txt").group(), Some("tf"));
    }
}
