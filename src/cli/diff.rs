//! `runnergen diff [SPEC] [--out DIR] [--from-env A --to-env B] [--format text|json|markdown]`:
//! what a change does, before it merges or before it is promoted. Writes nothing.

use super::{exit, report, stderr, stdout};
use crate::diff::{self, Changes, Report, Status};
use crate::outdir::Base;
use serde_json::Value;
use std::fmt::Write;

/// A change that widens privileges.
pub const WIDENS: u8 = 3;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  runnergen diff runners.yaml --base origin/main --format markdown\n  runnergen diff runners.yaml --from-env dev --to-env prd"
)]
pub struct Args {
    #[command(flatten)]
    pub input: super::Input,
    /// Promotion preview: the environment whose setup is promoted.
    #[arg(long, requires = "to_env")]
    pub from_env: Option<String>,
    /// Promotion preview: the environment it is promoted to.
    #[arg(long, requires = "from_env")]
    pub to_env: Option<String>,
    /// Compare with the output directory as git revision REV holds it (a merge request's
    /// base: `$CI_MERGE_REQUEST_DIFF_BASE_SHA`, `origin/main`), read through git, no checkout.
    #[arg(long, value_name = "REV", conflicts_with_all = ["base_dir", "from_env"])]
    pub base: Option<String>,
    /// Compare with DIR, an extracted copy of the committed output directory.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["from_env"])]
    pub base_dir: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn run(args: Args) -> u8 {
    let loaded = match args.input.load() {
        Ok(l) => super::at_exit(l),
        Err(code) => return code,
    };
    let mut lock = None;
    let report_ = match (&args.from_env, &args.to_env) {
        (Some(a), Some(b)) => {
            let find = |k: &str| loaded.fleet.environments.iter().find(|e| e.key == k);
            let (Some(from), Some(to)) = (find(a), find(b)) else {
                let known: Vec<&str> = loaded
                    .fleet
                    .environments
                    .iter()
                    .map(|e| e.key.as_str())
                    .collect();
                let bad = if find(a).is_none() { a } else { b };
                let hint = crate::spec::schema::did_you_mean(bad, known.iter().copied())
                    .map(|m| format!("did you mean `{m}`? "))
                    .unwrap_or_default();
                stderr(&format!(
                    "error: unknown environment `{bad}`\n  = hint: {hint}known environments: {}\n",
                    known.join(", ")
                ));
                return exit::INVALID;
            };
            diff::diff_environments(&loaded.fleet, from, to)
        }
        _ => match tree_report(&args, &loaded, &mut lock) {
            Ok(r) => r,
            Err(code) => return code,
        },
    };
    // The rollout notes `render` prints (which runners wait for a client ID, and the commands).
    report(&loaded.path, &loaded.text, &loaded.notes);
    let color = args.format == Format::Text && super::term::colour_stdout();
    let text = match args.format {
        Format::Text => text(&report_, color),
        Format::Json => json(&report_),
        Format::Markdown => markdown(&report_),
    };
    drop(lock);
    if let Err(code) = stdout(&text) {
        return code;
    }
    if report_.widens() {
        WIDENS
    } else if report_.unexpected() {
        exit::CHANGES
    } else {
        exit::OK
    }
}

/// Tree mode: what the spec renders against the committed output (`--base REV`, `--base-dir`,
/// or the output directory, read under `lock`), then the client IDs against it (E042).
fn tree_report(
    args: &Args,
    loaded: &super::Loaded,
    lock: &mut Option<crate::outdir::Lock>,
) -> Result<Report, u8> {
    let base = if let Some(rev) = &args.base {
        let out = args.input.out();
        let base = Base::from_git(rev, &out).map_err(|e| {
            stderr(&format!("error: {e}\n"));
            exit::INVALID
        })?;
        // A folder in neither the working tree nor the base revision is a typo, not a first
        // render (which has the folder here, and none at the base).
        if std::fs::symlink_metadata(&out).is_err() && base.read(crate::outdir::MANIFEST).is_none()
        {
            stderr(&format!(
                "error: {} exists neither here nor at `{rev}`\n  = hint: name the output directory with `--out` (default `out` beside the spec)\n",
                out.display()
            ));
            return Err(exit::INVALID);
        }
        base
    } else {
        let dir = args.base_dir.clone().unwrap_or_else(|| args.input.out());
        if std::fs::symlink_metadata(&dir).is_err() {
            stderr(&format!(
                "error: {} does not exist\n  = hint: render it first (`runnergen render`), name the directory to compare with `--out`, or compare with a commit: `--base REV`\n",
                dir.display()
            ));
            return Err(exit::INVALID);
        }
        *lock = super::render::open_for_reading(&dir)?;
        Base::from_dir(&dir)
    };
    // The render streams into the comparison: no tree is held whole.
    let report = match diff::diff_render(&loaded.fleet, &loaded.source, &base) {
        Ok(r) => r,
        Err(diff::DiffError::Render(e)) => return Err(super::render::render_failed(e)),
        Err(diff::DiffError::Base(e)) => {
            stderr(&format!("error: {e}\n"));
            return Err(exit::INVALID);
        }
    };
    loaded.check_identities(&base)?;
    Ok(report)
}

fn value(v: &Option<Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::Bool(true)) => "present".into(),
        Some(Value::String(s)) if s.contains('\n') => format!("<{} lines>", s.lines().count()),
        Some(Value::String(s)) => {
            // Cut long values, and say so.
            let mut cut: String = s.chars().take(100).collect();
            if cut.len() < s.len() {
                cut.push('…');
            }
            serde_json::to_string(&cut).unwrap_or_default()
        }
        Some(other) => other.to_string(),
    }
}

