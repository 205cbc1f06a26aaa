//! Values that reach a shell, a Helm `tpl` or a template of ours are held to safe character
//! sets, and free text to printable characters, so that no spec can smuggle code into the
//! manager pod or break an artifact that `render` would then refuse.
//!
//! Where the values go (gitlab-runner chart 0.86.0, `gitlab-org/charts/gitlab-runner`):
//! - `runners.name` becomes `--name=...` in the chart's `register-the-runner` shell script,
//!   quoted with Helm's `quote`, which leaves `$(...)` and backticks alive;
//! - `runners.config` (config.toml: job image, cache names), `image.*`, `podLabels` and
//!   `deploymentLabels` go through `tpl`, which evaluates `{{ ... }}`;
//! - `gitlabUrl` is passed to the runner's `register`/`run` commands.

use super::diag::Code;
use super::problem::Ctx;
use super::types::{Runner, Spec};
use crate::facts;
use crate::names::{PLACEHOLDERS, RULES};

/// Characters of a GitLab runner name and of a runner tag: letters, digits and `._-`, plus
/// `:/` in tags (`docker:dind`, `os/linux`). No shell or template metacharacter.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn is_tag_char(c: char) -> bool {
    is_name_char(c) || matches!(c, ':' | '/')
}

/// Characters of an https URL runnergen writes into values and commands: RFC 3986 unreserved
/// characters, `:` `/` and `%`-escapes. No userinfo (`@`), query, quotes or shell syntax.
fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-' | ':' | '/' | '%')
}

/// A container image reference: `[registry[:port]/]repository[:tag][@sha256:digest]`
/// (distribution/reference grammar: lowercase path components separated by `.`, `_`, `__` or
/// `-`; a tag of at most 128 of `[A-Za-z0-9_.-]`).
pub fn is_image_reference(s: &str) -> bool {
    let (rest, digest) = match s.split_once("@sha256:") {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if digest.is_some_and(|d| d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit())) {
        return false;
    }
    // A tag is what follows the last ':' after the last '/'.
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    let tag_ok = tag.is_none_or(|t| {
        (1..=128).contains(&t.len())
            && t.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    });
    let mut parts = name.split('/').peekable();
    let first = parts.next().unwrap_or_default();
    // The first component is a registry host when more follow and it looks like one.
    let host = parts.peek().is_some()
        && (first.contains('.') || first.contains(':') || first == "localhost");
    let component = |p: &str| {
        !p.is_empty()
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
    };
    let host_ok = !host || {
        let (h, port) = first.split_once(':').unwrap_or((first, "0"));
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            && port.bytes().all(|b| b.is_ascii_digit())
            && !port.is_empty()
    };
    let path_ok = if host {
        parts.all(component)
    } else {
        component(first) && parts.all(component)
    };
    tag_ok && host_ok && path_ok && name.len() <= 255
}

/// Line breaks and other control characters, including the Unicode line separators that split
/// a YAML document for some parsers (NEL, U+2028, U+2029).
pub fn has_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

