//! `runnergen import STATE.json`: a fleet built with the Terraform article's code, as a spec
//! (`crate::import`). Writes the spec and one outputs file per environment beside it, nothing
//! else; prints the `terraform state rm` commands on stdout and what it could not map on
//! stderr. Exit 0 everything mapped, 1 something listed (the spec still written), 2 an
//! unreadable or invalid state, or a file in the way (nothing written).

use super::{exit, stderr, stdout};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  terraform show -json > state.json\n  runnergen import state.json --out-spec runnergen.yaml > state-rm.sh"
)]
pub struct Args {
    /// `terraform show -json` or `terraform state pull` output of the article's Terraform.
    pub state: PathBuf,
    /// Where to write the spec; the identities' outputs files (`<env>.identity-outputs.json`)
    /// go beside it.
    #[arg(long, default_value = "runnergen.yaml")]
    pub out_spec: PathBuf,
    /// The organisation prefix of the credentials' names (`<org>-<envLong>-msi-gitlab-…`),
    /// when it cannot be told from them. Default: what precedes the first `-`.
    #[arg(long)]
    pub organization: Option<String>,
    /// Overwrite the spec and outputs files when they exist.
    #[arg(long)]
    pub force: bool,
}

/// States larger than this are refused before reading.
const MAX_STATE: u64 = 64 << 20;

pub fn run(args: Args) -> u8 {
    let text = match read(&args.state) {
        Ok(t) => t,
        Err(e) => return fail(&format!("cannot read {}: {e}", args.state.display())),
    };
    let source = args
        .state
        .file_name()
        .map_or("the state".into(), |n| n.to_string_lossy().into_owned());
    let opts = crate::import::Options {
        organization: args.organization.as_deref(),
        source: &source,
    };
    let imported = match crate::import::import(&text, &opts) {
        Ok(i) => i,
        Err(e) => return fail(&format!("{}: {e}", args.state.display())),
    };
    let folder = args
        .out_spec
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut files = vec![(args.out_spec.clone(), imported.spec.clone())];
    for (env, text) in &imported.outputs {
        files.push((folder.join(crate::import::outputs_file(env)), text.clone()));
    }
    if let Err(e) = write_all(&files, args.force) {
        return fail(&e);
    }
    report(&imported, &files)
}

/// The state, a regular file of at most [`MAX_STATE`] bytes (`files::read_bounded`), as text.
fn read(path: &Path) -> Result<String, String> {
    let bytes = super::files::read_bounded(path, MAX_STATE).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

fn fail(message: &str) -> u8 {
    stderr(&format!("error: {message}; nothing was written\n"));
    exit::INVALID
}

/// Every file is checked before any is written; with `--force` existing files are replaced,
/// never through a link.
fn write_all(files: &[(PathBuf, String)], force: bool) -> Result<(), String> {
    for (path, _) in files {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!("{} is a symbolic link", path.display()));
            }
            Ok(_) if !force => {
                return Err(format!(
                    "{} exists (give --force to overwrite it, or --out-spec another path)",
                    path.display()
                ));
            }
            _ => {}
        }
    }
    for (path, text) in files {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        // Without --force a new file only, as `init` writes (a link or file that appeared
        // since the check is an error, not followed).
        let written = if force {
            std::fs::write(path, text)
        } else {
            super::init::create_new(path, text.as_bytes())
        };
        written.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The `terraform state rm` commands on stdout, what was written and what was not mapped on
/// stderr.
fn report(imported: &crate::import::Imported, files: &[(PathBuf, String)]) -> u8 {
    let mut rm = String::from(
        "# Once the spec is reviewed and rendered, remove what runnergen now manages from the Terraform state:\n",
    );
    for address in &imported.state_rm {
        rm.push_str(&format!("terraform state rm '{address}'\n"));
    }
    if !imported.role_assignment_ids.is_empty() {
        rm.push_str("# Then, right before the first stack deployment, delete Terraform's role assignments\n# (the stack makes its own; Azure refuses a second one with RoleAssignmentExists):\n");
    }
    for id in &imported.role_assignment_ids {
        rm.push_str(&format!("az role assignment delete --ids '{id}'\n"));
    }
    if !imported.leftovers.is_empty() {
        rm.push_str("# Once Flux or Argo CD applied out/<env> (runnergen's RBAC in place), delete the article's\n# RBAC objects runnergen names otherwise: `terraform state rm` leaves them granting in the cluster:\n");
    }
    for cmd in &imported.leftovers {
        rm.push_str(cmd);
        rm.push('\n');
    }
    if let Err(code) = stdout(&rm) {
        return code;
    }
    let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    let mut err = format!("wrote {}\n", names.join(", "));
    if imported.unmapped.is_empty() {
        stderr(&err);
        return exit::OK;
    }
    err.push_str(&format!(
        "not mapped ({}), listed at the top of {} too:\n",
        imported.unmapped.len(),
        names[0]
    ));
    for u in &imported.unmapped {
        err.push_str(&format!("  - {u}\n"));
    }
    stderr(&err);
    exit::CHANGES
}
