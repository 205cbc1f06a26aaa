//! The README and `docs/` stay true: the generated blocks are what the code generates, the facts
//! tied to code match it, every relative link resolves, and the README's quick start runs.

use crate::common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The byte range between `<!-- NAME:start -->\n` and `<!-- NAME:end -->` of a file's text.
fn bounds(text: &str, file: &str, name: &str) -> (usize, usize) {
    let start = format!("<!-- {name}:start -->\n");
    let end = format!("<!-- {name}:end -->");
    let a = text
        .find(&start)
        .unwrap_or_else(|| panic!("{file} has no {name} block"))
        + start.len();
    let b = text[a..]
        .find(&end)
        .unwrap_or_else(|| panic!("{file}: the {name} block has no end marker"))
        + a;
    (a, b)
}

/// The block `name` of `file` is `want`; `RUNNERGEN_BLESS=1` rewrites a stale one.
fn generated(file: &str, name: &str, want: &str) {
    let text = read(file);
    let (a, b) = bounds(&text, file, name);
    if &text[a..b] == want {
        return;
    }
    if bless() {
        let updated = format!("{}{want}{}", &text[..a], &text[b..]);
        std::fs::write(root().join(file), updated).unwrap();
        return;
    }
    let diff = similar::TextDiff::from_lines(&text[a..b], want)
        .unified_diff()
        .header("page", "generated")
        .to_string();
    panic!("{file}: the {name} block is stale (RUNNERGEN_BLESS=1 updates it):\n{diff}");
}

#[test]
fn spec_reference_matches_the_schema() {
    generated(
        "docs/spec-reference.md",
        "spec-reference",
        &runnergen::spec::reference::markdown(),
    );
}

#[test]
fn every_diagnostic_code_is_documented() {
    let mut table = String::from("| code | meaning |\n|---|---|\n");
    for (code, meaning) in runnergen::spec::diag::CODES {
        table.push_str(&format!("| {code} | {meaning} |\n"));
    }
    generated("docs/errors.md", "codes", &table);
}

#[test]
fn every_code_in_the_corpus_is_documented() {
    let codes: Vec<&str> = runnergen::spec::diag::CODES
        .iter()
        .map(|(c, _)| c.as_str())
        .collect();
    for f in files_with_ext(&root().join("fixtures/invalid"), "expected") {
        let text = std::fs::read_to_string(&f).unwrap();
        for cap in text.split("error[").skip(1) {
            let code = &cap[..4];
            assert!(
                codes.contains(&code),
                "{}: {code} not in CODES",
                f.display()
            );
        }
    }
}

/// Every code a page names (`E001`…, `N001`…, `L001`…) is one runnergen defines.
#[test]
fn the_docs_name_only_codes_runnergen_defines() {
    let mut defined: BTreeSet<String> = runnergen::spec::diag::CODES
        .iter()
        .map(|(c, _)| c.as_str().to_owned())
        .collect();
    defined.extend(
        runnergen::findings::RULES
            .iter()
            .map(|r| r.id.as_str().to_owned()),
    );
    for (file, text) in pages() {
        let b = text.as_bytes();
        for i in 0..b.len().saturating_sub(3) {
            let code = matches!(b[i], b'E' | b'N' | b'L')
                && b[i + 1..i + 4].iter().all(u8::is_ascii_digit)
                && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
                && b.get(i + 4).is_none_or(|c| !c.is_ascii_alphanumeric());
            if code {
                let code = &text[i..i + 4];
                assert!(
                    defined.contains(code),
                    "{file} names {code}, which runnergen does not define"
                );
            }
        }
    }
}

#[test]
fn every_lint_rule_is_documented() {
    generated(
        "docs/lint-rules.md",
        "lint-rules",
        &runnergen::lint::markdown(),
    );
}

