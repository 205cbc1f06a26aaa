//! Terminal conventions shared by every command: colour (`--color`, `NO_COLOR`,
//! `CLICOLOR_FORCE`), `-q/--quiet` (errors only) and `-v/--verbose`.

use std::io::IsTerminal;
use std::sync::OnceLock;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set; CLICOLOR_FORCE forces it (CI logs).
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(clap::Args, Debug, Default, Clone, Copy)]
pub struct Global {
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Print errors only: no notes, no summaries.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more: every runner's rollout note instead of one per environment.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();

/// Sets the options for this process (once, before any output).
pub fn init(g: Global) {
    let _ = GLOBAL.set(g);
}

fn global() -> Global {
    GLOBAL.get().copied().unwrap_or_default()
}

pub fn quiet() -> bool {
    global().quiet
}

pub fn verbose() -> bool {
    global().verbose
}

/// Whether to colour a stream: `--color`, then `NO_COLOR` (no-color.org: any non-empty value),
/// then `CLICOLOR_FORCE` (bixense.com/clicolors: non-empty and not `0`), then whether the
/// stream is a terminal.
fn colour(is_terminal: bool) -> bool {
    let set = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    match global().color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set("NO_COLOR").is_some() => false,
        ColorChoice::Auto if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") => true,
        ColorChoice::Auto => is_terminal,
    }
}

pub fn colour_stdout() -> bool {
    colour(std::io::stdout().is_terminal())
}

pub fn colour_stderr() -> bool {
    colour(std::io::stderr().is_terminal())
}

/// Wraps `s` in an SGR colour code when `on`.
pub fn paint(on: bool, code: &str, s: &str) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_owned()
    }
}
