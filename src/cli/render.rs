//! `runnergen render [SPEC] [--out DIR] [--check]`: the whole tree, written all or nothing.

use super::{exit, report};
use crate::tree::Tree;
use crate::write;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub input: super::Input,
    /// Write nothing; exit 1 when the directory is not exactly what the spec renders.
    #[arg(long)]
    pub check: bool,
}

/// The spec path as written into headers: as the user gave it, with `/` separators.
pub fn source_name(spec: &Path) -> String {
    spec.to_string_lossy().replace('\\', "/")
}

/// Renders a loaded spec to a tree that includes the ownership manifest.
pub fn render_tree(loaded: &super::Loaded) -> Result<Tree, u8> {
    let source = source_name(&loaded.path);
    crate::compile::render(&loaded.fleet, &source).map_err(|e| {
        eprintln!("error: {e}");
        eprintln!("  = note: this is a bug in runnergen; nothing was written. Please report it with the spec.");
        exit::INVALID
    })
}

pub fn run(args: Args) -> u8 {
    let out = args.input.out_name();
    let loaded = match args.input.load() {
        Ok(l) => l,
        Err(code) => return code,
    };
    let tree = match render_tree(&loaded) {
        Ok(t) => t,
        Err(code) => return code,
    };
    report(&loaded.path, &loaded.text, &loaded.notes);
    if args.check {
        let plan = write::plan(&tree, &args.input.out);
        if plan.is_clean() {
            println!("{out}: up to date ({} files)", tree.len());
            return exit::OK;
        }
        for p in &plan.added {
            println!("missing   {out}/{p}");
        }
        for p in &plan.changed {
            println!("stale     {out}/{p}");
        }
        for p in &plan.removed {
            println!("obsolete  {out}/{p}");
        }
        eprintln!(
            "error: {out} is not what {} renders; run `runnergen render {}`",
            args.input.spec.display(),
            args.input.spec.display()
        );
        return exit::CHANGES;
    }
    match write::write(&tree, &args.input.out) {
        Ok(s) if s.is_clean() => {
            println!("{out}: up to date ({} files)", tree.len());
            exit::OK
        }
        Ok(s) => {
            println!(
                "{out}: {} added, {} changed, {} removed, {} unchanged",
                s.added.len(),
                s.changed.len(),
                s.removed.len(),
                s.unchanged
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("  = note: {out} was left as it was");
            exit::INVALID
        }
    }
}
