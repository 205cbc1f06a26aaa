//! The command line: one file per subcommand. `main.rs` only maps the result to an exit code.

pub mod audit;
mod codeowners;
pub mod diff;
mod explain;
pub mod files;
mod import;
mod init;
mod lint;
pub mod register;
pub mod render;
pub mod rollout;
mod schema;
pub mod term;
mod validate;

use crate::model::Fleet;
use crate::spec::{self, Code, Diagnostic, diag::Severity};
use clap::{Parser, Subcommand};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Exit codes, documented in the README ("Exit codes") and docs/commands.md.
pub mod exit {
    pub const OK: u8 = 0;
    /// `render --check` found drift.
    pub const CHANGES: u8 = 1;
    /// The spec is invalid, or a file could not be read or written.
    pub const INVALID: u8 = 2;
}

/// The version, with the gitlab-runner chart versions the rendered values were checked against.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (gitlab-runner chart 0.66.0 to 0.86.0)"
);

#[derive(Parser, Debug)]
#[command(name = "runnergen", version = VERSION, about = "Compile a YAML fleet spec into the files GitOps tools apply for GitLab runners on AKS with workload identity", long_about = None, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: term::Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented starter spec (and its JSON Schema next to it). Never overwrites.
    Init(init::Args),
    /// Write a spec from the Terraform state of a fleet built with the article's code, with
    /// its identities' outputs files, and print the `terraform state rm` commands. Exit 0 all
    /// mapped, 1 something listed as not mapped (the spec still written), 2 error.
    Import(import::Args),
    /// Check a spec: schema, references, names, secrets. Exit 0 when valid, 2 when not.
    Validate(validate::Args),
    /// Render every artifact into the output directory (all or nothing).
    Render(render::Args),
    /// Show what the spec changes in DIR, or between two environments. Exit 0 no change,
    /// 1 changes, 3 changes that widen privileges, 2 error.
    Diff(diff::Args),
    /// Privilege findings (rules L001…, docs/lint-rules.md). Exit 0 clean or warnings only,
    /// 1 with --strict and unacknowledged findings, 2 invalid spec.
    Lint(lint::Args),
    /// Print who can trigger a runner and what it can do (its section of PERMISSIONS.md).
    Explain(explain::Args),
    /// Print a GitLab CODEOWNERS section giving every file whose change can change a runner's
    /// privileges to the security group.
    Codeowners(codeowners::Args),
    /// Print the JSON Schema of the spec.
    Schema(schema::Args),
    /// Make GitLab's runners match the rendered registration.json files (the only command that
    /// uses the network; GITLAB_TOKEN from the environment). Exit 0 done, 1 changes pending
    /// (--dry-run), 2 error.
    Register(register::Args),
    /// Compare live state, exported to files (az, kubectl, GitLab's API), with what the
    /// rendered output grants; never calls them. Exit 0 as rendered, 1 something rendered is
    /// missing, 3 something is granted beyond the output, 2 error.
    Audit(audit::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(
        after_help = "Example:\n  runnergen completions bash > /etc/bash_completion.d/runnergen"
    )]
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff): runnergen(1), or with a command its own page, which
    /// runnergen(1) names (runnergen-diff(1), …).
    #[command(
        after_help = "Example:\n  runnergen man > /usr/local/share/man/man1/runnergen.1\n  runnergen man diff > /usr/local/share/man/man1/runnergen-diff.1"
    )]
    Man {
        /// A command: print its page (runnergen-COMMAND(1)).
        command: Option<String>,
    },
}

pub fn run(cli: Cli) -> u8 {
    term::init(cli.global);
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Render(a) => render::run(a),
        Command::Lint(a) => lint::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Codeowners(a) => codeowners::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Register(a) => register::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Init(a) => init::run(a),
        Command::Import(a) => import::run(a),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "runnergen",
                &mut buf,
            );
            stdout(&String::from_utf8_lossy(&buf)).map_or_else(|c| c, |()| exit::OK)
        }
        Command::Man { command } => {
            let mut buf = Vec::new();
            let root = <Cli as clap::CommandFactory>::command();
            let page = match command {
                None => clap_mangen::Man::new(root),
                Some(name) => {
                    let Some(sub) = root.find_subcommand(&name) else {
                        let names: Vec<String> = root
                            .get_subcommands()
                            .map(|c| c.get_name().to_owned())
                            .collect();
                        stderr(&format!(
                            "error: no command `{name}`\n  = hint: one of {}\n",
                            names.join(", ")
                        ));
                        return exit::INVALID;
                    };
                    let sub = sub
                        .clone()
                        .display_name(format!("runnergen-{name}"))
                        .bin_name(format!("runnergen {name}"));
                    clap_mangen::Man::new(sub).title(format!("runnergen-{name}"))
                }
            };
            match page.render(&mut buf) {
                Ok(()) => stdout(&String::from_utf8_lossy(&buf)).map_or_else(|c| c, |()| exit::OK),
                Err(e) => {
                    stderr(&format!("error: {e}\n"));
                    exit::INVALID
                }
            }
        }
    }
}

