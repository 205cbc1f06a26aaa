//! `runnergen register` at scale against the fake GitLab: 2,000 runners visible to the token
//! (500 of the fleet in 10 groups, 500 others in those groups, 1,000 elsewhere), 20 ms per
//! request. A run where nothing changed makes requests for the groups and their listing pages,
//! not for every runner visible; BENCHMARKS.md records the figures.

use crate::common::*;
use crate::gitlab_fake::{Fake, PAT};
use serde_json::json;
use std::time::{Duration, Instant};

const GROUPS: u64 = 10;
const FLEET: u64 = 500;

/// The fleet's registrations under `dir/out`, and the fake holding them and the others.
fn populate(fake: &Fake, dir: &std::path::Path) {
    let mut runners = Vec::new();
    for i in 0..FLEET {
        let group = 1000 + i % GROUPS;
        let reg = json!({
            "runner_type": "group_type", "group_path": format!("big/g{}", i % GROUPS),
            "description": format!("runner-{i}"), "tag_list": [format!("e1-r{i}"), "e1"],
            "run_untagged": false, "locked": false, "access_level": "not_protected",
            "paused": false, "maintenance_note": format!("managed by runnergen: big/e1/r{i}"),
            "gitlab_url": format!("{}/", fake.url),
            "token_destination": {"key_vault": "kv", "secret": format!("r{i}-token")},
        });
        let folder = dir.join(format!("out/e1/r{i}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("registration.json"), reg.to_string()).unwrap();
        let mut r = reg.clone();
        r["id"] = json!(10_000 + i);
        r["groups"] = json!([{"id": group}]);
        runners.push(r);
    }
    for i in 0..(2000 - FLEET) {
        // The first 500 share the fleet's groups; the rest are in groups of their own.
        let group = if i < 500 {
            1000 + i % GROUPS
        } else {
            2000 + i % 50
        };
        runners.push(
            json!({"id": 20_000 + i, "description": format!("other-{i}"),
            "runner_type": "group_type", "paused": false, "tag_list": ["x"],
            "maintenance_note": "someone else's", "groups": [{"id": group}]}),
        );
    }
    fake.with(|s| {
        for g in 0..GROUPS {
            s.namespaces.insert(format!("groups:big/g{g}"), 1000 + g);
        }
        for r in runners {
            s.runners.insert(r["id"].as_u64().unwrap(), r);
        }
        s.page_size = 100;
        s.latency = Duration::from_millis(20);
    });
}

fn register(dir: &std::path::Path, fake: &Fake) -> (usize, Duration, String) {
    let before = fake.with(|s| s.requests.len());
    let start = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(["register", "--dry-run"])
        .current_dir(dir)
        .env("GITLAB_TOKEN", PAT)
        .env("SSL_CERT_FILE", root().join("tests/tls/ca.pem"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    let took = start.elapsed();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(said.matches("  ok       ").count(), FLEET as usize);
    (fake.with(|s| s.requests.len()) - before, took, said)
}

#[test]
fn a_no_change_run_of_500_runners_among_2000_costs_pages_not_runners() {
    let fake = Fake::start();
    let dir = std::env::temp_dir().join(format!("runnergen-register-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    populate(&fake, &dir);
    // Cold: each group's ID and listing (one page of 100), and the details of the runners
    // listed there (the fleet's 500 and the 500 others in its groups), never the 1,000 elsewhere.
    let (cold, cold_time, _) = register(&dir, &fake);
    let pages = 2 * GROUPS as usize;
    assert_eq!(cold, pages + 1000, "cold");
    // Warm: the groups and their pages only.
    let (warm, warm_time, said) = register(&dir, &fake);
    assert_eq!(warm, pages, "warm: {said}");
    // One runner changed by hand (its description, which the listing shows): one more read.
    fake.with(|s| s.runners.get_mut(&10_007).unwrap()["description"] = json!("edited"));
    let before = fake.with(|s| s.requests.len());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnergen"))
        .args(["register", "--dry-run"])
        .current_dir(&dir)
        .env("GITLAB_TOKEN", PAT)
        .env("SSL_CERT_FILE", root().join("tests/tls/ca.pem"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a change pending");
    assert_eq!(fake.with(|s| s.requests.len()) - before, pages + 1);
    eprintln!(
        "register, 500 of 2,000 runners, 20 ms a request: cold {cold} requests in {:.2} s, \
         no change {warm} requests in {:.2} s",
        cold_time.as_secs_f64(),
        warm_time.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
