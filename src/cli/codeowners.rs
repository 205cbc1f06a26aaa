//! `runnergen codeowners [SPEC] --group @security-team`: a GitLab CODEOWNERS section that
//! assigns every rendered file whose change can change a runner's privileges
//! (`layout::privilege_paths`) to the security group, so that, with Code Owner approval
//! required on the protected branch, such a change cannot merge without that group.
//!
//! GitLab's syntax (docs.gitlab.com/user/project/codeowners/reference): a `[Section]` heading,
//! then `path @owner` lines; a leading `/` anchors a path at the repository's root, a trailing
//! `/` means a folder and all it holds, `*` matches within one path segment, a space is escaped
//! with `\`.

use super::{exit, stderr, stdout};
use crate::layout;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  runnergen codeowners runners.yaml --group @acme/security >> .gitlab/CODEOWNERS"
)]
pub struct Args {
    #[command(flatten)]
    pub input: super::Input,
    /// The GitLab group (or user) that must approve a change of privileges, `@` included;
    /// repeat for several.
    #[arg(long, required = true)]
    pub group: Vec<String>,
}

/// Where CODEOWNERS may live (GitLab reads the first it finds): each is owned too, so that the
/// rule cannot be removed without the group.
const CODEOWNERS_FILES: [&str; 3] = ["CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"];

pub fn run(args: Args) -> u8 {
    if let Some(bad) = args
        .group
        .iter()
        .find(|g| !g.starts_with('@') || g.len() < 2 || g.chars().any(char::is_whitespace))
    {
        stderr(&format!(
            "error: `{bad}` is not a GitLab owner\n  = hint: name the group with its @, as CODEOWNERS does: `--group @acme/security`\n"
        ));
        return exit::INVALID;
    }
    let loaded = match args.input.load() {
        Ok(l) => l,
        Err(code) => return code,
    };
    let out = args.input.out();
    let (prefix, root) = repository_path(&out);
    let runners = loaded
        .fleet
        .environments
        .iter()
        .map(|e| {
            (
                e.key.as_str(),
                e.runners.iter().map(|r| r.key.as_str()).collect(),
            )
        })
        .collect::<Vec<(&str, Vec<&str>)>>();
    let text = section(
        &prefix,
        &runners,
        &args.group.join(" "),
        &loaded.path.display().to_string(),
        root.is_some(),
    );
    match stdout(&text) {
        Ok(()) => exit::OK,
        Err(code) => code,
    }
}

/// The CODEOWNERS section for an output directory at `prefix` (its path from the repository's
/// root) and these environments with their runners.
pub fn section(
    prefix: &str,
    environments: &[(&str, Vec<&str>)],
    owners: &str,
    spec: &str,
    in_repository: bool,
) -> String {
    let mut text = format!(
        "# runnergen: the files of {spec}'s output whose change can change a runner's privileges.\n# Regenerate with `runnergen codeowners` when environments or runners change; the `*`\n# lines cover ones added later. Code Owner approval must be required on the protected\n# branch for this to hold (runnergen docs/review.md, \"Code owners\").\n"
    );
    if !in_repository {
        text.push_str("# The output directory is in no git repository: its paths are relative to the current folder.\n");
    }
    text.push_str(&format!("[runnergen privileges] {owners}\n"));
    let line = |text: &mut String, path: &str| {
        text.push_str(&format!("/{} {owners}\n", escape(path)));
    };
    for file in CODEOWNERS_FILES {
        line(&mut text, file);
    }
    let within = |p: String| {
        if prefix.is_empty() {
            p
        } else {
            format!("{prefix}/{p}")
        }
    };
    for (env, runners) in environments {
        for p in layout::privilege_paths(env, runners.iter().copied()) {
            line(&mut text, &within(p));
        }
    }
    // Environments and runners added after this was generated.
    for p in layout::privilege_paths("*", ["*"]) {
        line(&mut text, &within(p));
    }
    text
}

/// CODEOWNERS escapes: a space or a `#` is preceded by `\`.
fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == ' ' || c == '#' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The output directory's path from the root of the git repository holding it (the nearest
/// folder with a `.git`), and that root; relative to the current folder when in none.
fn repository_path(out: &Path) -> (String, Option<PathBuf>) {
    let resolved = crate::outdir::resolved(out);
    let root = resolved
        .ancestors()
        .skip(1)
        .find(|a| a.join(".git").exists())
        .map(Path::to_owned);
    let base = root
        .clone()
        .unwrap_or_else(|| crate::outdir::resolved(Path::new(".")));
    let rel = resolved
        .strip_prefix(&base)
        .map(Path::to_owned)
        .unwrap_or_else(|_| out.to_owned());
    (
        rel.to_string_lossy()
            .replace('\\', "/")
            .trim_matches('/')
            .to_owned(),
        root,
    )
}