/// Every command's `--help`, as Markdown: `docs/commands.md` is generated from it (a test
/// keeps the page current and compares each block with what the binary prints), so the page
/// says exactly what `runnergen COMMAND --help` says. Trailing spaces are dropped.
pub fn help_markdown() -> String {
    let mut root = <Cli as clap::CommandFactory>::command();
    root.build();
    let mut out = String::new();
    let mut section = |title: &str, help: String| {
        let help: Vec<&str> = help.lines().map(str::trim_end).collect();
        out.push_str(&format!(
            "## `{title}`\n\n```text\n{}\n```\n\n",
            help.join("\n").trim_end()
        ));
    };
    section("runnergen --help", root.render_long_help().to_string());
    for sub in root.get_subcommands_mut() {
        let title = format!("runnergen {} --help", sub.get_name());
        section(&title, sub.render_long_help().to_string());
    }
    out.pop();
    out
}

/// The spec and the output directory, which every command takes.
#[derive(clap::Args, Debug)]
pub struct Input {
    /// The fleet spec.
    #[arg(default_value = "runnergen.yaml")]
    pub spec: PathBuf,
    /// The output directory: written by `render`, compared by `diff` and `render --check`,
    /// read by `validate` for the client IDs it records and named in its rollout guidance.
    /// Default: `out` beside the spec.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Read files the spec names (`identityOutputs`) outside the spec's folder and the git
    /// repository holding it.
    #[arg(long)]
    pub allow_outside_paths: bool,
}

impl Input {
    /// The output directory: `--out`, or `out` beside the spec.
    pub fn out(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| self.spec.parent().unwrap_or(Path::new("")).join("out"))
    }

    /// The output directory as shown in messages.
    pub fn out_name(&self) -> String {
        self.out().to_string_lossy().into_owned()
    }

    /// Reads, checks and resolves the spec (see [`load`]).
    pub fn load(&self) -> Result<Loaded, u8> {
        let mut loaded = load_with(&self.spec, &self.out_name(), self.allow_outside_paths)?;
        loaded.source = source_name(&self.spec, &self.out());
        Ok(loaded)
    }
}

/// A large value the command keeps to its end: left to the operating system when the process
/// exits rather than freed piece by piece (a large fleet's model and tree are hundreds of
/// thousands of allocations). Only the commands' `run` functions use it, and the process ends
/// when they return.
pub fn at_exit<T>(value: T) -> std::mem::ManuallyDrop<T> {
    std::mem::ManuallyDrop::new(value)
}

/// The spec's path as headers record it: relative to the output directory's parent, with `/`
/// separators, so the bytes never depend on the current directory or on how the path was
/// typed (`runners.yaml`, `./runners.yaml`, absolute, from another folder).
pub fn source_name(spec: &Path, out: &Path) -> String {
    let spec = crate::outdir::resolved(spec);
    let base = crate::outdir::resolved(out.parent().unwrap_or(Path::new("")));
    let (s, b): (Vec<_>, Vec<_>) = (spec.components().collect(), base.components().collect());
    let common = s.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); b.len() - common];
    parts.extend(
        s[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

impl Loaded {
    /// Lint findings (`runnergen lint`; `validate` and `render` print them as warnings): the
    /// fleet's own report, which PERMISSIONS.md also reads, never a copy of it.
    pub fn lint(&self) -> &crate::lint::Report {
        &self.fleet.lint
    }

    /// Refuses client IDs that the committed output `base` ties to another identity (E042),
    /// reporting them (exit 2); so does a base that cannot be read.
    pub fn check_identities(&self, base: &crate::outdir::Base) -> Result<(), u8> {
        let pos = |at: &str| {
            let pos = self.client_id_pos.get(at).copied();
            pos.unwrap_or(spec::yaml::Pos { line: 1, col: 1 })
        };
        match crate::identities::check(&self.fleet, base, &pos) {
            Ok(diags) if diags.is_empty() => Ok(()),
            Ok(diags) => {
                report(&self.path, &self.text, &diags);
                Err(exit::INVALID)
            }
            Err(e) => {
                stderr(&format!("error: cannot read {}: {e}\n", base.label));
                Err(exit::INVALID)
            }
        }
    }
}

/// A spec read from disk and compiled to the model, or the exit code after reporting why not.
pub struct Loaded {
    pub path: PathBuf,
    pub text: String,
    pub fleet: Fleet,
    /// The spec's path as headers record it ([`source_name`]).
    pub source: String,
    /// Where each client ID is written (`identities::check`). The source map itself is
    /// dropped once the notes, lint findings and these are placed, so the render does not
    /// carry it.
    pub client_id_pos: HashMap<String, spec::yaml::Pos>,
    pub notes: Vec<Diagnostic>,
}

impl Loaded {
    /// Prints the lint findings the way `validate` and `render` do: one line each (the full
    /// located form with `--verbose`), then where to read more. Nothing with `--quiet`.
    pub fn print_lint(&self) {
        if term::quiet() || (self.lint().findings.is_empty() && self.lint().stale.is_empty()) {
            return;
        }
        let file = self.path.display().to_string();
        let diags = self.lint().diagnostics();
        let mut err = String::new();
        if term::verbose() {
            let color = term::colour_stderr();
            err.push_str(&crate::spec::diag::render_all(
                &diags, &file, &self.text, color,
            ));
        } else {
            for d in &diags {
                let sev = if d.severity == Severity::Note {
                    "note"
                } else {
                    "warning"
                };
                err.push_str(&format!(
                    "{file}:{}:{}: {sev}[{}]: {}\n",
                    d.pos.line,
                    d.pos.col,
                    d.code,
                    spec::secrets::redact(&d.message)
                ));
            }
        }
        let (all, open) = (self.lint().findings.len(), self.lint().open());
        err.push_str(&format!(
            "{all} lint finding{} ({} acknowledged): `runnergen lint {file}` says what to do\n",
            if all == 1 { "" } else { "s" },
            all - open
        ));
        stderr(&err);
    }
}

/// Writes to standard output. A closed pipe (`| head`) or a full disk (`> /dev/full`) ends the
/// command with a message and exit 2, never a panic.
pub fn stdout(text: &str) -> Result<(), u8> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| {
            stderr(&format!("error: cannot write to standard output: {e}\n"));
            exit::INVALID
        })
}