/// docs/commands.md holds each command's `--help`, and each is what the binary prints.
#[test]
fn the_commands_page_is_the_help() {
    let page = runnergen::cli::help_markdown();
    let cmd = <runnergen::cli::Cli as clap::CommandFactory>::command();
    let mut names = vec![None];
    names.extend(cmd.get_subcommands().map(|c| Some(c.get_name().to_owned())));
    for name in names {
        let mut args: Vec<&str> = name.iter().map(String::as_str).collect();
        args.push("--help");
        let out = runnergen(&args);
        assert!(out.status.success(), "{args:?}");
        let help: Vec<&str> = std::str::from_utf8(&out.stdout)
            .unwrap()
            .lines()
            .map(str::trim_end)
            .collect();
        let block = format!("```text\n{}\n```", help.join("\n").trim_end());
        assert!(
            page.contains(&block),
            "`runnergen {}` differs from help_markdown()",
            args.join(" ")
        );
    }
    generated("docs/commands.md", "commands", &page);
}

/// Editors show a field's description on hover: every field and definition of the schema has
/// one.
#[test]
fn every_field_of_the_schema_is_described() {
    let schema: serde_json::Value =
        serde_json::from_str(&read("schema/runnergen.schema.json")).unwrap();
    let mut missing = Vec::new();
    let fields = |name: &str, def: &serde_json::Value, missing: &mut Vec<String>| {
        for (field, s) in def["properties"].as_object().into_iter().flatten() {
            if s.get("description").is_none() {
                missing.push(format!("{name}.{field}"));
            }
        }
    };
    fields("(top level)", &schema, &mut missing);
    for (name, def) in schema["$defs"].as_object().unwrap() {
        fields(name, def, &mut missing);
        if def.get("description").is_none() && def.get("properties").is_none() {
            missing.push(name.clone());
        }
    }
    assert!(missing.is_empty(), "undescribed: {missing:?}");
}

/// The list of the fields `promotion.expect` takes (docs/review.md) is `PromotionField::ALL`.
#[test]
fn promotion_fields_are_the_docs() {
    let page = read("docs/review.md");
    let start = page
        .find("The fields are ")
        .expect("docs/review.md lists the promotion fields");
    let list = &page[start..start + page[start..].find("; an").unwrap()];
    let named: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    let fields: Vec<&str> = runnergen::spec::types::PromotionField::ALL
        .iter()
        .map(|f| f.name())
        .collect();
    assert_eq!(named, fields);
}

/// "Of the N mistaken specs in `fixtures/invalid/`, a plain validator refuses (or cannot read)
/// M" (docs/spec.md) is the golden list's last line, "M of N before runnergen runs".
#[test]
fn the_schema_caught_count_is_the_golden_lists() {
    let golden = read("fixtures/invalid/schema-caught.expected");
    let last = golden.lines().last().unwrap();
    let words: Vec<&str> = last.split(' ').collect();
    let (caught, all) = (words[0], words[2]);
    let page = read("docs/spec.md");
    let page = page.split_whitespace().collect::<Vec<_>>().join(" ");
    let claim = format!(
        "Of the {all} mistaken specs in `fixtures/invalid/`, a plain validator refuses (or cannot read) {caught} "
    );
    assert!(
        page.contains(&claim),
        "docs/spec.md must say: {claim}(from {last:?})"
    );
}

/// README.md, every page of docs/, CONTRIBUTING.md and ARCHITECTURE.md, with their text.
fn pages() -> Vec<(String, String)> {
    let mut files = vec![
        "README.md".to_owned(),
        "CONTRIBUTING.md".to_owned(),
        "ARCHITECTURE.md".to_owned(),
    ];
    for f in files_with_ext(&root().join("docs"), "md") {
        files.push(format!("docs/{}", f.file_name().unwrap().to_string_lossy()));
    }
    files.into_iter().map(|f| (f.clone(), read(&f))).collect()
}

/// The text outside fenced code blocks, with inline code spans blanked.
fn prose(text: &str) -> Vec<String> {
    let mut fence = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        let mut kept = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                kept.push_str(part);
            }
        }
        out.push(kept);
    }
    out
}

