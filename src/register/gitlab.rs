//! A small client of GitLab's runners REST API (`/api/v4`): the calls `register` makes, with
//! pagination, rate limits and errors handled. Facts: GitLab `doc/api/runners.md`,
//! `doc/api/users.md` "Create a runner linked to a user", the REST pagination and rate-limit
//! pages.
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

/// Why a call failed, in words for the user; never carries a token.
#[derive(Debug)]
pub struct ApiError(pub String);

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many times a rate-limited or briefly unavailable call is tried.
const ATTEMPTS: u32 = 5;
/// The longest `Retry-After` honoured; longer waits end the call with an error.
const MAX_WAIT: Duration = Duration::from_secs(120);

pub struct GitLab {
    agent: ureq::Agent,
    /// `https://host[/prefix]/api/v4`, without a trailing slash.
    api: String,
    token: Secret,
}

impl GitLab {
    /// A client of the GitLab at `base_url` (with or without a trailing slash).
    pub fn new(base_url: &str, token: Secret) -> Result<Self, ApiError> {
        let roots = rustls_native_certs::load_native_certs();
        let certs: Vec<ureq::tls::Certificate<'static>> = roots
            .certs
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        if certs.is_empty() {
            let why: Vec<String> = roots.errors.iter().map(|e| e.to_string()).collect();
            return Err(ApiError(format!(
                "no trusted certificates found (system store or SSL_CERT_FILE): {}",
                why.join("; ")
            )));
        }
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("runnergen/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(GitLab {
            agent,
            api: format!("{}/api/v4", base_url.trim_end_matches('/')),
            token,
        })
    }

    /// One call, retried on 429 (honouring `Retry-After`, else backing off) and on 502–504.
    /// Returns the status, the `X-Next-Page` header and the JSON body.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Option<String>, Value), ApiError> {
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            let mut response = match self.send(method, path, body) {
                Ok(r) => r,
                Err(ureq::Error::Io(e)) if attempt < ATTEMPTS && worth_retrying(&e) => {
                    std::thread::sleep(wait);
                    wait *= 2;
                    continue;
                }
                Err(e) => return Err(ApiError(format!("{method} {path}: {e}"))),
            };
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            if (status == 429 || (502..=504).contains(&status)) && attempt < ATTEMPTS {
                let after = header("Retry-After")
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(wait);
                if after > MAX_WAIT {
                    return Err(ApiError(format!(
                        "{method} {path}: rate limited; GitLab asks to wait {}s",
                        after.as_secs()
                    )));
                }
                std::thread::sleep(after);
                wait *= 2;
                continue;
            }
            let next = header("X-Next-Page").filter(|s| !s.is_empty());
            let json = read_body(method, path, status, &mut response)?;
            return Ok((status, next, json));
        }
        Err(ApiError(format!(
            "{method} {path}: still rate limited after {ATTEMPTS} tries"
        )))
    }

    /// Sends one request with the token in its header (never in the URL).
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
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

    /// Every runner the token can see (`GET /runners`), following `X-Next-Page` to the end,
    /// each with its details (`GET /runners/:id`: the list has no `maintenance_note`).
    pub fn runners_with_note(&self, prefix: &str) -> Result<Vec<Value>, ApiError> {
        let mut page = "1".to_owned();
        let mut out = Vec::new();
        loop {
            let (_, next, list) =
                self.call("GET", &format!("/runners?per_page=100&page={page}"), None)?;
            for r in list.as_array().into_iter().flatten() {
                let Some(id) = r["id"].as_u64() else { continue };
                let (_, _, details) = self.call("GET", &format!("/runners/{id}"), None)?;
                if details["maintenance_note"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
                {
                    out.push(details);
                }
            }
            match next {
                Some(n) => page = n,
                None => return Ok(out),
            }
        }
    }

    /// The numeric ID of a group or project by its full path (`/` URL-encoded as `%2F`).
    pub fn namespace_id(&self, kind: &str, path: &str) -> Result<u64, ApiError> {
        let encoded = path.replace('%', "%25").replace('/', "%2F");
        let (_, _, v) = self.call("GET", &format!("/{kind}/{encoded}"), None)?;
        v["id"]
            .as_u64()
            .ok_or_else(|| ApiError(format!("GET /{kind}/{encoded}: no id in the answer")))
    }

    /// `POST /user/runners`: the new runner's ID and its authentication token.
    pub fn create(&self, body: &Value) -> Result<(u64, Secret), ApiError> {
        let (_, _, v) = self.call("POST", "/user/runners", Some(body))?;
        match (v["id"].as_u64(), v["token"].as_str()) {
            (Some(id), Some(t)) => Ok((id, Secret::new(t.to_owned()))),
            _ => Err(ApiError(
                "POST /user/runners: no id and token in the answer".into(),
            )),
        }
    }

    /// `PUT /runners/:id` with the fields that changed.
    pub fn update(&self, id: u64, fields: &Value) -> Result<(), ApiError> {
        self.call("PUT", &format!("/runners/{id}"), Some(fields))
            .map(|_| ())
    }

    /// `DELETE /runners/:id`.
    pub fn delete(&self, id: u64) -> Result<(), ApiError> {
        self.call("DELETE", &format!("/runners/{id}"), None)
            .map(|_| ())
    }

    /// `POST /runners/:id/reset_authentication_token`: a new token; the old one stops working.
    pub fn reset_token(&self, id: u64) -> Result<Secret, ApiError> {
        let path = format!("/runners/{id}/reset_authentication_token");
        let (_, _, v) = self.call("POST", &path, None)?;
        v["token"]
            .as_str()
            .map(|t| Secret::new(t.to_owned()))
            .ok_or_else(|| ApiError(format!("POST {path}: no token in the answer")))
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

/// The response's JSON body (a string when it is not JSON); an error with GitLab's message for
/// a status outside 2xx.
fn read_body(
    method: &str,
    path: &str,
    status: u16,
    response: &mut ureq::http::Response<ureq::Body>,
) -> Result<Value, ApiError> {
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| ApiError(format!("{method} {path}: {e}")))?;
    let json = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if !(200..300).contains(&status) {
        let message = json
            .get("message")
            .or_else(|| json.get("error"))
            .map(|m| m.to_string())
            .unwrap_or_else(|| format!("HTTP {status}"));
        // A server may echo what it was sent, the token included: its words are redacted.
        let message = crate::spec::secrets::redact(&message);
        return Err(ApiError(format!(
            "{method} {path}: HTTP {status}: {message}"
        )));
    }
    Ok(json)
}
