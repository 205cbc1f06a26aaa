//! `runnergen render [SPEC] [--out DIR] [--check]`: the whole tree, written all or nothing.

use super::{exit, report, stderr, stdout};
use crate::outdir;
use std::path::Path;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  runnergen render runners.yaml            # writes out/ beside the spec\n  runnergen render runners.yaml --check    # exit 1 when out/ is stale"
)]
pub struct Args {
    #[command(flatten)]
    pub input: super::Input,
    /// Write nothing; exit 1 when the directory is not exactly what the spec renders.
    #[arg(long)]
    pub check: bool,
    /// Take over files runnergen does not own at paths it now writes (by default such a
    /// file is an error naming it).
    #[arg(long, conflicts_with = "check")]
    pub adopt: bool,
}

/// Reports a render that failed (exit 2).
pub fn render_failed(e: crate::render::RenderError) -> u8 {
    let note = match e {
        crate::render::RenderError::Limit(_) => "nothing was written",
        _ => "this is a bug in runnergen; nothing was written. Please report it with the spec",
    };
    stderr(&format!("error: {e}\n  = note: {note}.\n"));
    exit::INVALID
}

/// Tells the user why nothing happens yet.
pub(super) fn waiting(dir: &Path) {
    stderr(&format!(
        "note: another runnergen is writing {}; waiting for it to finish\n",
        dir.display()
    ));
}

/// Opens the output directory for reading: a shared lock, and an error (exit 2) when it is not
/// a directory or an interrupted render left it part-written.
pub fn open_for_reading(out: &Path) -> Result<Option<outdir::Lock>, u8> {
    let name = out.display();
    match std::fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => {
            stderr(&format!(
                "error: {name} is a symbolic link; runnergen reads the output directory itself, never what a link points to\n"
            ));
            return Err(exit::INVALID);
        }
        Ok(m) if !m.is_dir() => {
            stderr(&format!("error: {name} is not a directory\n"));
            return Err(exit::INVALID);
        }
        _ => {}
    }
    let lock = outdir::read_lock(out, Some(waiting)).map_err(|e| {
        stderr(&format!("error: {e}\n"));
        exit::INVALID
    })?;
    if outdir::interrupted(out) {
        stderr(&format!(
            "error: an interrupted render left {name} part-written\n  = hint: run `runnergen render` to finish it\n"
        ));
        return Err(exit::INVALID);
    }
    Ok(lock)
}

pub fn run(args: Args) -> u8 {
    let out = args.input.out_name();
    let loaded = match args.input.load() {
        Ok(l) => super::at_exit(l),
        Err(code) => return code,
    };
    if args.check {
        return check(&args, &loaded, &out);
    }
    let opts = outdir::Options {
        adopt: args.adopt,
        on_wait: Some(waiting),
    };
    let write_failed = |e: outdir::WriteError| {
        stderr(&format!(
            "error: {e}\n  = note: {out} holds what it held before, or what a repeated render finishes\n"
        ));
        exit::INVALID
    };
    // The tree goes to the write part by part as it is rendered (the write stages it beside
    // the files it replaces and commits only at the end), so it is never held whole.
    let no_hook = |_: &outdir::Step| Ok(());
    let writer = match outdir::Writer::open(&args.input.out(), &opts, &no_hook) {
        Ok(w) => w,
        Err(e) => return write_failed(e),
    };
    if let Err(code) = stream(&loaded, &writer, writer.committed(), write_failed) {
        writer.abort();
        return code;
    }
    let line = match writer.finish() {
        Ok(s) if s.is_clean() => format!("{out}: up to date ({} files)\n", s.unchanged),
        Ok(s) => format!(
            "{out}: {} added, {} changed, {} removed, {} unchanged\n",
            s.added.len(),
            s.changed.len(),
            s.removed.len(),
            s.unchanged
        ),
        Err(e) => return write_failed(e),
    };
    match super::summary(&line) {
        Ok(()) => exit::OK,
        Err(code) => code,
    }
}

/// Renders into `sink` part by part, refuses client IDs the committed output (`base`) ties to
/// another identity (E042), and prints the notes and lint findings; the caller finishes the
/// write or the comparison, or aborts the write on an error (its exit code returned).
/// `failed` reports the sink's own errors.
fn stream(
    loaded: &super::Loaded,
    sink: &dyn outdir::Sink,
    base: &outdir::Base,
    failed: impl Fn(outdir::WriteError) -> u8,
) -> Result<(), u8> {
    if let Err(e) = crate::compile::render_into(&loaded.fleet, &loaded.source, sink) {
        return Err(match e {
            crate::compile::Failure::Render(e) => render_failed(e),
            crate::compile::Failure::Write(e) => failed(e),
        });
    }
    loaded.check_identities(base)?;
    report(&loaded.path, &loaded.text, &loaded.notes);
    loaded.print_lint();
    Ok(())
}

/// `render --check`: exit 1 when the directory is not exactly what the spec renders. The tree
/// is compared with the directory part by part as it is rendered, like a write, and never held
/// whole.
fn check(args: &Args, loaded: &super::Loaded, out: &str) -> u8 {
    let dir = args.input.out();
    let _lock = match open_for_reading(&dir) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    let base = outdir::Base::from_dir(&dir);
    let compare = outdir::Compare::new(&base);
    let streamed = stream(loaded, &compare, &base, |e| {
        stderr(&format!("error: {e}\n"));
        exit::INVALID
    });
    if let Err(code) = streamed {
        return code;
    }
    let plan = compare.finish().summary;
    let mut text = String::new();
    if plan.is_clean() {
        text.push_str(&format!("{out}: up to date ({} files)\n", plan.unchanged));
    }
    for (label, paths) in [
        ("missing  ", &plan.added),
        ("stale    ", &plan.changed),
        ("obsolete ", &plan.removed),
    ] {
        for p in paths {
            text.push_str(&format!("{label} {out}/{p}\n"));
        }
    }
    if let Err(code) = stdout(&text) {
        return code;
    }
    if plan.is_clean() {
        return exit::OK;
    }
    let spec = args.input.spec.display();
    stderr(&format!(
        "error: {out} is not what {spec} renders; run `runnergen render {spec}`\n"
    ));
    exit::CHANGES
}