struct Paint(bool);

impl Paint {
    fn c(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

fn sign(s: Status) -> &'static str {
    match s {
        Status::Added => "+",
        Status::Removed => "-",
        Status::Changed => "~",
    }
}

fn summary_line(r: &Report) -> String {
    let widen = r
        .security
        .iter()
        .filter(|s| s.widens() && !s.expected)
        .count();
    let what = if r.is_promotion() { "runners" } else { "files" };
    let n = r.changes.len();
    let count = |s: Status| r.changes.count(s);
    let expected = match r.expected() {
        0 => String::new(),
        e => format!("; {e} declared as intended (`promotion` in the spec)"),
    };
    format!(
        "{n} {what} differ ({} added, {} removed, {} changed); {} security-relevant change{}, {widen} widen{} privileges{expected}",
        count(Status::Added),
        count(Status::Removed),
        count(Status::Changed),
        r.security.len(),
        if r.security.len() == 1 { "" } else { "s" },
        if widen == 1 { "s" } else { "" },
    )
}

pub fn text(r: &Report, color: bool) -> String {
    let p = Paint(color);
    let mut o = String::new();
    let title = if r.is_promotion() {
        format!(
            "Promotion preview: {} → {} (what {} would change to match {})",
            r.from, r.to, r.to, r.from
        )
    } else {
        format!("Diff: {} → what the spec renders", r.from)
    };
    let _ = writeln!(o, "{title}");
    if r.is_empty() {
        let _ = writeln!(o, "No changes.");
        return o;
    }
    if !r.security.is_empty() {
        let _ = writeln!(o, "\n{}", p.c("1", "Security-relevant changes:"));
        for s in &r.security {
            let mark = if s.expected {
                p.c("32", "  expected")
            } else if s.widens() {
                p.c("31;1", "! widens ")
            } else if s.revocation.is_some() {
                p.c("35;1", "- revoke ")
            } else {
                p.c("33", "  note   ")
            };
            let _ = writeln!(o, "  {mark} {}/{}: {}", s.environment, s.runner, s.message);
            if let Some(cmd) = &s.revocation {
                let _ = writeln!(o, "             needs revocation: {cmd}");
            }
        }
    }
    match &r.changes {
        Changes::Runners(runners) => text_runners(&mut o, r, runners),
        Changes::Files(files) => text_files(&mut o, &p, files),
    }
    let _ = writeln!(o, "\n{}", summary_line(r));
    o
}

fn text_runners(o: &mut String, r: &Report, runners: &[diff::RunnerChange]) {
    let _ = writeln!(o, "\nRunners:");
    for c in runners {
        let label = match c.status {
            Status::Added => format!("only in {}", r.from),
            Status::Removed => format!("only in {}", r.to),
            Status::Changed => "differs".into(),
        };
        let expected = if c.expected && c.fields.is_empty() {
            ", expected"
        } else {
            ""
        };
        let _ = writeln!(o, "  {} {} ({label}{expected})", sign(c.status), c.runner);
        for f in &c.fields {
            let _ = writeln!(
                o,
                "      {}: {} → {}{}",
                f.path,
                value(&f.old),
                value(&f.new),
                if f.expected { " (expected)" } else { "" }
            );
        }
    }
}

fn text_files(o: &mut String, p: &Paint, files: &[diff::FileChange]) {
    let mut last: (Option<Option<&str>>, Option<&str>) = (None, None);
    let _ = writeln!(o);
    for f in files {
        let (env, group) = (f.environment.as_deref(), f.group.as_deref());
        if Some(env) != last.0 {
            let _ = writeln!(o, "{}", p.c("1", env.unwrap_or("(top level)")));
            last = (Some(env), None);
        }
        if group != last.1 {
            if let Some(g) = group {
                let _ = writeln!(o, "  {}", p.c("1", g));
            }
            last.1 = group;
        }
        let name = f.path.rsplit('/').next().unwrap_or(&f.path);
        let code = match f.status {
            Status::Added => "32",
            Status::Removed => "31",
            Status::Changed => "33",
        };
        let _ = writeln!(o, "    {} {name}", p.c(code, sign(f.status)));
        for res in &f.resources {
            // A single-document file needs no resource line of its own.
            let indent = if res.resource == name {
                "        "
            } else {
                let _ = writeln!(o, "        {} {}", sign(res.status), res.resource);
                "            "
            };
            for fc in &res.fields {
                let _ = writeln!(
                    o,
                    "{indent}{}: {} → {}",
                    fc.path,
                    value(&fc.old),
                    value(&fc.new)
                );
            }
        }
        if f.status == Status::Changed && !f.diff.is_empty() {
            for line in f.diff.lines() {
                let line = match line.chars().next() {
                    Some('+') if !line.starts_with("+++") => p.c("32", line),
                    Some('-') if !line.starts_with("---") => p.c("31", line),
                    _ => line.to_owned(),
                };
                let _ = writeln!(o, "        {line}");
            }
        }
    }
}

pub fn json(r: &Report) -> String {
    let mut v = serde_json::to_value(r).expect("the report serializes");
    v["summary"] = serde_json::json!({
        "changes": r.changes.len(),
        "expected": r.expected(),
        "security": r.security.len(),
        "widens": r.widens(),
    });
    v["version"] = 1.into();
    crate::render::to_json(&v)
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// One table row: the leading cells, the status when it is a column of its own, and a list
/// of lines joined with `<br>`.
fn md_row(
    o: &mut String,
    lead: &str,
    status: impl Into<Option<Status>>,
    lines: impl Iterator<Item = String>,
) {
    let lines: Vec<String> = lines.collect();
    let status = status
        .into()
        .map(|s| format!(" {s:?} |"))
        .unwrap_or_default();
    let _ = writeln!(o, "| {lead} |{status} {} |", md_escape(&lines.join("<br>")));
}

/// Opens every Markdown report, so that the merge-request note script finds and updates its
/// one note instead of adding another (templates/runnergen-mr-note.sh).
pub const MARKDOWN_MARKER: &str = "<!-- runnergen-diff -->";

pub fn markdown(r: &Report) -> String {
    let mut o = format!("{MARKDOWN_MARKER}\n");
    let title = if r.is_promotion() {
        format!("Promotion preview `{}` → `{}`", r.from, r.to)
    } else {
        "runnergen diff".to_owned()
    };
    let _ = writeln!(o, "### {title}\n");
    if r.is_empty() {
        let _ = writeln!(o, "No changes.");
        return o;
    }
    if r.widens() {
        let _ = writeln!(o, "> **Warning:** this change widens privileges.\n");
    }
    let _ = writeln!(o, "{}\n", summary_line(r));
    let chart = r.flowchart();
    if !chart.is_empty() {
        let _ = writeln!(
            o,
            "#### Who can do what after this change\n\nThe runners this change touches; a thick red edge grants more than before.\n\n```mermaid\n{chart}```\n"
        );
    }
    if !r.security.is_empty() {
        let _ = writeln!(
            o,
            "#### Security-relevant changes\n\n| | environment | runner | change |\n|---|---|---|---|"
        );
        for s in &r.security {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                if s.expected {
                    "expected"
                } else if s.widens() {
                    "widens"
                } else if s.revocation.is_some() {
                    "needs revocation"
                } else {
                    "note"
                },
                s.environment,
                s.runner,
                md_escape(&match &s.revocation {
                    Some(cmd) => format!("{}<br>`{cmd}`", s.message),
                    None => s.message.clone(),
                })
            );
        }
        let _ = writeln!(o);
    }
    match &r.changes {
        Changes::Runners(runners) => markdown_runners(&mut o, runners),
        Changes::Files(files) => markdown_files(&mut o, files),
    }
    o
}

fn markdown_runners(o: &mut String, runners: &[diff::RunnerChange]) {
    let _ = writeln!(o, "| runner | status | differences |\n|---|---|---|");
    for c in runners {
        let fields = c
            .fields
            .iter()
            .map(|f| {
                format!(
                    "`{}`: {} → {}{}",
                    f.path,
                    value(&f.old),
                    value(&f.new),
                    if f.expected { " (expected)" } else { "" }
                )
            })
            .chain((c.expected && c.fields.is_empty()).then(|| "expected".to_owned()));
        md_row(o, &c.runner, c.status, fields);
    }
}

fn markdown_files(o: &mut String, files: &[diff::FileChange]) {
    let _ = writeln!(o, "| status | file | resources |\n|---|---|---|");
    for f in files {
        let res = f
            .resources
            .iter()
            .map(|x| format!("{} {}", sign(x.status), x.resource));
        md_row(o, &format!("{:?} | `{}`", f.status, f.path), None, res);
    }
    for f in files.iter().filter(|f| !f.diff.is_empty()) {
        let _ = writeln!(
            o,
            "\n<details><summary><code>{}</code></summary>\n\n```diff\n{}```\n\n</details>",
            f.path, f.diff
        );
    }
}
