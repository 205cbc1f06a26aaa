use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: a render allocates and frees millions of small
/// values on every core (ARCHITECTURE.md, "Choices").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The main thread is one of rayon's workers: it renders beside one spawned thread instead of
    // waiting for two, and reuses the memory the spec it read was in.
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
    let cli = runnergen::cli::Cli::parse();
    ExitCode::from(runnergen::cli::run(cli))
}