/// A summary line for stdout, which `--quiet` leaves out.
pub fn summary(text: &str) -> Result<(), u8> {
    if term::quiet() { Ok(()) } else { stdout(text) }
}

/// Writes to standard error; when even that fails there is nobody left to tell.
pub fn stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Prints diagnostics to stderr, errors then notes, each against the spec text.
pub fn report(path: &Path, text: &str, diags: &[Diagnostic]) {
    let file = path.display().to_string();
    let color = term::colour_stderr();
    let mut err = String::new();
    let shown = diags
        .iter()
        .filter(|d| d.severity == Severity::Error || !term::quiet());
    err.push_str(&crate::spec::diag::render_all(shown, &file, text, color));
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        err.push_str(&format!(
            "error: {file}: {errors} problem{} found; nothing was written\n",
            if errors == 1 { "" } else { "s" }
        ));
    }
    stderr(&err);
}

/// Reads, checks and resolves a spec; reports and returns the exit code on failure. Files the
/// spec names stay inside its folder or git repository.
pub fn load(path: &Path, out_dir: &str) -> Result<Loaded, u8> {
    load_with(path, out_dir, false)
}

/// [`load`], reading files the spec names anywhere when `allow_outside`.
pub fn load_with(path: &Path, out_dir: &str, allow_outside: bool) -> Result<Loaded, u8> {
    let limit = spec::yaml::MAX_SPEC_BYTES as u64;
    let bytes = match files::read_bounded(path, limit) {
        Ok(b) => b,
        Err(files::ReadError::Io(e)) => {
            stderr(&format!("error: cannot read {}: {e}\n", path.display()));
            return Err(exit::INVALID);
        }
        Err(e) => {
            let d = Diagnostic::error(
                Code::E001,
                spec::yaml::Pos { line: 1, col: 1 },
                "",
                format!("the spec cannot be read: {e}"),
            )
            .hint("runnergen reads one YAML document of at most 8 MiB from a regular file");
            report(path, "", &[d]);
            return Err(exit::INVALID);
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() as u32 + 1;
            let col = good.iter().rev().take_while(|b| **b != b'\n').count() as u32 + 1;
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let d = Diagnostic::error(
                Code::E001,
                spec::yaml::Pos { line, col },
                "",
                "the spec is not UTF-8 text",
            )
            .hint("save the spec as UTF-8");
            report(path, &lossy, &[d]);
            return Err(exit::INVALID);
        }
    };
    // Files the spec names (identityOutputs) are relative to the spec's folder.
    let named = files::Named::of(path, allow_outside);
    let files = move |name: &str| named.read(name, files::MAX_OUTPUTS_BYTES);
    let resolved = match crate::compile::resolve(&text, &files) {
        Ok(r) => r,
        Err(diags) => {
            report(path, &text, &diags);
            return Err(exit::INVALID);
        }
    };
    let notes = spec::locate::report(
        &resolved.map,
        rollout::notes(&resolved.fleet, out_dir, term::verbose()),
        Vec::new(),
    );
    let client_id_pos = resolved
        .fleet
        .environments
        .iter()
        .flat_map(|e| e.identities())
        .filter_map(|i| i.identity.client_id_at.as_ref())
        .map(|at| (at.clone(), spec::pos(&resolved.map, at)))
        .collect();
    Ok(Loaded {
        path: path.to_owned(),
        text,
        fleet: resolved.fleet,
        source: path.to_string_lossy().replace('\\', "/"),
        client_id_pos,
        notes,
    })
}
