//! `runnergen schema`: the spec's JSON Schema, as committed under `schema/`.

use super::exit;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_: Args) -> u8 {
    print!("{}", crate::spec::schema::schema_text());
    exit::OK
}
