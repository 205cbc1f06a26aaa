//! Literal secrets have no place in a spec: it is committed and reviewed, and everything it
//! holds may end up in rendered output. A spec names where secrets live, never their values.

use super::diag::{Code, Diagnostic};
pub use super::shapes::{hidden_secret, looks_like_secret, redact, unescape};
use super::yaml::{Located, Node};

/// Secrets in comments: a comment is committed and reviewed like any value.
pub fn scan_comments(text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(col) = comment_start(line) else {
            continue;
        };
        if let Some(what) = hidden_secret(&line[col..]) {
            let pos = super::yaml::Pos {
                line: n as u32 + 1,
                col: line[..col].chars().count() as u32 + 1,
            };
            out.push(
                Diagnostic::error(Code::E030, pos, "", format!("this comment looks like it holds {what}; a spec holds references, never secrets"))
                    .hint("remove it, rotate it (it may already be in git history), and keep it in Key Vault")
                    .secret(),
            );
        }
    }
    out
}

/// Where a YAML comment starts on a line: a `#` at the start or after white space, outside
/// quotes.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') if prev.is_whitespace() => return Some(i),
            (None, '"' | '\'') if prev.is_whitespace() || matches!(prev, ':' | '[' | '{' | ',') => {
                quote = Some(c)
            }
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        prev = c;
    }
    None
}

/// Every scalar (keys included) that looks like a secret.
pub fn scan(tree: &Located) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    walk(tree, &mut String::new(), &mut out);
    out
}

fn report(what: &str, pos: super::yaml::Pos, path: String, out: &mut Vec<Diagnostic>) {
    out.push(
        Diagnostic::error(Code::E030, pos, path, format!("this value looks like {what}; a spec holds references, never secrets"))
            .hint("remove it, rotate it (it may already be in git history), and keep it in Key Vault: runner tokens reach the cluster through the ExternalSecret")
            .secret(),
    );
}

/// `path` is the node's JSON pointer, grown and shrunk in place on the way down and up.
fn walk(node: &Located, path: &mut String, out: &mut Vec<Diagnostic>) {
    use std::fmt::Write;
    let len = path.len();
    match &node.node {
        Node::Str(s) => {
            if let Some(what) = hidden_secret(s) {
                report(what, node.pos, path.clone(), out);
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let _ = write!(path, "/{i}");
                walk(item, path, out);
                path.truncate(len);
            }
        }
        Node::Map(entries) => {
            for (kpos, k, v) in entries {
                super::push_ptr_key(path, k);
                if let Some(what) = hidden_secret(k) {
                    report(what, *kpos, path.clone(), out);
                }
                walk(v, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a rendered diagnostic or a server's error passes through: each secret word goes,
    /// the rest stays; a secret no single word shows takes the whole text; plain text is
    /// borrowed as it is.
    #[test]
    fn redact_removes_secrets_and_keeps_the_rest() {
        let token = "glpat-Zq8RtVx3LmNp4WsKd7Hj";
        assert_eq!(
            redact(&format!("\"401 Unauthorized: {token} is revoked\"")),
            "\"401 Unauthorized: ‹redacted› is revoked\""
        );
        assert_eq!(
            redact(&format!("tags: [{token}, ss]")),
            "tags: [‹redacted›, ss]"
        );
        assert_eq!(
            redact("  -----BEGIN RSA PRIVATE KEY----- MIIE"),
            "  ‹redacted›"
        );
        assert_eq!(
            redact("url: https://ci:hunter2@gitlab.com/"),
            "url: ‹redacted›"
        );
        let plain = "runner `tf` has no identity";
        assert!(matches!(redact(plain), std::borrow::Cow::Borrowed(p) if p == plain));
    }

    #[test]
    fn recognises_secrets() {
        assert!(looks_like_secret("glrt-t1_AbCdEfGhIjKlMnOpQrSt").is_some());
        assert!(looks_like_secret("token: glpat-AbCdEfGhIjKlMnOpQrSt").is_some());
        let key = format!("{}==", "A".repeat(86));
        assert!(looks_like_secret(&key).is_some());
        assert!(looks_like_secret("-----BEGIN RSA PRIVATE KEY-----").is_some());
    }

    #[test]
    fn knows_todays_credential_shapes() {
        let t = "AbCdEfGhIjKlMnOpQrSt";
        for prefix in [
            "gloas-",
            "glagent-",
            "glcbt-",
            "glsoat-",
            "glft-",
            "glimt-",
            "gldt-",
            "glptt-",
            "SIE-glpat-",
        ] {
            assert!(
                looks_like_secret(&format!("{prefix}{t}")).is_some(),
                "{prefix}"
            );
        }
        for s in [
            "https://deploy:s3cret@gitlab.example.com/",
            "https://st.blob.core.windows.net/c?sv=2022-11-02&sr=c&sig=AbCdEfGhIjKlMnOpQrStUv%3D",
            "abc8Q~AbCdEfGhIjKlMnOpQrStUvWxYz0123456",
            "defaultendpointsprotocol=https;accountname=x;accountkey=abc",
        ] {
            assert!(looks_like_secret(s).is_some(), "{s}");
        }
        assert_eq!(unescape(r"glrt\x2dAbC"), "glrt-AbC");
        assert_eq!(unescape(r"glrt\u002dAbC"), "glrt-AbC");
        assert_eq!(unescape(r"glrt\u{2d}AbC %41"), "glrt-AbC A");
        assert!(hidden_secret(&format!(r"glrt\x2d{t}")).is_some());
        assert!(hidden_secret("glrt-AbCdEfGh\n  IjKlMnOpQrSt").is_some());
        assert!(looks_like_secret("ssh://git@gitlab.com/group/project.git").is_none());
    }

    #[test]
    fn comments_are_scanned() {
        let text = "version: 1 # token glrt-AbCdEfGhIjKlMnOpQrSt\nurl: \"https://x/#y\"\n";
        let d = scan_comments(text);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].pos.line, d[0].pos.col), (1, 12));
        assert!(scan_comments("purpose: \"a # glrt-AbCdEfGhIjKlMnOpQrSt\"\n").is_empty());
    }

    #[test]
    fn leaves_references_alone() {
        assert!(looks_like_secret("gitlab-runner-ss-tf-token").is_none());
        assert!(looks_like_secret("glrt-").is_none());
        assert!(looks_like_secret("8e3af657-a8ff-443c-a75c-2fe8c4bcb635").is_none());
        assert!(looks_like_secret("https://gitlab.com/").is_none());
    }
}
