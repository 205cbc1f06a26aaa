//! Where a new runner token goes, straight from GitLab's answer: the environment's Key Vault
//! (Azure CLI) or the runner's existing Secret (kubectl). The token is never on a command line,
//! never printed: the CLIs read it from a file only this user can read (a 0700 folder, a 0600
//! file), removed as soon as the CLI is done, whatever happened.
//!
//! `az keyvault secret set --file` stores the file byte for byte, so the file holds the token
//! without a newline (Azure CLI `az keyvault secret set`, `--file` with `--encoding utf-8`).

use super::transport::Secret;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where a runner's token is kept (`token_destination` of registration.json).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    KeyVault { vault: String, secret: String },
    KubernetesSecret { namespace: String, name: String },
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::KeyVault { vault, secret } => write!(f, "Key Vault {vault}/{secret}"),
            Destination::KubernetesSecret { namespace, name } => {
                write!(f, "Secret {namespace}/{name}")
            }
        }
    }
}

/// A private folder holding one file with the token, removed when dropped.
struct TokenFile {
    dir: PathBuf,
    file: PathBuf,
}

impl TokenFile {
    fn new(token: &Secret) -> Result<Self, String> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("runnergen-token-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let file = dir.join("token");
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .and_then(|mut f| f.write_all(token.expose().as_bytes()));
        let this = TokenFile { dir, file };
        written.map_err(|e| format!("cannot write {}: {e}", this.file.display()))?;
        Ok(this)
    }

    fn path(&self) -> &Path {
        &self.file
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Runs a CLI, its output captured; an error names the command (without secrets) and what it
/// printed on stderr.
fn run(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)
            .map_err(|e| format!("cannot feed {program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.iter().take(3).copied().collect::<Vec<_>>().join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Stores `token` at `dest`.
pub fn store(dest: &Destination, token: &Secret) -> Result<(), String> {
    let file = TokenFile::new(token)?;
    let path = file.path().to_string_lossy().into_owned();
    match dest {
        Destination::KeyVault { vault, secret } => run(
            "az",
            &[
                "keyvault",
                "secret",
                "set",
                "--vault-name",
                vault,
                "--name",
                secret,
                "--file",
                &path,
                "--output",
                "none",
            ],
            None,
        )
        .map(|_| ()),
        Destination::KubernetesSecret { namespace, name } => {
            // The chart mounts both keys; a glrt- token needs no registration token.
            let manifest = run(
                "kubectl",
                &[
                    "create",
                    "secret",
                    "generic",
                    name,
                    "--namespace",
                    namespace,
                    &format!("--from-file=runner-token={path}"),
                    "--from-literal=runner-registration-token=",
                    "--dry-run=client",
                    "--output=yaml",
                ],
                None,
            )?;
            run("kubectl", &["apply", "--filename", "-"], Some(&manifest)).map(|_| ())
        }
    }
}

/// Deletes the token kept at `dest`, once its runner is gone (`register --prune`): the Key
/// Vault secret (`az keyvault secret delete`: soft-deleted, recoverable for the vault's
/// retention unless purged) or the Kubernetes Secret. Nothing there is not an error.
pub fn remove(dest: &Destination) -> Result<(), String> {
    match dest {
        Destination::KeyVault { vault, secret } => {
            let args = [
                "keyvault",
                "secret",
                "delete",
                "--vault-name",
                vault.as_str(),
                "--name",
                secret.as_str(),
                "--output",
                "none",
            ];
            match run("az", &args, None) {
                Err(e) if e.contains("SecretNotFound") || e.contains("was not found") => Ok(()),
                other => other.map(|_| ()),
            }
        }
        Destination::KubernetesSecret { namespace, name } => run(
            "kubectl",
            &[
                "delete",
                "secret",
                name,
                "--namespace",
                namespace,
                "--ignore-not-found",
            ],
            None,
        )
        .map(|_| ()),
    }
}
