//! runnergen compiles one YAML fleet spec into the files GitOps tools apply for self-hosted
//! GitLab runners on AKS with Azure managed identities and workload identity.
//! See ARCHITECTURE.md for the pipeline; the CLI lives in `cli`.

pub mod cli;
pub mod diff;
pub mod facts;
pub mod model;
pub mod render;
pub mod spec;
pub mod tree;
pub mod write;

/// The whole pipeline in memory: spec text to the rendered tree, manifest included.
/// `source` is the spec's path as written into file headers. Errors are rendered diagnostics.
pub fn compile(source: &str, text: &str) -> Result<tree::Tree, String> {
    let render_diags = |diags: &[spec::Diagnostic]| {
        diags
            .iter()
            .map(|d| d.render(source, text))
            .collect::<String>()
    };
    let checked = spec::load(text).map_err(|d| render_diags(&d))?;
    let fleet = model::build(&checked).map_err(|d| render_diags(&d))?;
    let mut tree = render::render(&fleet, source).map_err(|e| e.to_string())?;
    let manifest = write::manifest_for(&tree, source);
    tree.insert(write::MANIFEST, manifest)
        .map_err(|e| e.to_string())?;
    Ok(tree)
}
