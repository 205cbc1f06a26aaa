use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: a render allocates and frees millions of small
/// values on every core (ARCHITECTURE.md, "Dependencies").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = runnergen::cli::Cli::parse();
    ExitCode::from(runnergen::cli::run(cli))
}
