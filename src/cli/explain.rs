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
    /// Only the runner in this environment (a runner written for several environments is
    /// shown in each by default).
    #[arg(long)]
    pub env: Option<String>,
}

pub fn run(args: Args) -> u8 {
    let loaded = match args.input.load() {
        Ok(l) => l,
        Err(code) => return code,
    };
    let fleet = &loaded.fleet;
    // A runner written for several environments is one instance in each: all of them, or the
    // one `--env` asks for.
    let found: Vec<_> = fleet
        .environments
        .iter()
        .filter_map(|e| {
            e.runners
                .iter()
                .find(|r| r.key == args.runner)
                .map(|r| (e, r))
        })
        .collect();
    if found.is_empty() {
        let mut keys: Vec<&str> = fleet
            .environments
            .iter()
            .flat_map(|e| e.runners.iter().map(|r| r.key.as_str()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let guess = crate::spec::schema::did_you_mean(&args.runner, keys.iter().copied())
            .map(|m| format!("did you mean `{m}`? "))
            .unwrap_or_default();
        stderr(&format!(
            "error: no runner `{}` in {}\n  = hint: {guess}runners: {}\n",
            args.runner,
            loaded.path.display(),
            keys.join(", ")
        ));
        return exit::INVALID;
    }
    let chosen: Vec<_> = match &args.env {
        None => found,
        Some(want) => {
            let envs: Vec<&str> = found.iter().map(|(e, _)| e.key.as_str()).collect();
            let Some(one) = found.into_iter().find(|(e, _)| e.key == *want) else {
                stderr(&format!(
                    "error: runner `{}` does not run in environment `{want}`\n  = hint: it runs in {}\n",
                    args.runner,
                    envs.iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                return exit::INVALID;
            };
            vec![one]
        }
    };
    let mut text = String::new();
    for (env, runner) in chosen {
        let cx = EnvCx {
            fleet,
            env,
            source: &loaded.source,
        };
        match permissions::report(cx, &[runner]) {
            Ok(section) => text.push_str(&section),
            Err(e) => {
                stderr(&format!("error: {e}\n"));
                return exit::INVALID;
            }
        }
    }
    stdout(&text).map_or_else(|c| c, |()| exit::OK)
}
