//! `runnergen init [PATH]`: a commented starter spec that validates as written, and the JSON
//! Schema next to it, so the spec's `yaml-language-server` modeline works in any editor without
//! network access.

use super::{exit, stderr, summary};
use std::path::{Path, PathBuf};

/// The starter spec, kept valid by a test.
pub const STARTER: &str = include_str!("starter.yaml");

/// The schema's file name next to the spec, as the starter's modeline names it.
pub const SCHEMA_FILE: &str = "runnergen.schema.json";

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  runnergen init runners.yaml && runnergen validate runners.yaml"
)]
pub struct Args {
    /// Where to write the spec; an existing file is never overwritten.
    #[arg(default_value = "runnergen.yaml")]
    pub path: PathBuf,
}

pub fn run(args: Args) -> u8 {
    let path = &args.path;
    if std::fs::symlink_metadata(path).is_ok() {
        stderr(&format!(
            "error: {} exists; runnergen init never overwrites a file\n  = hint: name another path: `runnergen init new-fleet.yaml`\n",
            path.display()
        ));
        return exit::INVALID;
    }
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let schema = folder.join(SCHEMA_FILE);
    let written = std::fs::create_dir_all(folder)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, STARTER.as_bytes()))
        })
        .and_then(|()| std::fs::write(&schema, crate::spec::schema::schema_text()));
    if let Err(e) = written {
        stderr(&format!("error: cannot write {}: {e}\n", path.display()));
        return exit::INVALID;
    }
    let spec = path.display();
    match summary(&format!(
        "wrote {spec} and {} (the schema its first line names)\nnext: edit {spec}, then `runnergen validate {spec}` and `runnergen render {spec}`\n",
        schema.display()
    )) {
        Ok(()) => exit::OK,
        Err(code) => code,
    }
}
