//! `runnergen register` end to end: the binary against a fake GitLab (HTTPS on 127.0.0.1 with
//! the test CA of tests/tls, trusted through SSL_CERT_FILE) and a fake `az` on PATH that records
//! its arguments and the token files it is given.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const PAT: &str = "glpat-fake-token-for-tests-only";

#[derive(Default)]
struct State {
    runners: BTreeMap<u64, Value>,
    next_id: u64,
    namespaces: BTreeMap<String, u64>,
    /// Every token the fake issued.
    issued: Vec<String>,
    /// Requests that change something: `METHOD path`.
    writes: Vec<String>,
    /// How many requests to answer 429 (Retry-After: 0) before serving.
    throttle: u32,
    throttled: u32,
}

struct Fake {
    state: Arc<Mutex<State>>,
    url: String,
}

impl Fake {
    fn start() -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let state = Arc::new(Mutex::new(State {
            next_id: 500,
            ..Default::default()
        }));
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

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
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

fn route(
    method: &str,
    target: &str,
    headers: &BTreeMap<String, String>,
    body: &Value,
    state: &Mutex<State>,
) -> (u16, String, Value) {
    let mut s = state.lock().unwrap();
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
    if method != "GET" {
        s.writes.push(format!("{method} {path}"));
    }
    match (method, segs.as_slice()) {
        ("GET", ["runners"]) => {
            // Two per page, so that the client must follow X-Next-Page.
            let page: usize = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let all: Vec<Value> = s
                .runners
                .values()
                .map(|r| json!({"id": r["id"], "description": r["description"]}))
                .collect();
            let chunk: Vec<Value> = all.iter().skip((page - 1) * 2).take(2).cloned().collect();
            let next = if page * 2 < all.len() {
                (page + 1).to_string()
            } else {
                String::new()
            };
            (200, format!("X-Next-Page: {next}\r\n"), Value::Array(chunk))
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
        ("POST", ["user", "runners"]) => {
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

/// A scratch folder with the seed fleet rendered to `out/`, its registrations pointed at the
/// fake (one with a trailing slash, the others without), and a fake `az` in `bin/`.
fn setup(name: &str, fake: &Fake, failing_secret: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("runnergen-register-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let out = dir.join("out");
    let r = runnergen(&[
        "render",
        "fixtures/ascode/runners.yaml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0));
    for (i, runner) in ["tf", "packer", "images"].iter().enumerate() {
        let p = out.join(format!("ss/{runner}/registration.json"));
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        v["gitlab_url"] = json!(if i == 0 {
            format!("{}/", fake.url)
        } else {
            fake.url.clone()
        });
        std::fs::write(&p, v.to_string()).unwrap();
    }
    // The fake az: records its arguments, copies the token file it is given, and fails for
    // one secret name.
    let az = dir.join("bin/az");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\necho \"$@\" >> \"{log}\"\nname=''; file=''\nwhile [ $# -gt 0 ]; do case \"$1\" in --name) name=$2;; --file) file=$2;; esac; shift; done\n[ \"$name\" = '{failing_secret}' ] && {{ echo 'Forbidden' >&2; exit 1; }}\nmode=$(stat -c %a \"$file\")\n[ \"$mode\" = 600 ] || {{ echo \"token file mode $mode\" >&2; exit 1; }}\ncp \"$file\" \"{store}/$name\"\n",
            log = dir.join("az.log").display(),
            store = dir.display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    fake.with(|s| {
        s.namespaces.insert("groups:ascodenl/infra".into(), 11);
        s.namespaces.insert("groups:ascodenl/containers".into(), 12);
        s.namespaces
            .insert("projects:ascodenl/infra/base-images/azure".into(), 21);
    });
    dir
}

fn register(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .arg("register")
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("GITLAB_TOKEN", PAT)
        .env("SSL_CERT_FILE", root().join("tests/tls/ca.pem"))
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// No token the fake issued, and not the access token, appears in what runnergen printed or in
/// the arguments it gave `az`.
fn assert_no_token_leaks(dir: &Path, fake: &Fake, printed: &str) {
    let log = std::fs::read_to_string(dir.join("az.log")).unwrap_or_default();
    let mut secrets = fake.with(|s| s.issued.clone());
    secrets.push(PAT.into());
    for t in secrets {
        assert!(!printed.contains(&t), "printed a token: {printed}");
        assert!(!log.contains(&t), "a token on az's command line: {log}");
    }
}

#[test]
fn register_plans_creates_updates_prunes_and_then_changes_nothing() {
    let fake = Fake::start();
    let dir = setup("flow", &fake, "");
    fake.with(|s| {
        // Someone else's runner, a managed one no longer rendered, and packer with old tags.
        s.runners.insert(100, json!({"id": 100, "description": "not ours", "maintenance_note": "hand-made"}));
        s.runners.insert(101, json!({"id": 101, "description": "old", "maintenance_note": "managed by runnergen: ss/old", "runner_type": "group_type", "groups": [{"id": 11}]}));
        let packer: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("out/ss/packer/registration.json")).unwrap()).unwrap();
        let mut p = json!({"id": 102, "runner_type": "project_type", "projects": [{"id": 21}]});
        for k in ["description", "paused", "locked", "run_untagged", "access_level", "maintenance_note"] {
            p[k] = packer[k].clone();
        }
        p["tag_list"] = json!(["old-tag"]);
        s.runners.insert(102, p);
    });

    let (code, plan, err) = register(&dir, &["--dry-run", "--prune"]);
    assert_eq!(code, 1, "changes pending: {plan}{err}");
    for line in [
        "  would create ss/images (groups ascodenl/containers); token → Key Vault kv-weu-ss-gitlab/gitlab-runner-ss-images-token",
        "  would update ss/packer (runner 102): tag_list",
        "  would create ss/tf (groups ascodenl/infra); token → Key Vault kv-weu-ss-gitlab/gitlab-runner-ss-tf-token",
        "  would delete ss/old (runner 101)",
    ] {
        assert!(plan.contains(line), "missing `{line}` in\n{plan}");
    }
    assert!(
        fake.with(|s| s.writes.is_empty()),
        "a dry run changes nothing"
    );

    // A rate limit on the way is waited out.
    fake.with(|s| s.throttle = 2);
    let (code, done, err) = register(&dir, &["--prune"]);
    assert_eq!(code, 0, "{done}{err}");
    assert!(fake.with(|s| s.throttled) == 2);
    assert!(done.contains("  created  ss/tf (runner "), "{done}");
    assert!(
        done.contains("  updated  ss/packer (runner 102): tag_list"),
        "{done}"
    );
    assert!(done.contains("  deleted  ss/old (runner 101)"), "{done}");
    fake.with(|s| {
        assert!(
            s.runners.contains_key(&100),
            "someone else's runner is left alone"
        );
        assert!(!s.runners.contains_key(&101));
        assert_eq!(
            s.runners[&102]["tag_list"],
            json!(["weu", "packer", "ss-packer", "infra-packer-azure", "ss"])
        );
        let tf = s
            .runners
            .values()
            .find(|r| r["maintenance_note"] == "managed by runnergen: ss/tf")
            .unwrap();
        assert_eq!(tf["group_id"], 11);
        assert_eq!(tf["runner_type"], "group_type");
    });
    // Each new token went, byte for byte, to its Key Vault secret.
    let issued = fake.with(|s| s.issued.clone());
    assert_eq!(issued.len(), 2);
    let stored = std::fs::read_to_string(dir.join("gitlab-runner-ss-tf-token")).unwrap();
    assert!(
        issued.contains(&stored),
        "no newline, nothing else: {stored:?}"
    );
    assert_no_token_leaks(&dir, &fake, &format!("{plan}{done}{err}"));

    // A second run changes nothing.
    let writes = fake.with(|s| s.writes.len());
    let (code, again, err) = register(&dir, &["--prune"]);
    assert_eq!(code, 0, "{again}{err}");
    assert_eq!(fake.with(|s| s.writes.len()), writes, "{again}");
    assert_eq!(again.matches("  ok       ").count(), 3, "{again}");
    let (code, _, _) = register(&dir, &["--dry-run", "--prune"]);
    assert_eq!(code, 0, "nothing pending");

    // --rotate: a new token for each, stored.
    let (code, rotated, err) = register(&dir, &["--rotate"]);
    assert_eq!(code, 0, "{rotated}{err}");
    assert_eq!(rotated.matches("  rotated  ").count(), 3, "{rotated}");
    let stored = std::fs::read_to_string(dir.join("gitlab-runner-ss-tf-token")).unwrap();
    assert!(stored.starts_with("glrt-rotated"), "{stored}");
    assert_no_token_leaks(&dir, &fake, &format!("{rotated}{err}"));
}

#[test]
fn a_token_that_cannot_be_stored_takes_its_runner_back_and_the_others_go_on() {
    let fake = Fake::start();
    let dir = setup("fail", &fake, "gitlab-runner-ss-tf-token");
    let (code, out, err) = register(&dir, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("  FAILED   ss/tf: `az keyvault secret set` failed: Forbidden; the runner was deleted again"), "{out}");
    assert!(out.contains("  created  ss/packer"), "{out}");
    assert!(out.contains("  created  ss/images"), "{out}");
    assert!(err.contains("1 runner failed"), "{err}");
    fake.with(|s| {
        assert_eq!(s.runners.len(), 2, "tf was taken back");
        assert!(
            s.runners
                .values()
                .all(|r| r["maintenance_note"] != "managed by runnergen: ss/tf")
        );
    });
    assert_no_token_leaks(&dir, &fake, &format!("{out}{err}"));
    // No token file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("runnergen-token-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn register_refuses_without_a_token_or_a_trusted_certificate() {
    let fake = Fake::start();
    let dir = setup("refuse", &fake, "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(["register", "--dry-run"])
        .current_dir(&dir)
        .env_remove("GITLAB_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GITLAB_TOKEN is not set"));
    // Without the test CA the fake's certificate is not trusted.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(["register", "--dry-run"])
        .current_dir(&dir)
        .env("GITLAB_TOKEN", PAT)
        .env("SSL_CERT_FILE", root().join("tests/tls/server.pem"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(fake.with(|s| s.writes.is_empty()));
}
