//! `runnergen register [--out DIR] [--env ENV]… [--dry-run] [--prune] [--rotate] [--adopt]`:
//! make GitLab's runners match the rendered `registration.json` files. The only command that
//! uses the network.

use super::{exit, stderr, stdout};
use crate::register::{self, gitlab::Secret};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  GITLAB_TOKEN=… runnergen register --out out --dry-run")]
pub struct Args {
    /// The rendered output directory whose registration.json files are registered.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Print what would change, change nothing. Exit 1 when something would change.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete runners runnergen manages that are no longer rendered.
    #[arg(long)]
    pub prune: bool,
    /// Reset each runner's authentication token and store the new one.
    #[arg(long)]
    pub rotate: bool,
    /// Register only this environment (repeatable); an environment with no registration is
    /// an error.
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// Take over runners whose note has the old form without a fleet
    /// (`managed by runnergen: <env>/<runner>`) in their registration's group or project.
    #[arg(long)]
    pub adopt: bool,
    /// Where runner details read before are cached. Default `$XDG_CACHE_HOME/runnergen`, else
    /// `~/.cache/runnergen`.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Read every listed runner's details afresh instead of from the cache.
    #[arg(long)]
    pub refresh: bool,
}

pub fn run(args: Args) -> u8 {
    let Some(token) = std::env::var_os("GITLAB_TOKEN").filter(|t| !t.is_empty()) else {
        stderr(
            "error: GITLAB_TOKEN is not set\n  = hint: a personal, group or project access token with the scopes read_api, create_runner and manage_runner, from the environment (never a flag: arguments are visible to every user)\n",
        );
        return exit::INVALID;
    };
    let token = Secret::new(token.to_string_lossy().into_owned());
    let opts = register::Options {
        dry_run: args.dry_run,
        prune: args.prune,
        rotate: args.rotate,
        adopt: args.adopt,
        envs: args.envs,
        cache_dir: args.cache_dir.or_else(register::default_cache_dir),
        refresh: args.refresh,
    };
    let mut broken_pipe = None;
    let mut say = |line: &str| {
        if broken_pipe.is_none()
            && let Err(code) = stdout(&format!("{line}\n"))
        {
            broken_pipe = Some(code);
        }
    };
    let outcome = register::run(&args.out, &token, &opts, &mut say);
    if let Some(code) = broken_pipe {
        return code;
    }
    match outcome {
        Err(e) => {
            stderr(&format!("error: {e}\n"));
            exit::INVALID
        }
        Ok(o) if o.failures > 0 => {
            stderr(&format!(
                "error: {} runner{} failed; the others are as rendered\n",
                o.failures,
                if o.failures == 1 { "" } else { "s" }
            ));
            exit::INVALID
        }
        Ok(o) if args.dry_run && o.changes > 0 => exit::CHANGES,
        Ok(_) => exit::OK,
    }
}