/// A heading's anchor as GitHub and GitLab make it: lowercase, spaces to `-`, every other
/// character but letters, digits, `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings, a repeated one numbered (`-1`, `-2`) as GitHub
/// does.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        }
        if fence || !line.starts_with('#') {
            continue;
        }
        let base = anchor(line.trim_start_matches('#'));
        let mut a = base.clone();
        let mut n = 0;
        while seen.contains(&a) {
            n += 1;
            a = format!("{base}-{n}");
        }
        seen.insert(a);
    }
    seen
}

/// The relative links `[text](target)` of a page's prose.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        let mut rest = line.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if !target.contains("://") && !target.starts_with("mailto:") {
                out.push(target.to_owned());
            }
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_resolves_to_a_file_and_a_heading() {
    let root = root().canonicalize().unwrap();
    let mut broken = Vec::new();
    let mut checked = 0;
    for (file, text) in pages() {
        let dir = root.join(&file).parent().unwrap().to_path_buf();
        for link in links(&text) {
            checked += 1;
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target: PathBuf = if path.is_empty() {
                root.join(&file)
            } else {
                dir.join(path)
            };
            let Ok(target) = target.canonicalize() else {
                broken.push(format!("{file}: {link}: no such file"));
                continue;
            };
            if !target.starts_with(&root) {
                broken.push(format!("{file}: {link}: outside the repository"));
                continue;
            }
            if fragment.is_empty() {
                continue;
            }
            if target.extension().is_none_or(|e| e != "md") {
                broken.push(format!(
                    "{file}: {link}: an anchor into a file that is not Markdown"
                ));
                continue;
            }
            let text = std::fs::read_to_string(&target).unwrap();
            if !anchors(&text).contains(fragment) {
                broken.push(format!("{file}: {link}: no heading with that anchor"));
            }
        }
    }
    assert!(checked > 50, "only {checked} links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_links_every_docs_page() {
    let targets: BTreeSet<String> = links(&read("README.md"))
        .into_iter()
        .map(|l| l.split('#').next().unwrap().to_owned())
        .collect();
    for f in files_with_ext(&root().join("docs"), "md") {
        let page = format!("docs/{}", f.file_name().unwrap().to_string_lossy());
        assert!(targets.contains(&page), "README.md does not link {page}");
    }
}

#[test]
fn the_anchor_rules_are_githubs() {
    assert_eq!(
        anchor(" Reviewing a change: `runnergen diff --base`"),
        "reviewing-a-change-runnergen-diff---base"
    );
    assert_eq!(anchor(" What `render` writes"), "what-render-writes");
    assert_eq!(
        anchor(" From the article's Terraform to runnergen"),
        "from-the-articles-terraform-to-runnergen"
    );
    let a = anchors("# A\n## B\n```\n# not a heading\n```\n## B\n");
    assert_eq!(a, ["a", "b", "b-1"].map(String::from).into());
}

/// What the quick-start test does in place of a line it cannot run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Instead {
    /// Nothing: the starter spec is valid as written.
    Nothing,
    /// The stack's outputs: a file at the line's `>` target with a client and principal ID for
    /// every output the environment's `main.json` declares (the environment from the line's
    /// `--name runnergen-<env>`).
    FakeOutputs,
    /// Uncomments the starter spec's `identityOutputs:` line.
    UncommentIdentityOutputs,
}

/// The lines of the README's quick start that the test does not run, by their start, in the
/// order they come, each with what it does instead. Every other line must be a `runnergen`
/// command (or a comment), and every entry must be used: a new line that cannot run here fails
/// the test until it is listed.
const NOT_RUN: &[(&str, Instead)] = &[
    ("$EDITOR runnergen.yaml ", Instead::Nothing), // an editor
    ("az stack sub create ", Instead::Nothing),    // deploys to Azure
    ("az stack sub show ", Instead::FakeOutputs),  // reads Azure
    ("$EDITOR runnergen.yaml ", Instead::UncommentIdentityOutputs), // an editor
];

