//! PERMISSIONS.md: what it says about each runner, and that free text cannot break it.

use crate::testing::{read, render, seed};

fn section<'a>(text: &'a str, runner: &str) -> &'a str {
    let start = text.find(&format!("## `{runner}`\n")).unwrap();
    let rest = &text[start + 4..];
    &text[start..start + 4 + rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn says_who_triggers_each_runner_and_what_it_can_do() {
    let t = seed();
    let text = t.get_str("ss/PERMISSIONS.md").unwrap();
    let tf = section(text, "tf");
    for want in [
        "Jobs of the GitLab group `ascodenl/infra`,\nfrom any branch, tag or merge request,",
        "| Owner | `/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d` |",
        "`Directory.Read.All`, `Group.Read.All`",
        "**cluster-admin** on the whole cluster",
        "pods **privileged** (root on the node)",
        "- L001 (high): runner `tf`'s identity is Owner of every subscription of the environment. **Acknowledged:** the Terraform pipelines create role assignments and RBAC, which Contributor cannot\n",
        "- L002 (high): runner `tf`'s job pods are cluster-admin. **Acknowledged:** ",
    ] {
        assert!(tf.contains(want), "{want}\n---\n{tf}");
    }
    let images = section(text, "images");
    assert!(images.contains("- no Kubernetes API access"));
    assert!(!images.contains("Owner"));
}

#[test]
fn acknowledgements_are_shown_and_escaped() {
    let text = read("fixtures/ascode/runners.yaml").replacen(
        "reason: the Terraform pipelines deploy the cluster's add-ons and their RBAC}",
        "reason: \"deploys | add-ons <b>now</b>\\n# heading *bold*\"}",
        1,
    );
    let t = crate::compile("fleet.yaml", &text).unwrap();
    let md = t.get_str("ss/PERMISSIONS.md").unwrap();
    assert!(md.contains(
        "- L002 (high): runner `tf`'s job pods are cluster-admin. **Acknowledged:** deploys \\| add-ons &lt;b&gt;now&lt;/b&gt; \\# heading \\*bold\\*\n"
    ), "{md}");
    assert!(md.contains(
        "**Acknowledged:** the Terraform pipelines create role assignments and RBAC, which Contributor cannot"
    ));
}

#[test]
fn a_namespace_access_runner_lists_its_role_without_secrets() {
    let t = render("fixtures/argocd/runners.yaml");
    let deploy = section(t.get_str("ss/PERMISSIONS.md").unwrap(), "deploy");
    assert!(deploy.contains("in namespace `gitlab-deploy-jobs` only (Role `gitlab-runner-deploy-jobs-access`), no Secrets:"));
    let job_rules =
        &deploy[deploy.find("no Secrets:").unwrap()..deploy.find("**What the manager").unwrap()];
    assert!(!job_rules.contains("`secrets`"), "{job_rules}");
}

#[test]
fn blank_lines_are_single_and_the_report_ends_in_one_newline() {
    use super::single_blank_lines as cut;
    assert_eq!(cut("a\n\n\n\nb\n\nc\nd\n\n\n"), "a\n\nb\n\nc\nd\n");
    assert_eq!(cut("a \n\n\n b  \n"), "a \n\n b\n");
    assert_eq!(cut(""), "\n");
    // A report's sections are rendered one by one; the whole still has no triple newline.
    let t = seed();
    let text = t.get_str("ss/PERMISSIONS.md").unwrap();
    assert!(
        !text.contains("\n\n\n")
            && text.ends_with('\n')
            && !text.ends_with("\n\n")
            && text.matches("\n## `").count() > 1
    );
}