pub(super) fn check(cx: &mut Ctx, spec: &Spec) {
    // The runner name reaches the chart's registration shell script; other naming templates
    // are checked where the names go (names::RULES), and their placeholders are safe.
    for rule in RULES.iter().filter(|r| r.field == "runnerName") {
        let Some(t) = (rule.template)(&spec.naming) else {
            continue;
        };
        let literal = PLACEHOLDERS
            .iter()
            .fold(t.clone(), |s, p| s.replace(&format!("{{{p}}}"), ""));
        if let Some(c) = literal.chars().find(|c| !is_name_char(*c)) {
            cx.err(
                Code::E005,
                &format!("/naming/{}", rule.field),
                format!(
                    "`{}` may not appear in a GitLab runner name",
                    c.escape_debug()
                ),
                "use letters, digits, `.`, `_` and `-`: the chart passes the name to a shell script".into(),
            );
        }
    }
    let urls = [
        ("/gitlab/url", Some(&spec.gitlab.url)),
        ("/chart/repository", spec.chart.repository.as_ref()),
    ];
    for (p, url) in urls {
        let Some(url) = url else { continue };
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        if let Some(c) = rest.chars().find(|c| !is_url_char(*c)) {
            let hint = if c == '@' {
                "credentials never go into a URL of the spec: runnergen renders no secret".into()
            } else {
                "use the plain base URL: letters, digits, `.-_~:/` and %-escapes".into()
            };
            cx.err(
                Code::E005,
                p,
                format!("`{}` is not allowed in this URL", c.escape_debug()),
                hint,
            );
        }
    }
    // source-controller: `provider` is "supported only for Helm OCI repositories".
    if spec.chart.provider == Some(super::types::ChartProvider::Azure)
        && !spec
            .chart
            .repository
            .as_deref()
            .is_some_and(|r| r.starts_with("oci://"))
    {
        cx.err(
            Code::E005,
            "/chart/provider",
            "`provider: azure` needs an `oci://` chart repository".into(),
            "Flux signs in to a registry only for OCI Helm repositories; mirror the chart into Azure Container Registry and name it `oci://<acr>.azurecr.io/<path>`".into(),
        );
    }
    if let Some(p) = &spec.gitops.argocd_project
        && !facts::is_dns1123_subdomain(p)
    {
        cx.err(
            Code::E005,
            "/gitops/argocdProject",
            format!("`{}` is not an Argo CD project name", p.escape_debug()),
            "a DNS subdomain: lowercase letters, digits, `-` and `.`".into(),
        );
    }
    for inst in &spec.instances {
        runner(cx, &inst.at, &inst.runner);
    }
}

fn runner(cx: &mut Ctx, rp: &str, r: &Runner) {
    if has_control(&r.purpose) {
        cx.err(
            Code::E005,
            &format!("{rp}/purpose"),
            "the purpose contains a line break or control character".into(),
            "write it on one line; it becomes an Azure tag".into(),
        );
    } else if r.purpose.trim() != r.purpose || r.purpose.trim().is_empty() {
        cx.err(
            Code::E005,
            &format!("{rp}/purpose"),
            "the purpose is empty or has spaces around it".into(),
            "say in a few words what the runner is for".into(),
        );
    }
    for (i, tag) in r.tags.iter().enumerate() {
        if let Some(c) = tag.chars().find(|c| !is_tag_char(*c)) {
            cx.err(
                Code::E005,
                &format!("{rp}/tags/{i}"),
                format!(
                    "tag `{}` contains `{}`",
                    tag.escape_debug(),
                    c.escape_debug()
                ),
                "GitLab tags here are letters, digits and `._-:/`, without spaces".into(),
            );
        }
    }
    if let Some(image) = &r.job_image
        && !is_image_reference(image)
    {
        cx.err(
            Code::E005,
            &format!("{rp}/jobImage"),
            format!("`{}` is not a container image reference", image.escape_debug()),
            "write it as `[registry/]repository[:tag][@sha256:digest]`, e.g. `alpine:3.22` or `myacr.azurecr.io/tools/terraform:1.9`".into(),
        );
    }
    for (i, ra) in r.access().roles.iter().enumerate() {
        if let Some(rg) = &ra.scope.resource_group
            && !facts::is_resource_group(rg)
        {
            cx.err(
                Code::E005,
                &format!("{rp}/identity/roles/{i}/scope/resourceGroup"),
                format!("`{}` is not a resource group name", rg.escape_debug()),
                "1–90 letters, digits, `-`, `_`, `.` or parentheses, not ending in `.`".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for ok in [
            "alpine",
            "alpine:3.22",
            "library/alpine:3.22",
            "myacr.azurecr.io/tools/terraform:1.9",
            "localhost:5000/x/y:latest",
            "registry.gitlab.com/gitlab-org/gitlab-runner:alpine-v18.9.0",
            &format!("alpine@sha256:{}", "a".repeat(64)),
        ] {
            assert!(is_image_reference(ok), "{ok}");
        }
        for bad in [
            "",
            "{{ .Values.x }}",
            "alpine:{{x}}",
            "Alpine:3",
            "alpine:$(id)",
            "alpine 3",
            "alpine:",
            "a//b",
            "alpine@sha256:xyz",
            "alpine\n",
        ] {
            assert!(!is_image_reference(bad), "{bad}");
        }
    }

    #[test]
    fn control_characters() {
        assert!(has_control("a\u{0}b"));
        assert!(has_control("a\u{85}b"));
        assert!(has_control("a\u{2028}b"));
        assert!(!has_control("Runner for Terraform (prod) — ok"));
    }
}
