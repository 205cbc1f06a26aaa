//! `runnergen explain RUNNER [--env ENV]`: one runner's section of PERMISSIONS.md, printed.

use super::{exit, stderr, stdout};
use crate::render::{EnvCx, permissions};

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  runnergen explain tf runners.yaml")]
pub struct Args {
    /// The runner's key in the spec.
    pub runner: String,
    #[command(flatten)]
    pub input: super::Input,
    /// The runner's environment (a check: a runner key is unique in the spec).
    #[arg(long)]
    pub env: Option<String>,
}

pub fn run(args: Args) -> u8 {
    let loaded = match args.input.load() {
        Ok(l) => l,
        Err(code) => return code,
    };
    let fleet = &loaded.fleet;
    let found = fleet.environments.iter().find_map(|e| {
        e.runners
            .iter()
            .find(|r| r.key == args.runner)
            .map(|r| (e, r))
    });
    let Some((env, runner)) = found else {
        let keys: Vec<&str> = fleet
            .environments
            .iter()
            .flat_map(|e| e.runners.iter().map(|r| r.key.as_str()))
            .collect();
        stderr(&format!(
            "error: no runner `{}` in {}; runners: {}\n",
            args.runner,
            loaded.path.display(),
            keys.join(", ")
        ));
        return exit::INVALID;
    };
    if let Some(want) = &args.env
        && *want != env.key
    {
        stderr(&format!(
            "error: runner `{}` runs in environment `{}`, not `{want}`\n",
            runner.key, env.key
        ));
        return exit::INVALID;
    }
    let cx = EnvCx {
        fleet,
        env,
        source: &loaded.source,
    };
    match permissions::report(cx, &[runner]) {
        Ok(text) => stdout(&text).map_or_else(|c| c, |()| exit::OK),
        Err(e) => {
            stderr(&format!("error: {e}\n"));
            exit::INVALID
        }
    }
}
