//! A fake GitLab for `runnergen register`: HTTPS on 127.0.0.1 with the test CA of tests/tls,
//! serving the runner endpoints register calls (GitLab `lib/api/ci/runners.rb`,
//! `lib/api/user_runners.rb`) with offset pagination (`X-Next-Page`), owners (`groups`,
//! `projects`, a group listing its ancestors' runners), token scopes, a latency per request, and
//! misbehaviours: a pager that never ends, a server that echoes the request in its errors.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const PAT: &str = "glpat-fake-token-for-tests-only";

#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum Misbehave {
    #[default]
    No,
    /// Every listing answers `X-Next-Page: 1`, forever.
    PageOneForever,
    /// Every error echoes the request's headers, the token among them; every call is a 400.
    EchoHeaders,
}

pub struct State {
    pub runners: BTreeMap<u64, Value>,
    pub next_id: u64,
    pub namespaces: BTreeMap<String, u64>,
    /// A group's parent group: a group lists its ancestors' runners too.
    pub parents: BTreeMap<u64, u64>,
    /// Every token the fake issued.
    pub issued: Vec<String>,
    /// Requests that change something: `METHOD path`.
    pub writes: Vec<String>,
    /// Every request: `METHOD target`.
    pub requests: Vec<String>,
    /// How many requests to answer 429 (Retry-After: 0) before serving.
    pub throttle: u32,
    pub throttled: u32,
    /// The token's scopes (GitLab `lib/gitlab/auth.rb`).
    pub scopes: Vec<&'static str>,
    /// The most runners on one page.
    pub page_size: usize,
    pub latency: Duration,
    pub misbehave: Misbehave,
}

impl Default for State {
    fn default() -> Self {
        State {
            runners: BTreeMap::new(),
            next_id: 500,
            namespaces: BTreeMap::new(),
            parents: BTreeMap::new(),
            issued: Vec::new(),
            writes: Vec::new(),
            requests: Vec::new(),
            throttle: 0,
            throttled: 0,
            scopes: vec!["read_api", "create_runner", "manage_runner"],
            page_size: 2,
            latency: Duration::ZERO,
            misbehave: Misbehave::No,
        }
    }
}

pub struct Fake {
    pub state: Arc<Mutex<State>>,
    pub url: String,
}

impl Fake {
    pub fn start() -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let state = Arc::new(Mutex::new(State::default()));
        let config = Arc::new(tls_config());
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, config) = (shared.clone(), config.clone());
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    while serve_one(&mut tls, &state).is_some() {}
                });
            }
        });
        Fake { state, url }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

fn tls_config() -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_file(root().join("tests/tls/server.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(root().join("tests/tls/server.key")).unwrap();
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap()
}

/// Reads one HTTP/1.1 request and answers it; `None` when the client is gone.
fn serve_one<S: Read + Write>(stream: &mut S, state: &Mutex<State>) -> Option<()> {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let latency = state.lock().unwrap().latency;
    std::thread::sleep(latency);
    let (status, extra, answer) = route(&method, &target, &headers, &body, state);
    let text = if answer.is_null() {
        String::new()
    } else {
        answer.to_string()
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{text}",
        text.len()
    );
    stream.write_all(response.as_bytes()).ok()?;
    stream.flush().ok()
}

fn query_num(query: &str, key: &str) -> Option<usize> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|p| p.parse().ok())
}

fn query_str<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// What GitLab answers a token without the scope a call needs (`lib/api/api_guard.rb`).
fn insufficient_scope() -> (u16, String, Value) {
    (
        403,
        String::new(),
        json!({"error": "insufficient_scope", "error_description": "The request requires higher privileges than provided by the access token.", "scope": "api read_api"}),
    )
}

/// Whether the fake's token may make this call: `manage_runner` opens `/runners/:id…`,
/// `create_runner` `POST /user/runners`, `read_api` every GET, `api` everything.
fn allowed(s: &State, method: &str, segs: &[&str]) -> bool {
    let has = |x: &str| s.scopes.contains(&x) || s.scopes.contains(&"api");
    match (method, segs) {
        (_, ["runners", id, ..]) if id.parse::<u64>().is_ok() => has("manage_runner"),
        ("POST", ["user", "runners"]) => has("create_runner"),
        ("GET", _) => has("read_api"),
        _ => has("api"),
    }
}

