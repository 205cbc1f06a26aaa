//! What a secret looks like: the shapes of tokens, keys, passwords and signatures, found also
//! escaped or split over lines (`hidden_secret`), and text with them taken out (`redact`).
//! `secrets` scans a spec with them, every rendered diagnostic passes through `redact`, and
//! `diff`'s masking uses them too. Nothing here reports: it sits below the diagnostics.

/// What stands for a secret in what runnergen prints.
pub const REDACTED: &str = "‹redacted›";

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

/// An Azure storage account key: 64 random bytes in base64 (86 characters and `==`), or an
/// `AccountKey=` of a connection string in any case.
fn storage_key(s: &str) -> bool {
    s.to_ascii_lowercase().contains("accountkey=")
        || s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
            .any(|w| w.len() == 88 && w.ends_with("==") && !w[..86].contains('='))
}

/// Credentials in a URL's userinfo: `scheme://user:password@host`.
fn url_userinfo(s: &str) -> bool {
    s.match_indices("://").any(|(i, _)| {
        let authority = s[i + 3..]
            .split(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .next()
            .unwrap_or_default();
        authority
            .rsplit_once('@')
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .is_some_and(|(user, password)| !user.is_empty() && !password.is_empty())
    })
}

/// The signature of a shared access signature URL or token: `sig=` with its value
/// (learn.microsoft.com storage/common/storage-sas-overview, "SAS token").
fn sas_signature(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.match_indices("sig=").any(|(i, _)| {
        (i == 0 || matches!(lower.as_bytes()[i - 1], b'?' | b'&' | b';' | b' '))
            && s[i + 4..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '%' | '+' | '/' | '='))
                .count()
                >= 16
    })
}

/// An Entra ID (Azure AD) application client secret: three characters, a digit, `Q~`, then
/// 31 to 34 more (the shape gitleaks' `azure-ad-client-secret` rule looks for).
fn entra_client_secret(s: &str) -> bool {
    let b = s.as_bytes();
    let class = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'~' | b'.' | b'-');
    s.match_indices("Q~").any(|(i, _)| {
        i >= 4
            && b[i - 1].is_ascii_digit()
            && b[i - 4..i - 1].iter().all(|c| class(*c) && *c != b'-')
            && (i == 4 || !class(b[i - 5]))
            && {
                let tail = b[i + 2..].iter().take_while(|c| class(**c)).count();
                (31..=34).contains(&tail)
            }
    })
}

/// GitLab token prefixes (docs.gitlab.com/security/token_overview, "Token prefixes"). A prefix
/// followed by at least 16 token characters is a token; an instance prefix in front (`SIE-glpat-`)
/// does not hide it.
const GITLAB_TOKENS: &[(&str, &str)] = &[
    ("glrt-", "a GitLab runner authentication token (glrt-)"),
    ("glrtr-", "a GitLab runner authentication token (glrtr-)"),
    (
        "glpat-",
        "a GitLab personal, project or group access token (glpat-)",
    ),
    (
        "GR1348941",
        "a GitLab runner registration token (GR1348941)",
    ),
    ("gldt-", "a GitLab deploy token (gldt-)"),
    ("glptt-", "a GitLab pipeline trigger token (glptt-)"),
    ("gloas-", "a GitLab OAuth application secret (gloas-)"),
    ("glagent-", "a GitLab agent for Kubernetes token (glagent-)"),
    ("glcbt-", "a GitLab CI/CD job token (glcbt-)"),
    ("glsoat-", "a GitLab SCIM token (glsoat-)"),
    ("glft-", "a GitLab feed token (glft-)"),
    ("glimt-", "a GitLab incoming mail token (glimt-)"),
    ("glffct-", "a GitLab feature flags client token (glffct-)"),
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
        found: |s| s.to_ascii_lowercase().contains("sharedaccesskey="),
    },
    Pattern {
        what: "a URL with a password",
        found: url_userinfo,
    },
    Pattern {
        what: "a shared access signature (sig=)",
        found: sas_signature,
    },
    Pattern {
        what: "an Entra ID client secret",
        found: entra_client_secret,
    },
];

