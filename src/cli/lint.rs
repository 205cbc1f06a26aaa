//! `runnergen lint [SPEC] [--strict]`: the privilege findings of a valid spec, located, with
//! what to do.

use super::{exit, report, stderr, summary, term};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  runnergen lint runners.yaml\n  runnergen lint --strict runners.yaml   # in CI: fail on unacknowledged findings"
)]
pub struct Args {
    #[command(flatten)]
    pub input: super::Input,
    /// Exit 1 when a finding is not acknowledged (`acknowledge:` on its runner).
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: Args) -> u8 {
    let loaded = match args.input.load() {
        Ok(l) => l,
        Err(code) => return code,
    };
    report(&loaded.path, &loaded.text, &loaded.notes);
    let file = loaded.path.display().to_string();
    let color = term::colour_stderr();
    let mut err = String::new();
    // `--quiet` prints errors only: lint's findings are warnings unless their rule's level is
    // an error (which `load` has refused already), and its notes are notes.
    let diags: Vec<_> = loaded
        .lint()
        .diagnostics()
        .into_iter()
        .filter(|d| d.severity == crate::spec::diag::Severity::Error || !term::quiet())
        .collect();
    err.push_str(&crate::spec::diag::render_all(
        &diags,
        &file,
        &loaded.text,
        color,
    ));
    stderr(&err);
    let (all, open) = (loaded.lint().findings.len(), loaded.lint().open());
    let line = if all == 0 {
        format!("{file}: no lint findings\n")
    } else {
        format!(
            "{file}: {all} lint finding{}, {} acknowledged, {open} not\n",
            if all == 1 { "" } else { "s" },
            all - open
        )
    };
    if let Err(code) = summary(&line) {
        return code;
    }
    if args.strict && open > 0 {
        stderr(&format!(
            "error: --strict: {open} finding{} not acknowledged; fix {} or add `acknowledge: [{{rule: L0.., reason: \"…\"}}]` to the runner, with the `role` and `scope` or the `permission` its hint names\n",
            if open == 1 { "" } else { "s" },
            if open == 1 { "it" } else { "them" },
        ));
        return exit::CHANGES;
    }
    exit::OK
}
