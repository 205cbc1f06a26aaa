//! An audit report as text, JSON or Markdown.

use super::{Class, Finding, Report};

fn class_word(c: Class) -> &'static str {
    match c {
        Class::Beyond => "beyond",
        Class::Missing => "missing",
    }
}

fn kind_word(kind: &str) -> String {
    kind.replace('-', " ")
}

/// The findings, runner by runner, in the report's order.
fn by_runner(report: &Report) -> Vec<(String, Vec<&Finding>)> {
    let mut out: Vec<(String, Vec<&Finding>)> = Vec::new();
    for f in &report.findings {
        let key = format!("{}/{}", f.env, f.runner);
        match out.last_mut() {
            Some((k, list)) if *k == key => list.push(f),
            _ => out.push((key, vec![f])),
        }
    }
    out
}

fn summary(report: &Report) -> String {
    let n = report.runners.len();
    format!(
        "{n} runner{} audited; {} beyond the rendered output, {} missing from live state",
        if n == 1 { "" } else { "s" },
        report.beyond(),
        report.missing()
    )
}

pub fn text(report: &Report) -> String {
    let mut s = format!("Audit: live state against {}\n", report.out);
    if !report.not_run.is_empty() {
        s.push_str("\nNot checked:\n");
        for n in &report.not_run {
            s.push_str(&format!("  - {}: {}\n", n.check, n.reason));
        }
    }
    for (key, findings) in by_runner(report) {
        s.push_str(&format!("\n{key}\n"));
        for f in findings {
            let mark = if f.class == Class::Beyond { "!" } else { "-" };
            s.push_str(&format!(
                "  {mark} {:<8} {}: {}\n",
                class_word(f.class),
                kind_word(f.kind),
                f.what
            ));
        }
    }
    s.push_str(&format!("\n{}\n", summary(report)));
    s
}

pub fn json(report: &Report) -> String {
    let v = serde_json::json!({
        "out": report.out,
        "runners": report.runners,
        "not_checked": report.not_run,
        "findings": report.findings,
        "beyond": report.beyond(),
        "missing": report.missing(),
    });
    let mut s = serde_json::to_string_pretty(&v).expect("a report serialises");
    s.push('\n');
    s
}

/// Markdown: `|`, `<`, `>` and backticks of free text escaped.
fn md(text: &str) -> String {
    let mut s = String::new();
    for c in text.chars() {
        match c {
            '|' | '`' | '*' | '_' | '[' | ']' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            c => s.push(c),
        }
    }
    s
}

pub fn markdown(report: &Report) -> String {
    let mut s = format!(
        "## runnergen audit: live state against `{}`\n\n",
        report.out
    );
    if !report.not_run.is_empty() {
        s.push_str("**Not checked:**\n\n");
        for n in &report.not_run {
            s.push_str(&format!("- {}: {}\n", md(n.check), md(&n.reason)));
        }
        s.push('\n');
    }
    if !report.findings.is_empty() {
        s.push_str("| runner | finding | kind | what |\n|---|---|---|---|\n");
        for (key, findings) in by_runner(report) {
            for f in findings {
                let class = match f.class {
                    Class::Beyond => "**beyond**",
                    Class::Missing => "missing",
                };
                s.push_str(&format!(
                    "| {} | {class} | {} | {} |\n",
                    md(&key),
                    kind_word(f.kind),
                    md(&f.what)
                ));
            }
        }
        s.push('\n');
    }
    s.push_str(&format!("{}.\n", summary(report)));
    s
}