/// False when no pattern can match: every pattern needs `=` (storage keys, `AccountKey=`,
/// `SharedAccessKey=`, `sig=`), `gl` or `GR` (the GitLab prefixes), `--` (`-----BEGIN`), `:/`
/// (a URL) or `Q~` (an Entra secret). One pass over the bytes, so the common case (a name, a
/// GUID, a URL without userinfo aside) costs no search per pattern.
fn may_hold_secret(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'='
            || matches!(
                (c, b.get(i + 1)),
                (b'g', Some(b'l'))
                    | (b'G', Some(b'R'))
                    | (b'-', Some(b'-'))
                    | (b':', Some(b'/'))
                    | (b'Q', Some(b'~'))
            )
    })
}

/// The first kind of secret a text looks like, if any.
pub fn looks_like_secret(s: &str) -> Option<&'static str> {
    if !may_hold_secret(s) {
        return None;
    }
    GITLAB_TOKENS
        .iter()
        .find(|(prefix, _)| token_after(s, prefix, 16))
        .map(|(_, what)| *what)
        .or_else(|| PATTERNS.iter().find(|p| (p.found)(s)).map(|p| p.what))
}

/// Decodes the escapes a secret may hide behind in YAML, JSON, TOML or a URL: `\xHH`,
/// `\uHHHH`, `\u{H…}`, `\UHHHHHHHH` and `%HH`. Anything else is kept as it is.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['\\', '%']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (digits, skip) = if let Some(t) = tail.strip_prefix("\\x") {
            (t.get(..2), 4)
        } else if let Some(t) = tail.strip_prefix("\\u{") {
            let n = t.find('}').unwrap_or(0);
            (t.get(..n), n + 4)
        } else if let Some(t) = tail.strip_prefix("\\u") {
            (t.get(..4), 6)
        } else if let Some(t) = tail.strip_prefix("\\U") {
            (t.get(..8), 10)
        } else if let Some(t) = tail.strip_prefix('%') {
            (t.get(..2), 3)
        } else {
            (None, 0)
        };
        match digits
            .filter(|d| !d.is_empty())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .and_then(char::from_u32)
        {
            Some(c) => {
                out.push(c);
                rest = &tail[skip..];
            }
            None => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a text hides, looked at as it is, with its escapes decoded, and with white space
/// removed (a token split over lines or by a folded scalar).
pub fn hidden_secret(s: &str) -> Option<&'static str> {
    // A text without escapes or white space is its own decoding and joining: looked at once.
    let unescaped = |t: &str| t.contains(['\\', '%']).then(|| unescape(t));
    looks_like_secret(s)
        .or_else(|| unescaped(s).and_then(|u| looks_like_secret(&u)))
        .or_else(|| {
            if !s.contains(char::is_whitespace) {
                return None;
            }
            let joined: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            looks_like_secret(&joined)
                .or_else(|| unescaped(&joined).and_then(|u| looks_like_secret(&u)))
        })
}

/// `text` with every word that looks like a secret (`hidden_secret`) replaced by
/// `diag::REDACTED`; a text that still holds one no single word shows (a private key's armour
/// over several words) is replaced whole but for its leading white space. What every rendered
/// diagnostic passes its message, pointer, hint and source line through.
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if hidden_secret(text).is_none() {
        return Cow::Borrowed(text);
    }
    let is_gap = |c: char| c.is_whitespace() || "\"'`,;()[]{}<>|".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if hidden_secret(word).is_some() {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_gap(c) {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    if hidden_secret(&out).is_some() {
        let lead = &text[..text.len() - text.trim_start().len()];
        return Cow::Owned(format!("{lead}{}", REDACTED));
    }
    Cow::Owned(out)
}
