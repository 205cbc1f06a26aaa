//! The README's generated sections stay current.

use crate::common::*;

fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let start = format!("<!-- {name}:start -->\n");
    let end = format!("<!-- {name}:end -->");
    let a = text
        .find(&start)
        .unwrap_or_else(|| panic!("README has no {name} section"))
        + start.len();
    let b = text[a..].find(&end).unwrap() + a;
    &text[a..b]
}

#[test]
fn spec_reference_matches_the_schema() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let current = section(&readme, "spec-reference");
    if bless() && current != runnergen::spec::reference::markdown() {
        let updated = readme.replacen(current, &runnergen::spec::reference::markdown(), 1);
        std::fs::write(root().join("README.md"), updated).unwrap();
        return;
    }
    assert_eq!(
        current,
        runnergen::spec::reference::markdown(),
        "README spec reference is stale: paste `runnergen schema --markdown` between the markers"
    );
}

#[test]
fn every_diagnostic_code_is_documented() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut table = String::from("| code | meaning |\n|---|---|\n");
    for (code, meaning) in runnergen::spec::diag::CODES {
        table.push_str(&format!("| {code} | {meaning} |\n"));
    }
    assert_eq!(section(&readme, "codes"), table);
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
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let current = section(&readme, "lint-rules");
    let table = runnergen::lint::markdown();
    if bless() && current != table {
        let updated = readme.replacen(
            "<!-- lint-rules:start -->\n<!-- lint-rules:end -->",
            &format!("<!-- lint-rules:start -->\n{table}<!-- lint-rules:end -->"),
            1,
        );
        let updated = if updated == readme {
            readme.replacen(current, &table, 1)
        } else {
            updated
        };
        std::fs::write(root().join("README.md"), updated).unwrap();
        return;
    }
    assert_eq!(
        current, table,
        "README lint rules are stale: RUNNERGEN_BLESS=1 updates them"
    );
}

/// Editors show a field's description on hover: every field and definition of the schema has
/// one.
#[test]
fn every_field_of_the_schema_is_described() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::common::root().join("schema/runnergen.schema.json"))
            .unwrap(),
    )
    .unwrap();
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

/// The README's list of the fields `promotion.expect` takes is `PromotionField::ALL`.
#[test]
fn promotion_fields_are_the_readmes() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("The fields are ")
        .expect("README lists the promotion fields");
    let list = &readme[start..start + readme[start..].find("; an").unwrap()];
    let named: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    let fields: Vec<&str> = runnergen::spec::types::PromotionField::ALL
        .iter()
        .map(|f| f.name())
        .collect();
    assert_eq!(named, fields);
}
