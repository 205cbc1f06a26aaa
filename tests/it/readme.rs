//! The generated blocks of `docs/` are what the code generates, and the facts tied to code match
//! it.

use crate::common::*;

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