/// The command lines of the README's blocks marked `<!-- quick-start -->`: continued lines
/// joined, comments and blank lines left out.
fn quick_start() -> Vec<String> {
    let readme = read("README.md");
    let mut lines = Vec::new();
    for part in readme.split("<!-- quick-start -->\n").skip(1) {
        let body = part
            .strip_prefix("```sh\n")
            .expect("a quick-start marker is followed by a ```sh block");
        let body = &body[..body.find("```").unwrap()];
        let body = body.replace("\\\n", " ");
        for line in body.lines() {
            let command = line.split(" #").next().unwrap().trim();
            if !command.is_empty() && !command.starts_with('#') {
                lines.push(command.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    assert!(!lines.is_empty(), "README.md has no quick-start block");
    lines
}

fn fake_outputs(dir: &Path, line: &str) {
    let words: Vec<&str> = line.split(' ').collect();
    let at = |flag: &str| words[words.iter().position(|w| *w == flag).unwrap() + 1];
    let env = at("--name")
        .strip_prefix("runnergen-")
        .expect("a stack named runnergen-<env>");
    let file = at(">");
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("out/{env}/azure/main.json"))).unwrap(),
    )
    .unwrap();
    let mut outputs = serde_json::Map::new();
    for (i, name) in template["outputs"].as_object().unwrap().keys().enumerate() {
        let value = format!("00000000-0000-4000-8000-{:012x}", 0x100 + i);
        outputs.insert(
            name.clone(),
            serde_json::json!({"type": "String", "value": value}),
        );
    }
    assert!(
        !outputs.is_empty(),
        "out/{env}/azure/main.json has no outputs"
    );
    let text = serde_json::to_string_pretty(&outputs).unwrap();
    std::fs::write(dir.join(file), text).unwrap();
}

/// A scratch folder, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The README's quick start, as written, in a scratch folder with the built binary: `init`,
/// `validate`, `render` (phase 1), then phase 2 from a fake outputs file. A command that fails
/// or prints an error fails the test, and so does a rollout that still waits at the end.
#[test]
fn the_quick_start_runs_as_written() {
    let scratch =
        std::env::temp_dir().join(format!("runnergen-quick-start-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let dir = Scratch(scratch);
    let mut not_run = NOT_RUN.iter();
    for line in quick_start() {
        if let Some(rest) = line.strip_prefix("runnergen ") {
            assert!(
                !rest.contains(['\'', '"', '|', '<', '>', '$', '&', ';']),
                "quick start: `{line}` needs a shell; keep runnergen commands plain"
            );
            let args: Vec<&str> = rest.split(' ').collect();
            let (code, stdout, stderr) = runnergen_in(dir.path(), &args);
            let error = stderr
                .lines()
                .any(|l| l.contains("error[") || l.starts_with("error"));
            assert!(
                code == 0 && !error,
                "quick start: `{line}` exited {code}:\n{stdout}{stderr}"
            );
            continue;
        }
        let Some((start, instead)) = not_run.next() else {
            panic!(
                "quick start: `{line}` cannot be run here; list it in NOT_RUN with what to do instead"
            );
        };
        assert!(
            line.starts_with(start.trim_end()),
            "quick start: `{line}` where NOT_RUN expects `{start}…`"
        );
        match instead {
            Instead::Nothing => {}
            Instead::FakeOutputs => fake_outputs(dir.path(), &line),
            Instead::UncommentIdentityOutputs => {
                let spec = dir.path().join("runnergen.yaml");
                let text = std::fs::read_to_string(&spec).unwrap();
                assert_eq!(text.matches("# identityOutputs: ").count(), 1);
                std::fs::write(
                    &spec,
                    text.replace("# identityOutputs: ", "identityOutputs: "),
                )
                .unwrap();
            }
        }
    }
    let left: Vec<_> = not_run.collect();
    assert!(
        left.is_empty(),
        "NOT_RUN lists lines the quick start no longer has: {left:?}"
    );
    // Phase 2 is complete: nothing waits, and the Kubernetes files are there.
    let (code, _, stderr) = runnergen_in(dir.path(), &["validate"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("note[N00"), "still waiting:\n{stderr}");
    for f in [
        "kustomization.yaml",
        "secret-store.yaml",
        "deploy/rbac.yaml",
    ] {
        assert!(
            dir.path().join("out/dev").join(f).is_file(),
            "no out/dev/{f}"
        );
    }
}
