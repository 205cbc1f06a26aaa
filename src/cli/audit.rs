//! `runnergen audit [OUT_DIR] [--env ENV]… --azure-roles FILE --identities FILE
//! --federated-credentials FILE… --kubernetes FILE --gitlab-runners FILE [--format …]`:
//! live state, exported to files, against what the rendered output grants. Reads files only.

use super::diff::{Format, WIDENS};
use super::{exit, stderr, stdout};
use crate::audit::{self, Input, Inputs, format};
use crate::outdir::Base;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The largest export read: a large tenant's role assignments or a cluster's objects.
const MAX_EXPORT_BYTES: u64 = 512 * 1024 * 1024;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Each input is the output of one command, saved to a file (docs/audit.md); audit never calls Azure, Kubernetes or GitLab. A check whose input is missing is reported as not checked.\n\nExample:\n  runnergen audit out --env prd --azure-roles roles.json --identities identities.json \\\n    --federated-credentials fic-*.json --kubernetes cluster.json --gitlab-runners runners.json"
)]
pub struct Args {
    /// The rendered output directory whose grants are the expected state.
    #[arg(default_value = "out")]
    pub out: PathBuf,
    /// Audit only this environment (repeatable).
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// `az role assignment list --all --subscription SUB -o json`, one file per subscription
    /// the runners' roles are in (several files, or the flag repeated).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub azure_roles: Vec<PathBuf>,
    /// `az identity list -o json`: each identity's principal and client ID.
    #[arg(long, value_name = "FILE")]
    pub identities: Option<PathBuf>,
    /// `az identity federated-credential list --identity-name NAME --resource-group RG -o
    /// json`, one file per identity (several files, or the flag repeated).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub federated_credentials: Vec<PathBuf>,
    /// `kubectl get ns,sa,role,rolebinding,clusterrolebinding,externalsecret,clustersecretstore
    /// -A -o json`.
    #[arg(long, value_name = "FILE")]
    pub kubernetes: Option<PathBuf>,
    /// The GitLab runners' details (`GET /runners/:id`, one JSON array) of the groups and
    /// projects the registrations name.
    #[arg(long, value_name = "FILE")]
    pub gitlab_runners: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

fn read(path: &Path) -> Result<Input, String> {
    let name = path.display().to_string();
    super::files::read_bounded(path, MAX_EXPORT_BYTES)
        .map(|bytes| Input {
            name: name.clone(),
            bytes,
        })
        .map_err(|e| format!("cannot read {name}: {e}"))
}

fn inputs(args: &Args) -> Result<Inputs, String> {
    let one = |p: &Option<PathBuf>| p.as_deref().map(read).transpose();
    let many = |p: &[PathBuf]| p.iter().map(|p| read(p)).collect::<Result<Vec<_>, _>>();
    Ok(Inputs {
        azure_roles: many(&args.azure_roles)?,
        identities: one(&args.identities)?,
        federated_credentials: many(&args.federated_credentials)?,
        kubernetes: one(&args.kubernetes)?,
        gitlab_runners: one(&args.gitlab_runners)?,
    })
}

/// Every file of the output directory, by its path relative to it.
fn rendered(out: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let label = out.display();
    match std::fs::symlink_metadata(out) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{label}: not a directory (the rendered output)")),
        Err(e) => return Err(format!("cannot read the output directory {label}: {e}")),
    }
    let files = Mutex::new(BTreeMap::new());
    Base::from_dir(out).each(&|_| true, &|_| true, &|path, bytes| {
        files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_owned(), bytes);
    })?;
    Ok(files.into_inner().unwrap_or_else(|p| p.into_inner()))
}

pub fn run(args: Args) -> u8 {
    let outcome = rendered(&args.out).and_then(|files| {
        let inputs = inputs(&args)?;
        audit::audit(&args.out.display().to_string(), &files, &args.envs, &inputs)
    });
    let report = match outcome {
        Ok(r) => r,
        Err(e) => {
            stderr(&format!("error: {}\n", crate::spec::shapes::redact(&e)));
            return exit::INVALID;
        }
    };
    let text = match args.format {
        Format::Text => format::text(&report),
        Format::Json => format::json(&report),
        Format::Markdown => format::markdown(&report),
    };
    // The exit codes of `diff`: 3 when live state grants anything beyond the output, 1 when
    // only something is missing, 0 when live state is the output.
    let code = if report.beyond() > 0 {
        WIDENS
    } else if report.missing() > 0 {
        exit::CHANGES
    } else {
        exit::OK
    };
    stdout(&text).map_or_else(|c| c, |()| code)
}
