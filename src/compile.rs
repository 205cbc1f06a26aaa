//! The pipeline in one place: spec text → checked spec → model ([`resolve`]) → rendered tree
//! with its ownership manifest ([`render`]). The CLI, the tests and the fuzz targets all come
//! through here, so none of them strings the stages together differently.

use crate::lint;
use crate::model::{self, Fleet};
use crate::outdir;
use crate::render::{self, RenderError, Streamed};
use crate::spec::{self, Diagnostic, locate, yaml::SourceMap};
use crate::tree::Tree;

/// A spec that passed every check, resolved.
pub struct Resolved {
    /// The model, with the lint's report (`Fleet::lint`).
    pub fleet: Fleet,
    /// Where each node of the spec is, for notes about it.
    pub map: SourceMap,
}

/// Reads no file: for specs that name none (`identityOutputs`), and for tests and fuzzing.
pub fn no_files(path: &str) -> std::io::Result<String> {
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{path}: no files are read here"),
    ))
}

/// Checks the spec, resolves it to the model and lints the model; every problem at once, or
/// the model. The stages name what they find by pointer; this is where all of it is located
/// against the spec (`spec::locate`). `files` reads the files the spec names, relative to its
/// folder.
pub fn resolve(text: &str, files: model::Files) -> Result<Resolved, Vec<Diagnostic>> {
    let checked = spec::read(text).map_err(spec::Rejected::report)?;
    let mut fleet = model::build(&checked.spec, files)
        .map_err(|problems| locate::report(&checked.map, problems, Vec::new()))?;
    let found = lint::lint(&checked.spec, &fleet);
    fleet.lint = place(&checked.map, found);
    if fleet.lint.blocks() {
        // An error-level finding (L011: jobs that can cross to a runner with other access)
        // refuses the spec like an error; the other findings show beside it.
        return Err(fleet.lint.diagnostics());
    }
    Ok(Resolved {
        fleet,
        map: checked.map,
    })
}

/// The lint's findings and stale acknowledgements, located.
fn place(map: &SourceMap, found: lint::Unplaced) -> lint::Report {
    let mut findings = found.findings;
    for f in &mut findings {
        f.pos = locate::place(map, &mut f.path, &f.anchor);
    }
    lint::Report {
        findings,
        stale: locate::report(map, found.stale, Vec::new()),
    }
}

/// Renders the fleet and adds the ownership manifest. `source` is the spec's path as written
/// into headers.
pub fn render(fleet: &Fleet, source: &str) -> Result<Tree, RenderError> {
    let mut tree = render::render(fleet, source)?;
    tree.insert(outdir::MANIFEST, outdir::manifest_for(&tree, source))?;
    Ok(tree)
}

/// Why [`render_into`] failed.
#[derive(Debug)]
pub enum Failure {
    Render(RenderError),
    Write(outdir::WriteError),
}

/// Renders the fleet straight into a sink (a write of its output directory, or a comparison
/// with it), part by part as the renderers produce them, then its ownership manifest: a large
/// fleet is never held in memory whole. A write is left to finish or abort.
pub fn render_into(fleet: &Fleet, source: &str, sink: &dyn outdir::Sink) -> Result<(), Failure> {
    render::render_into(fleet, source, &|part: Tree| sink.take(&part)).map_err(|e| match e {
        Streamed::Render(e) => Failure::Render(e),
        Streamed::Sink(e) => Failure::Write(e),
    })?;
    sink.take_manifest(source).map_err(Failure::Write)
}

/// [`resolve`] then [`render`], with diagnostics rendered against the spec text; reads no
/// file (see [`compile_with`]).
pub fn compile(source: &str, text: &str) -> Result<Tree, String> {
    compile_with(source, text, &no_files)
}

/// [`compile`], reading the files the spec names with `files`.
pub fn compile_with(source: &str, text: &str, files: model::Files) -> Result<Tree, String> {
    let resolved = resolve(text, files)
        .map_err(|diags| spec::diag::render_all(&diags, source, text, false))?;
    render(&resolved.fleet, source).map_err(|e| e.to_string())
}
