//! The one way `register` talks to GitLab: HTTPS only, bounded in every direction, and nothing
//! of an answer printed unmasked.
//!
//! - Only `https://` URLs: a registration.json saying `http://` is refused before anything is
//!   sent (`check_url`), and the agent itself is `https_only`, so no redirect or proxy can
//!   downgrade it (ureq never follows redirects here at all).
//! - Timeouts on connecting, on the answer's head and on its body, and one on the whole call;
//!   answers bounded in size (`MAX_BODY`); retries bounded in number (`ATTEMPTS`) and in the wait
//!   GitLab may ask for (`MAX_WAIT`).
//! - What an answer says is quoted only through `mask`: the access token itself and every token
//!   shape (`spec::shapes::redact`) are taken out, and it is cut short.
//! - A 401 or 403 says which token scope the call needs (`scope_needed`).
//!
//! TLS verifies against the system's trust store; `SSL_CERT_FILE` (or `SSL_CERT_DIR`) names
//! another bundle, as for a self-hosted GitLab behind a private CA (rustls-native-certs).

use serde_json::{Value, json};
use std::fmt;
use std::time::Duration;

/// A token that never shows in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why a call failed, in words for the user; never carries a token. `status` is the HTTP
/// status when GitLab answered.
#[derive(Debug)]
pub struct ApiError {
    pub status: Option<u16>,
    pub message: String,
}

impl ApiError {
    pub fn new(message: impl Into<String>) -> Self {
        ApiError {
            status: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// How many times a rate-limited or briefly unavailable call is tried.
const ATTEMPTS: u32 = 5;
/// The longest `Retry-After` honoured; longer waits end the call with an error.
const MAX_WAIT: Duration = Duration::from_secs(120);
/// The largest answer read: a page of 100 runners' details is far below it.
pub const MAX_BODY: u64 = 4 << 20;
/// The most of an error's text quoted.
const MAX_QUOTE: usize = 300;

/// One answer: its status, its `X-Next-Page` header and its JSON body.
pub struct Answer {
    pub status: u16,
    pub next_page: Option<String>,
    pub body: Value,
}

pub struct Transport {
    agent: ureq::Agent,
    /// `https://host[/prefix]/api/v4`, without a trailing slash.
    api: String,
    token: Secret,
    /// Requests sent, retries included.
    sent: std::sync::atomic::AtomicUsize,
}

/// Refuses any URL but `https://…`: the token is never sent in the clear.
pub fn check_url(url: &str) -> Result<(), String> {
    let lower = url.trim().to_ascii_lowercase();
    match lower.strip_prefix("https://") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => Err(format!(
            "gitlab_url `{}` is not an https:// URL; register sends its token over HTTPS only",
            crate::spec::shapes::redact(url)
        )),
    }
}

impl Transport {
    /// A client of the GitLab at `base_url` (with or without a trailing slash).
    pub fn new(base_url: &str, token: Secret) -> Result<Self, ApiError> {
        check_url(base_url).map_err(ApiError::new)?;
        let roots = rustls_native_certs::load_native_certs();
        let certs: Vec<ureq::tls::Certificate<'static>> = roots
            .certs
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        if certs.is_empty() {
            let why: Vec<String> = roots.errors.iter().map(|e| e.to_string()).collect();
            return Err(ApiError::new(format!(
                "no trusted certificates found (system store or SSL_CERT_FILE): {}",
                why.join("; ")
            )));
        }
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .https_only(true)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(30)))
            .timeout_global(Some(Duration::from_secs(60)))
            .max_response_header_size(64 * 1024)
            .user_agent(concat!("runnergen/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Transport {
            agent,
            api: format!("{}/api/v4", base_url.trim().trim_end_matches('/')),
            token,
            sent: Default::default(),
        })
    }

