//! Literal secrets have no place in a spec: it is committed and reviewed, and everything it
//! holds may end up in rendered output. A spec names where secrets live, never their values.

use super::diag::Diagnostic;
use super::yaml::{Located, Node};

struct Pattern {
    what: &'static str,
    found: fn(&str) -> bool,
}

fn token_after(s: &str, prefix: &str, min: usize) -> bool {
    s.match_indices(prefix).any(|(i, _)| {
        s[i + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .count()
            >= min
    })
}

/// An Azure storage account key: 64 random bytes in base64 (86 characters and `==`).
fn storage_key(s: &str) -> bool {
    s.contains("AccountKey=")
        || s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
            .any(|w| w.len() == 88 && w.ends_with("==") && !w[..86].contains('='))
}

/// GitLab token prefixes (docs.gitlab.com/security/tokens): runner authentication `glrt-`,
/// personal access `glpat-`, legacy registration `GR1348941`, deploy `gldt-`, pipeline trigger
/// `glptt-`. A prefix followed by at least 16 token characters is a token.
const GITLAB_TOKENS: &[(&str, &str)] = &[
    ("glrt-", "a GitLab runner authentication token (glrt-)"),
    ("glpat-", "a GitLab personal access token (glpat-)"),
    (
        "GR1348941",
        "a GitLab runner registration token (GR1348941)",
    ),
    ("gldt-", "a GitLab deploy token (gldt-)"),
    ("glptt-", "a GitLab pipeline trigger token (glptt-)"),
];

const PATTERNS: &[Pattern] = &[
    Pattern {
        what: "an Azure storage account key",
        found: storage_key,
    },
    Pattern {
        what: "a private key",
        found: |s| s.contains("-----BEGIN") && s.contains("PRIVATE KEY"),
    },
    Pattern {
        what: "a connection string with a shared access key",
        found: |s| s.contains("SharedAccessKey="),
    },
];

/// The first kind of secret a text looks like, if any.
pub fn looks_like_secret(s: &str) -> Option<&'static str> {
    GITLAB_TOKENS
        .iter()
        .find(|(prefix, _)| token_after(s, prefix, 16))
        .map(|(_, what)| *what)
        .or_else(|| PATTERNS.iter().find(|p| (p.found)(s)).map(|p| p.what))
}

/// Every scalar (keys included) that looks like a secret.
pub fn scan(tree: &Located) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    walk(tree, String::new(), &mut out);
    out
}

fn report(what: &str, pos: super::yaml::Pos, path: String, out: &mut Vec<Diagnostic>) {
    out.push(
        Diagnostic::error("E030", pos, path, format!("this value looks like {what}; a spec holds references, never secrets"))
            .hint("remove it, rotate it (it may already be in git history), and keep it in Key Vault: runner tokens reach the cluster through the ExternalSecret"),
    );
}

fn walk(node: &Located, path: String, out: &mut Vec<Diagnostic>) {
    match &node.node {
        Node::Str(s) => {
            if let Some(what) = looks_like_secret(s) {
                report(what, node.pos, path, out);
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}/{i}"), out);
            }
        }
        Node::Map(entries) => {
            for (kpos, k, v) in entries {
                let child = format!("{path}/{}", super::ptr_key(k));
                if let Some(what) = looks_like_secret(k) {
                    report(what, *kpos, child.clone(), out);
                }
                walk(v, child, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_secret;

    #[test]
    fn recognises_secrets() {
        assert!(looks_like_secret("glrt-t1_AbCdEfGhIjKlMnOpQrSt").is_some());
        assert!(looks_like_secret("token: glpat-AbCdEfGhIjKlMnOpQrSt").is_some());
        let key = format!("{}==", "A".repeat(86));
        assert!(looks_like_secret(&key).is_some());
        assert!(looks_like_secret("-----BEGIN RSA PRIVATE KEY-----").is_some());
    }

    #[test]
    fn leaves_references_alone() {
        assert!(looks_like_secret("gitlab-runner-ss-tf-token").is_none());
        assert!(looks_like_secret("glrt-").is_none());
        assert!(looks_like_secret("8e3af657-a8ff-443c-a75c-2fe8c4bcb635").is_none());
        assert!(looks_like_secret("https://gitlab.com/").is_none());
    }
}
