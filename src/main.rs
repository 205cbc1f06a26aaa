use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = runnergen::cli::Cli::parse();
    ExitCode::from(runnergen::cli::run(cli))
}