    /// How many requests were sent, retries included.
    pub fn requests(&self) -> usize {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `text` with the access token and every token shape taken out, cut to a few lines.
    pub fn mask(&self, text: &str) -> String {
        mask(text, &self.token)
    }

    /// One call, retried on 429 (honouring `Retry-After`, else backing off), on 502–504 and
    /// on a dropped connection, at most `ATTEMPTS` times.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, ApiError> {
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=ATTEMPTS {
            let mut response = match self.send(method, path, body) {
                Ok(r) => r,
                Err(ureq::Error::Io(e)) if attempt < ATTEMPTS && worth_retrying(&e) => {
                    std::thread::sleep(wait);
                    wait *= 2;
                    continue;
                }
                Err(e) => {
                    let why = self.mask(&e.to_string());
                    return Err(ApiError::new(format!("{method} {path}: {why}")));
                }
            };
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(|s| s.trim().to_owned())
            };
            if (status == 429 || (502..=504).contains(&status)) && attempt < ATTEMPTS {
                let after = header("Retry-After")
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(wait);
                if after > MAX_WAIT {
                    return Err(ApiError::new(format!(
                        "{method} {path}: rate limited; GitLab asks to wait {}s",
                        after.as_secs()
                    )));
                }
                std::thread::sleep(after);
                wait *= 2;
                continue;
            }
            let next_page = header("X-Next-Page").filter(|s| !s.is_empty());
            let body = self.read_body(method, path, status, &mut response)?;
            return Ok(Answer {
                status,
                next_page,
                body,
            });
        }
        Err(ApiError::new(format!(
            "{method} {path}: still rate limited or unavailable after {ATTEMPTS} tries"
        )))
    }

    /// Sends one request with the token in its header (never in the URL).
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = format!("{}{path}", self.api);
        let token = self.token.expose();
        let json = || body.unwrap_or(&json!({})).to_string();
        match method {
            "GET" => self.agent.get(&url).header("PRIVATE-TOKEN", token).call(),
            "DELETE" => self
                .agent
                .delete(&url)
                .header("PRIVATE-TOKEN", token)
                .call(),
            "POST" => self
                .agent
                .post(&url)
                .header("PRIVATE-TOKEN", token)
                .content_type("application/json")
                .send(json()),
            _ => self
                .agent
                .put(&url)
                .header("PRIVATE-TOKEN", token)
                .content_type("application/json")
                .send(json()),
        }
    }

    /// The response's JSON body (a string when it is not JSON), at most `MAX_BODY` bytes; an
    /// error with GitLab's message, masked, for a status outside 2xx.
    fn read_body(
        &self,
        method: &str,
        path: &str,
        status: u16,
        response: &mut ureq::http::Response<ureq::Body>,
    ) -> Result<Value, ApiError> {
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| {
                let why = self.mask(&e.to_string());
                ApiError::new(format!(
                    "{method} {path}: HTTP {status}, answer unread: {why}"
                ))
            })?;
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if (200..300).contains(&status) {
            return Ok(json);
        }
        let said = ["message", "error", "error_description"]
            .iter()
            .filter_map(|k| json.get(*k))
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(": ");
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {}", self.mask(&said))
        };
        let hint = scope_needed(method, path, status)
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        Err(ApiError {
            status: Some(status),
            message: format!("{method} {path}: HTTP {status}{said}{hint}"),
        })
    }
}

/// `text` without `token` and without any token shape, on one line, at most `MAX_QUOTE`
/// characters.
pub fn mask(text: &str, token: &Secret) -> String {
    let t = token.expose();
    let text = if t.is_empty() {
        text.to_owned()
    } else {
        text.replace(t, crate::spec::shapes::REDACTED)
    };
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let clean = crate::spec::shapes::redact(&one_line).into_owned();
    if clean.chars().count() > MAX_QUOTE {
        let cut: String = clean.chars().take(MAX_QUOTE).collect();
        format!("{cut}…")
    } else {
        clean
    }
}

/// For a 401 or 403, what the token lacks. Which scope opens which call (GitLab
/// `lib/api/ci/runners.rb`: `allow_access_with_scope :manage_runner` for `/runners/:id…`
/// only; `lib/api/user_runners.rb`: `allow_access_with_scope :create_runner` for `POST
/// /user/runners`; `lib/gitlab/auth.rb`: `read_api` reads, `api` does everything): listing
/// runners and reading groups and projects need `read_api`.
pub fn scope_needed(method: &str, path: &str, status: u16) -> Option<&'static str> {
    let runner_by_id = path
        .strip_prefix("/runners/")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    match status {
        401 => Some(
            "GITLAB_TOKEN was not accepted: unknown, expired or revoked; \
             it needs the scopes read_api, create_runner and manage_runner",
        ),
        403 if method == "POST" && path == "/user/runners" => Some(
            "the token needs the create_runner scope (or api), and its user the Owner role of \
             the group or Maintainer of the project",
        ),
        403 if runner_by_id => Some(
            "the token needs the manage_runner scope (or api), and its user the right to \
             change this runner",
        ),
        403 if method == "GET" => Some(
            "the token needs the read_api scope (or api) to list runners and read groups and \
             projects, and its user access to them",
        ),
        _ => None,
    }
}

/// A dropped or refused connection is worth another try; a certificate that is not trusted
/// (InvalidData) is not.
fn worth_retrying(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_are_accepted() {
        assert!(check_url("https://gitlab.com/").is_ok());
        assert!(check_url("HTTPS://gitlab.example/sub").is_ok());
        for bad in [
            "http://gitlab.com/",
            "gitlab.com",
            "https://",
            "ftp://x",
            "https:///x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masking_takes_out_the_token_and_token_shapes() {
        let token = Secret::new("plain-secret-without-shape".into());
        let said = mask(
            "bad token plain-secret-without-shape and glrt-abcdefghijklmnopqrstuv\nsecond line",
            &token,
        );
        assert!(!said.contains("plain-secret"), "{said}");
        assert!(!said.contains("glrt-abcdef"), "{said}");
        assert!(said.contains("second line"), "{said}");
        assert!(mask(&"x".repeat(1000), &token).chars().count() <= MAX_QUOTE + 1);
    }

    #[test]
    fn a_refusal_names_the_scope_the_call_needs() {
        assert!(
            scope_needed("GET", "/runners?type=x", 403)
                .unwrap()
                .contains("read_api")
        );
        assert!(
            scope_needed("GET", "/groups/a%2Fb", 403)
                .unwrap()
                .contains("read_api")
        );
        assert!(
            scope_needed("PUT", "/runners/5", 403)
                .unwrap()
                .contains("manage_runner")
        );
        assert!(
            scope_needed("POST", "/user/runners", 403)
                .unwrap()
                .contains("create_runner")
        );
        assert!(scope_needed("GET", "/runners/5", 404).is_none());
    }
}
