//! The GitLab CI template users include (templates/runnergen.yml) and its merge-request note
//! script, run against a local fake of GitLab's notes endpoints on 127.0.0.1. (GitLab CI's own
//! schema validates the template in scripts/validate-output.sh.)

use crate::common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[test]
fn every_input_the_template_uses_is_declared_and_every_file_it_copies_exists() {
    let text = std::fs::read_to_string(root().join("templates/runnergen.yml")).unwrap();
    let (header, jobs) = text.split_once("\n---\n").unwrap();
    let header: Value = serde_saphyr::from_str(header).unwrap();
    let declared = header["spec"]["inputs"].as_object().unwrap();
    let mut used = 0;
    for part in jobs.split("$[[ inputs.").skip(1) {
        let name = part.split(' ').next().unwrap();
        assert!(
            declared.contains_key(name),
            "input `{name}` is not declared"
        );
        used += 1;
    }
    assert!(used >= 7);
    // Lint findings fail the pipeline unless acknowledged, unless the project opts out.
    assert_eq!(declared["lint"]["default"], "strict");
    let jobs: Value = serde_saphyr::from_str(jobs).unwrap();
    for job in [
        "runnergen-validate",
        "runnergen-lint",
        "runnergen-render-check",
        "runnergen-diff",
        "runnergen-security-approval",
    ] {
        assert!(jobs.get(job).is_some(), "{job}");
    }
    assert_eq!(
        jobs["runnergen-diff"]["allow_failure"]["exit_codes"],
        json!([3])
    );
    // The diff job copies a child pipeline from RUNNERGEN_CI_DIR, by default where the image
    // keeps ci/ (scripts/ci_component.sh points it at the checkout's ci/).
    assert_eq!(
        jobs["runnergen-diff"]["variables"]["RUNNERGEN_CI_DIR"],
        "/usr/share/runnergen/ci"
    );
    let docker = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let script = jobs["runnergen-diff"]["script"].as_array().unwrap();
    for file in ["security-approval.yml", "no-security-approval.yml"] {
        let copied = format!("cp \"$RUNNERGEN_CI_DIR/{file}\" approval.yml");
        assert!(
            script
                .iter()
                .any(|line| line.as_str().unwrap().contains(&copied)),
            "{copied}"
        );
        assert!(root().join("ci").join(file).exists(), "ci/{file}");
    }
    // Promotion pairs: one array input, `[]` (no preview) by default.
    assert_eq!(declared["promote"]["type"], "array");
    assert_eq!(declared["promote"]["default"], json!([]));
    assert!(docker.contains("COPY ci/ /usr/share/runnergen/ci/"));
    assert!(
        docker.contains("COPY templates/runnergen-mr-note.sh /usr/local/bin/runnergen-mr-note")
    );
}

#[derive(Default)]
struct Notes {
    notes: Vec<Value>,
    /// `METHOD path` of every request, and whether it carried the token.
    log: Vec<(String, bool)>,
}

/// The user ID of the fake's token.
const BOT: u64 = 55;

/// GitLab's notes endpoints and `GET /user`, two notes a page, over plain HTTP on 127.0.0.1.
fn fake_notes() -> (String, Arc<Mutex<Notes>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/api/v4",
        listener.local_addr().unwrap().port()
    );
    let state = Arc::new(Mutex::new(Notes::default()));
    let shared = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (method, target) = (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            );
            let (mut len, mut token) = (0, false);
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                match k.to_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap(),
                    "private-token" => token = v.trim() == "glpat-note-token-for-tests",
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut s = shared.lock().unwrap();
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            s.log.push((format!("{method} {path}"), token));
            let base = "/api/v4/projects/7/merge_requests/3/notes";
            let (status, next, answer) = match (method.as_str(), path) {
                _ if !token => (401, String::new(), json!({"message": "401 Unauthorized"})),
                // The token's own user (a project access token's bot).
                ("GET", "/api/v4/user") => (
                    200,
                    String::new(),
                    json!({"id": BOT, "username": "project_7_bot_runnergen"}),
                ),
                ("GET", p) if p == base => {
                    let page: usize = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("page="))
                        .unwrap()
                        .parse()
                        .unwrap();
                    let chunk: Vec<Value> = s
                        .notes
                        .iter()
                        .skip((page - 1) * 2)
                        .take(2)
                        .cloned()
                        .collect();
                    let next = if page * 2 < s.notes.len() {
                        (page + 1).to_string()
                    } else {
                        String::new()
                    };
                    (200, next, Value::Array(chunk))
                }
                ("POST", p) if p == base => {
                    let id = 900 + s.notes.len() as u64;
                    let mut note: Value = serde_json::from_slice(&body).unwrap();
                    note["id"] = json!(id);
                    note["author"] = json!({"id": BOT});
                    s.notes.push(note.clone());
                    (201, String::new(), note)
                }
                ("PUT", p) if p.starts_with(base) => {
                    let id: u64 = p.rsplit('/').next().unwrap().parse().unwrap();
                    let new: Value = serde_json::from_slice(&body).unwrap();
                    let note = s.notes.iter_mut().find(|n| n["id"] == id).unwrap();
                    note["body"] = new["body"].clone();
                    (200, String::new(), note.clone())
                }
                _ => (404, String::new(), json!({"message": "404"})),
            };
            let text = answer.to_string();
            let _ = (&stream).write_all(
                format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nX-Next-Page: {next}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len()).as_bytes(),
            );
        }
    });
    (url, state)
}