fn route(
    method: &str,
    target: &str,
    headers: &BTreeMap<String, String>,
    body: &Value,
    state: &Mutex<State>,
) -> (u16, String, Value) {
    let mut s = state.lock().unwrap();
    s.requests.push(format!("{method} {target}"));
    if s.misbehave == Misbehave::EchoHeaders {
        return (
            400,
            String::new(),
            json!({"message": format!("bad request, you sent {headers:?}")}),
        );
    }
    if s.throttled < s.throttle {
        s.throttled += 1;
        return (
            429,
            "Retry-After: 0\r\n".into(),
            json!({"message": "throttled"}),
        );
    }
    if headers.get("private-token").map(String::as_str) != Some(PAT) {
        return (401, String::new(), json!({"message": "401 Unauthorized"}));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = path.strip_prefix("/api/v4").unwrap_or(path);
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if !allowed(&s, method, &segs) {
        return insufficient_scope();
    }
    if method != "GET" {
        s.writes.push(format!("{method} {path}"));
    }
    match (method, segs.as_slice()) {
        ("GET", [kind @ ("groups" | "projects"), id, "runners"]) => {
            list(&s, kind, id.parse().unwrap_or(0), query)
        }
        ("GET", ["runners", id]) => match s.runners.get(&id.parse().unwrap_or(0)) {
            Some(r) => (200, String::new(), r.clone()),
            None => (404, String::new(), json!({"message": "404 Not found"})),
        },
        ("GET", [kind @ ("groups" | "projects"), encoded]) => {
            let path = encoded.replace("%2F", "/").replace("%25", "%");
            match s.namespaces.get(&format!("{kind}:{path}")) {
                Some(id) => (200, String::new(), json!({"id": id, "full_path": path})),
                None => (
                    404,
                    String::new(),
                    json!({"message": "404 Group Not Found"}),
                ),
            }
        }
        ("POST", ["user", "runners"]) => create(&mut s, body),
        ("PUT", ["runners", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let Some(r) = s.runners.get_mut(&id) else {
                return (404, String::new(), json!({"message": "404 Not found"}));
            };
            for (k, v) in body.as_object().unwrap() {
                r[k] = v.clone();
            }
            (200, String::new(), r.clone())
        }
        ("DELETE", ["runners", id]) => {
            s.runners.remove(&id.parse().unwrap_or(0));
            (204, String::new(), Value::Null)
        }
        ("POST", ["runners", id, "reset_authentication_token"]) => {
            let token = format!("glrt-rotated{id}x{}abcdefghijklmnop", s.issued.len());
            s.issued.push(token.clone());
            (
                201,
                String::new(),
                json!({"token": token, "token_expires_at": null}),
            )
        }
        _ => (
            404,
            String::new(),
            json!({"message": format!("no route {method} {path}")}),
        ),
    }
}

/// `GET /groups/:id/runners` (the group's and its ancestors' group runners) or `GET
/// /projects/:id/runners` (the project's), filtered by `type`, one page.
fn list(s: &State, kind: &str, id: u64, query: &str) -> (u16, String, Value) {
    let page = query_num(query, "page").unwrap_or(1).max(1);
    if s.misbehave == Misbehave::PageOneForever {
        let chunk: Vec<Value> = s.runners.values().take(1).map(entry).collect();
        return (200, "X-Next-Page: 1\r\n".into(), Value::Array(chunk));
    }
    let per_page = query_num(query, "per_page").unwrap_or(20).min(s.page_size);
    let mut places = vec![id];
    if kind == "groups" {
        let mut at = id;
        while let Some(p) = s.parents.get(&at) {
            places.push(*p);
            at = *p;
        }
    }
    let runner_type = query_str(query, "type");
    let all: Vec<Value> = s
        .runners
        .values()
        .filter(|r| runner_type.is_none_or(|t| r["runner_type"] == t))
        .filter(|r| {
            r[kind]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["id"].as_u64().is_some_and(|o| places.contains(&o)))
        })
        .map(entry)
        .collect();
    let chunk: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let next = if page * per_page < all.len() {
        (page + 1).to_string()
    } else {
        String::new()
    };
    (200, format!("X-Next-Page: {next}\r\n"), Value::Array(chunk))
}

/// A runner as a listing shows it (`lib/api/entities/ci/runner.rb`): no note, tags or owner.
fn entry(r: &Value) -> Value {
    json!({"id": r["id"], "description": r["description"], "paused": r["paused"], "runner_type": r["runner_type"]})
}

fn create(s: &mut State, body: &Value) -> (u16, String, Value) {
    s.next_id += 1;
    let id = s.next_id;
    let token = format!("glrt-issued{id}x{}abcdefghijklmnop", s.issued.len());
    s.issued.push(token.clone());
    let mut r = body.clone();
    r["id"] = json!(id);
    let owner = body["group_id"].as_u64().or(body["project_id"].as_u64());
    let key = if body["group_id"].is_u64() {
        "groups"
    } else {
        "projects"
    };
    r[key] = json!([{"id": owner}]);
    s.runners.insert(id, r);
    (
        201,
        String::new(),
        json!({"id": id, "token": token, "token_expires_at": null}),
    )
}
