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
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let schema = folder.join(SCHEMA_FILE);
    let schema_text = crate::spec::schema::schema_text();
    // Both files are looked at before either is written; neither is ever followed as a link.
    let write_schema = match in_the_way(path, &schema, schema_text.as_bytes()) {
        Ok(w) => w,
        Err(what) => {
            stderr(&format!(
                "error: {what}; runnergen init never overwrites a file nor writes through a link, and wrote nothing\n  = hint: name another path: `runnergen init new-fleet/runners.yaml`\n"
            ));
            return exit::INVALID;
        }
    };
    let written = std::fs::create_dir_all(folder)
        .and_then(|()| create_new(path, STARTER.as_bytes()))
        .and_then(|()| {
            if !write_schema {
                return Ok(());
            }
            create_new(&schema, schema_text.as_bytes()).inspect_err(|_| {
                // The spec was created a moment ago, by this run: nothing is left half-done.
                let _ = std::fs::remove_file(path);
            })
        });
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

/// What is in the way of the spec or the schema (anything at the spec's path; at the schema's,
/// anything but a regular file holding exactly this schema, which stays); else whether the
/// schema is to be written.
fn in_the_way(spec: &Path, schema: &Path, schema_text: &[u8]) -> Result<bool, String> {
    if std::fs::symlink_metadata(spec).is_ok() {
        return Err(format!("{} exists", spec.display()));
    }
    match std::fs::symlink_metadata(schema) {
        Err(_) => Ok(true),
        Ok(m)
            if m.is_file()
                && super::files::read_bounded(schema, schema_text.len() as u64)
                    .is_ok_and(|b| b == schema_text) =>
        {
            Ok(false)
        }
        Ok(m) if m.file_type().is_symlink() => {
            Err(format!("{} is a symbolic link", schema.display()))
        }
        Ok(_) => Err(format!(
            "{} exists and is not this version's schema",
            schema.display()
        )),
    }
}

/// Writes a new file (`O_EXCL`: an existing file or link, even a dangling one, is an error).
pub(super) fn create_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    std::io::Write::write_all(&mut f, bytes)
}
