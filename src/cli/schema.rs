//! `runnergen schema [--markdown]`: the spec's JSON Schema, as committed under `schema/`, or
//! the spec reference in Markdown, as in docs/spec-reference.md.

use super::exit;

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  runnergen schema > runnergen.schema.json")]
pub struct Args {
    /// Print the spec reference as Markdown instead of the JSON Schema.
    #[arg(long)]
    pub markdown: bool,
}

pub fn run(args: Args) -> u8 {
    let text = if args.markdown {
        crate::spec::reference::markdown()
    } else {
        crate::spec::schema::schema_text()
    };
    match super::stdout(&text) {
        Ok(()) => exit::OK,
        Err(code) => code,
    }
}