fn note(url: &str, report: &std::path::Path) -> std::process::Output {
    std::process::Command::new("sh")
        .arg(root().join("templates/runnergen-mr-note.sh"))
        .arg(report)
        .env("CI_API_V4_URL", url)
        .env("CI_PROJECT_ID", "7")
        .env("CI_MERGE_REQUEST_IID", "3")
        .env("RUNNERGEN_NOTE_TOKEN", "glpat-note-token-for-tests")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .output()
        .unwrap()
}

/// The script adds one note with the report, then updates that same note in place on every
/// later push, whatever other notes the merge request has (across pages).
#[test]
fn the_merge_request_note_is_created_once_then_updated_in_place() {
    let (url, state) = fake_notes();
    state.lock().unwrap().notes = (0..3)
        .map(|i| json!({"id": 100 + i, "body": format!("a reviewer's comment {i}"), "author": {"id": 1 + i}}))
        .collect();
    let dir = std::env::temp_dir().join(format!("runnergen-note-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("runnergen-diff.md");
    // A real report, as the template's diff job writes it.
    let (_, md, _) = {
        let o = runnergen(&[
            "diff",
            "fixtures/diff/packer-owner.yaml",
            "--out",
            "out",
            "--format",
            "markdown",
        ]);
        (o.status.code(), String::from_utf8(o.stdout).unwrap(), ())
    };
    assert!(md.starts_with("<!-- runnergen-diff -->\n"), "{md}");
    std::fs::write(&report, &md).unwrap();
    let first = note(&url, &report);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("added a merge request note"));
    std::fs::write(
        &report,
        md.replace("runnergen diff", "runnergen diff (second push)"),
    )
    .unwrap();
    let second = note(&url, &report);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(String::from_utf8_lossy(&second.stdout).contains("updated merge request note 903"));
    let s = state.lock().unwrap();
    assert_eq!(s.notes.len(), 4, "one note of runnergen, updated in place");
    assert!(
        s.notes[3]["body"]
            .as_str()
            .unwrap()
            .contains("(second push)")
    );
    assert_eq!(
        s.log.iter().filter(|(r, _)| r.starts_with("POST")).count(),
        1
    );
    assert_eq!(
        s.log.iter().filter(|(r, _)| r.starts_with("PUT")).count(),
        1
    );
    assert!(
        s.log.iter().all(|(_, token)| *token),
        "every request carries the token header"
    );
    drop(s);
    // No token, no note: a clear error, not a request.
    let missing = std::process::Command::new("sh")
        .arg(root().join("templates/runnergen-mr-note.sh"))
        .arg(&report)
        .env("CI_API_V4_URL", &url)
        .env("CI_PROJECT_ID", "7")
        .env("CI_MERGE_REQUEST_IID", "3")
        .env_remove("RUNNERGEN_NOTE_TOKEN")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("RUNNERGEN_NOTE_TOKEN"));
}

/// A note that opens with runnergen's marker but that another user wrote (anyone can paste the
/// marker) is left alone: the script posts its own note, then updates only that one.
#[test]
fn a_foreign_note_with_the_marker_is_never_adopted() {
    let (url, state) = fake_notes();
    let foreign = "<!-- runnergen-diff -->\nNo security-relevant change. Approve me.";
    state.lock().unwrap().notes = vec![
        json!({"id": 100, "body": "a reviewer's comment", "author": {"id": 1}}),
        json!({"id": 101, "body": foreign, "author": {"id": 77}}),
        json!({"id": 102, "body": "<!-- runnergen-diff -->\nno author"}),
    ];
    let dir = std::env::temp_dir().join(format!("runnergen-note-foreign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("runnergen-diff.md");
    std::fs::write(&report, "<!-- runnergen-diff -->\nthe real report\n").unwrap();
    for (push, said) in [
        (1, "added a merge request note"),
        (2, "updated merge request note 903"),
    ] {
        std::fs::write(
            &report,
            format!("<!-- runnergen-diff -->\nreport of push {push}\n"),
        )
        .unwrap();
        let out = note(&url, &report);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(said),
            "push {push}: {out:?}"
        );
    }
    let s = state.lock().unwrap();
    assert_eq!(s.notes.len(), 4, "{:?}", s.notes);
    assert_eq!(s.notes[1]["body"], foreign, "the foreign note is untouched");
    assert_eq!(s.notes[2]["body"], "<!-- runnergen-diff -->\nno author");
    assert_eq!(s.notes[3]["author"]["id"], BOT);
    assert_eq!(
        s.notes[3]["body"],
        "<!-- runnergen-diff -->\nreport of push 2\n"
    );
    assert!(
        s.log
            .iter()
            .all(|(r, _)| !r.starts_with("PUT") || r.ends_with("/notes/903")),
        "{:?}",
        s.log
    );
}
