//! `runnergen register [--out DIR] [--dry-run] [--prune] [--rotate]`: make GitLab's runners
//! match the rendered `registration.json` files. The only command that uses the network.

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
}

pub fn run(args: Args) -> u8 {
    let Some(token) = std::env::var_os("GITLAB_TOKEN").filter(|t| !t.is_empty()) else {
        stderr(
            "error: GITLAB_TOKEN is not set\n  = hint: a personal, group or project access token with the create_runner and manage_runner scopes, from the environment (never a flag: arguments are visible to every user)\n",
        );
        return exit::INVALID;
    };
    let token = Secret::new(token.to_string_lossy().into_owned());
    let opts = register::Options {
        dry_run: args.dry_run,
        prune: args.prune,
        rotate: args.rotate,
    };
    let mut broken_pipe = None;
    let mut say = |line: &str| {
        if broken_pipe.is_none()
            && let Err(code) = stdout(&format!("{line}\n"))
        {
            broken_pipe = Some(code);
        }
    };
    let outcome = register::run(&args.out, &token, opts, &mut say);
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
