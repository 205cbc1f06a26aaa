//! `runnergen validate [SPEC]`: every check, nothing written; with an output directory, the
//! client IDs against what it holds too (E042), as `render` checks them.

use super::{exit, report, summary};

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  runnergen validate runners.yaml")]
pub struct Args {
    #[command(flatten)]
    pub input: super::Input,
}

pub fn run(args: Args) -> u8 {
    let loaded = match args.input.load() {
        Ok(l) => l,
        Err(code) => return code,
    };
    if let Err(code) = committed_identities(&args.input, &loaded) {
        return code;
    }
    report(&loaded.path, &loaded.text, &loaded.notes);
    loaded.print_lint();
    let fleet = &loaded.fleet;
    let runners: usize = fleet.environments.iter().map(|e| e.runners.len()).sum();
    let waiting = fleet
        .environments
        .iter()
        .flat_map(|e| &e.runners)
        .filter(|r| !r.ready())
        .count();
    let envs: Vec<&str> = fleet.environments.iter().map(|e| e.key.as_str()).collect();
    let mut line = format!(
        "{}: valid: {runners} runner{} in {} environment{} ({})",
        loaded.path.display(),
        if runners == 1 { "" } else { "s" },
        envs.len(),
        if envs.len() == 1 { "" } else { "s" },
        envs.join(", ")
    );
    if waiting > 0 {
        line.push_str(&format!(
            "; {waiting} wait{} for a client ID (phase 1: deploy Azure first)",
            if waiting == 1 { "s" } else { "" }
        ));
    }
    match summary(&format!("{line}\n")) {
        Ok(()) => exit::OK,
        Err(code) => code,
    }
}

/// E042 against the output directory, when there is one: read as it stands, under a shared
/// lock, so that no render is half done.
fn committed_identities(input: &super::Input, loaded: &super::Loaded) -> Result<(), u8> {
    let dir = input.out();
    if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    let _lock = crate::outdir::read_lock(&dir, Some(super::render::waiting)).map_err(|e| {
        super::stderr(&format!("error: {e}\n"));
        exit::INVALID
    })?;
    loaded.check_identities(&crate::outdir::Base::from_dir(&dir))
}
