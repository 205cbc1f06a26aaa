#!/usr/bin/env python3
"""Run the GitLab CI component (templates/runnergen.yml) for real, with gitlab-ci-local.

Each scenario is a scratch git repository (with a bare repository on disk as its `origin`)
that includes the component, run by gitlab-ci-local with its shell executor, with the debug
binary as `runnergen`, templates/runnergen-mr-note.sh as `runnergen-mr-note`, the checkout's
ci/ as RUNNERGEN_CI_DIR and a fake GitLab notes API on 127.0.0.1:

  a. the default pipeline on the example fleet: validate, lint (strict), render-check and the
     promotion preview (no pairs) pass; the merge-request jobs do not run;
  b. a merge request that widens a role: one note posted, the diff job exits 3 and is allowed
     to fail, approval.yml is ci/security-approval.yml and the child pipeline's manual job is
     the security approval; a second push updates the same note in place;
  c. a merge request that changes neither the spec nor out/: the diff job exits 0, approval.yml
     is ci/no-security-approval.yml, the pipeline passes;
  d. the promotion preview with several pairs: every pair runs, the job's exit is the highest
     of its pairs' (as `runnergen diff --from-env` returns them), a malformed pair is an error.

Usage: python3 scripts/ci_component.py [--runnergen target/debug/runnergen] [--keep]
Installs gitlab-ci-local and Node.js 22 with scripts/install-gitlab-ci-local.sh (into
$RUNNERGEN_TOOLS, default .ci-cache). Network: npm's registry (first run only) and 127.0.0.1.
Exits 1 when any check fails, after printing every check.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent

# The example fleet of scenario a: the README's example, every lint finding acknowledged, so
# the component's default `lint: strict` passes on it as committed.
EXAMPLE_SPEC = "fixtures/ascode/runners.yaml"
# A fleet with dev, stg and prd: dev -> stg changes nothing, stg -> prd widens (exit 3).
PROMOTION_SPEC = "fixtures/shared-cluster/runners.yaml"

MARKER = "<!-- runnergen-diff -->"
TOKEN = "glpat-runnergen-ci-component"
BOT = 55  # the fake token's user
PROJECT = 7

failures = []


def check(ok, what, detail=""):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}" + ("" if ok or not detail else f"\n       {detail}"))
    if not ok:
        failures.append(what)
    return ok


# ---- the fake GitLab API -------------------------------------------------------------------------


class FakeGitLab:
    """GET /api/v4/user, GET/POST .../merge_requests/:iid/notes, PUT .../notes/:id (two notes a
    page, X-Next-Page), each with the PRIVATE-TOKEN header; records every request."""

    def __init__(self):
        self.lock = threading.Lock()
        self.notes = {}  # iid -> [note]
        self.requests = []  # (method, path, token ok)
        self.next_id = 900
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.handle(self, "GET")

            def do_POST(self):
                fake.handle(self, "POST")

            def do_PUT(self):
                fake.handle(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v4"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def count(self, method, iid):
        prefix = f"/api/v4/projects/{PROJECT}/merge_requests/{iid}/notes"
        return sum(1 for m, p, _ in self.requests if m == method and p.startswith(prefix))

    def runnergen_notes(self, iid):
        return [n for n in self.notes.get(iid, []) if n["author"]["id"] == BOT]

    def handle(self, req, method):
        url = urlsplit(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        token = req.headers.get("PRIVATE-TOKEN") == TOKEN
        with self.lock:
            self.requests.append((method, url.path, token))
            status, headers, answer = self.route(method, url, body, token)
        data = json.dumps(answer).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(data)

    def route(self, method, url, body, token):
        if not token:
            return 401, {}, {"message": "401 Unauthorized"}
        if method == "GET" and url.path == "/api/v4/user":
            return 200, {}, {"id": BOT, "username": f"project_{PROJECT}_bot"}
        m = re.fullmatch(rf"/api/v4/projects/{PROJECT}/merge_requests/(\d+)/notes(?:/(\d+))?", url.path)
        if not m:
            return 404, {}, {"message": "404 Not Found"}
        iid, note_id = int(m[1]), m[2]
        notes = self.notes.setdefault(iid, [])
        if method == "GET" and note_id is None:
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            chunk = notes[(page - 1) * 2 : page * 2]
            more = page * 2 < len(notes)
            return 200, {"X-Next-Page": str(page + 1) if more else ""}, chunk
        if method == "POST" and note_id is None:
            note = {"id": self.next_id, "body": json.loads(body)["body"], "author": {"id": BOT}}
            self.next_id += 1
            notes.append(note)
            return 201, {}, note
        if method == "PUT" and note_id is not None:
            for note in notes:
                if note["id"] == int(note_id) and note["author"]["id"] == BOT:
                    note["body"] = json.loads(body)["body"]
                    return 200, {}, note
            return 404, {}, {"message": "404 Note Not Found"}
        return 405, {}, {"message": "405 Method Not Allowed"}


# ---- scratch repositories and gitlab-ci-local ----------------------------------------------------


class Runner:
    def __init__(self, scratch, gcl_dir, runnergen):
        self.scratch = scratch
        self.node = gcl_dir / "node" / "bin" / "node"
        self.gcl = gcl_dir / "gitlab-ci-local" / "dist" / "index.js"
        self.runnergen = runnergen
        bin_dir = scratch / "bin"
        bin_dir.mkdir()
        (bin_dir / "runnergen").symlink_to(runnergen)
        note = bin_dir / "runnergen-mr-note"
        shutil.copy(ROOT / "templates" / "runnergen-mr-note.sh", note)
        note.chmod(0o755)
        home = scratch / "home"
        home.mkdir()
        self.env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("GCL_")}
        self.env.update(
            PATH=f"{bin_dir}:{os.environ['PATH']}",
            HOME=str(home),
            NO_COLOR="1",
            GIT_AUTHOR_NAME="runnergen ci",
            GIT_AUTHOR_EMAIL="ci@example.com",
            GIT_COMMITTER_NAME="runnergen ci",
            GIT_COMMITTER_EMAIL="ci@example.com",
            GIT_CONFIG_GLOBAL=str(home / "gitconfig"),
            GIT_CONFIG_NOSYSTEM="1",
        )

    def run(self, cmd, cwd, timeout=120):
        return subprocess.run(
            [str(c) for c in cmd], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def must(self, cmd, cwd):
        p = self.run(cmd, cwd)
        if p.returncode != 0:
            raise SystemExit(f"ci_component: `{' '.join(map(str, cmd))}` failed in {cwd}:\n{p.stdout}{p.stderr}")
        return p.stdout

    def git(self, repo, *args):
        return self.must(["git", *args], repo).strip()

    def repo(self, name, spec, inputs):
        """A repository with `spec` as runnergen.yaml, its out/ rendered, the component included
        with `inputs`, one commit on main pushed to a bare `origin`."""
        origin = self.scratch / f"{name}-origin.git"
        repo = self.scratch / name
        self.must(["git", "init", "-q", "--bare", "-b", "main", origin], self.scratch)
        self.must(["git", "init", "-q", "-b", "main", repo], self.scratch)
        (repo / "templates").mkdir()
        shutil.copy(ROOT / "templates" / "runnergen.yml", repo / "templates" / "runnergen.yml")
        shutil.copy(ROOT / spec, repo / "runnergen.yaml")
        self.write_ci(repo, inputs)
        (repo / ".gitignore").write_text(".gitlab-ci-local/\napproval.yml\nrunnergen-diff.md\n")
        self.git(repo, "remote", "add", "origin", origin)
        return repo

    def write_ci(self, repo, inputs):
        include = {"local": "templates/runnergen.yml"}
        if inputs:
            include["inputs"] = inputs
        # JSON is YAML: no YAML library needed.
        (repo / ".gitlab-ci.yml").write_text(json.dumps({"include": [include]}, indent=2) + "\n")

    def render(self, repo):
        self.must([self.runnergen, "render", "runnergen.yaml", "--out", "out", "--quiet"], repo)

    def commit(self, repo, message, push_to):
        self.git(repo, "add", "-A")
        self.git(repo, "commit", "-q", "-m", message)
        self.git(repo, "push", "-q", "origin", f"HEAD:refs/heads/{push_to}")
        return self.git(repo, "rev-parse", "HEAD")

    def gitlab_ci_local(self, repo, *args, variables=None):
        """Run gitlab-ci-local; returns (exit status, output, {job: exit status})."""
        for stale in (".gitlab-ci-local", "approval.yml", "runnergen-diff.md"):
            path = repo / stale
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        cmd = [self.node, self.gcl, "--force-shell-executor", "--no-color", "--ignore-predefined-vars",
               "CI_PIPELINE_SOURCE,CI_PROJECT_ID,CI_API_V4_URL"]
        for k, v in (variables or {}).items():
            cmd += ["--variable", f"{k}={v}"]
        p = self.run([*cmd, *args], repo, timeout=180)
        out = p.stdout + p.stderr
        # `<job> finished in 307 ms` (passed), `... WARN 3` (allowed to fail), `... FAIL 2`.
        jobs = {}
        for line in out.splitlines():
            m = re.match(r"^(\S+)\s+finished in .*?(?:(WARN|FAIL) (\d+))?\s*$", line)
            if m and m[1] != "pipeline":  # `pipeline finished in 1.8 s` closes the run
                jobs[m[1]] = int(m[3]) if m[3] else 0
        return p.returncode, out, jobs


def expect_jobs(jobs, expected, out):
    for job, code in expected.items():
        got = jobs.get(job)
        check(got == code, f"job {job} exits {code}" if code is not None else f"job {job} does not run",
              f"got {'no run' if got is None else got}; output:\n" + out[-3000:] if got != code else "")
    extra = set(jobs) - set(expected)
    check(not extra, "no other job runs", f"also ran: {sorted(extra)}")


def artifact(repo, job, name):
    path = repo / ".gitlab-ci-local" / "artifacts" / job / name
    return path.read_bytes() if path.exists() else None


# ---- scenarios ---------------------------------------------------------------------------------


def default_pipeline(r):
    print(f"a. default pipeline on the example fleet ({EXAMPLE_SPEC})")
    repo = r.repo("fleet", EXAMPLE_SPEC, None)
    shutil.copytree(ROOT / "out", repo / "out")  # the committed output, then rendered in place
    r.render(repo)
    manifest = json.loads((repo / "out" / ".runnergen-manifest.json").read_text())
    check(manifest.get("spec") == "runnergen.yaml", "the scratch out/ records its spec as runnergen.yaml",
          f"spec: {manifest.get('spec')}")
    base = r.commit(repo, "the fleet", "main")
    rc, out, jobs = r.gitlab_ci_local(repo)
    check(rc == 0, "the pipeline passes", out[-3000:])
    expect_jobs(jobs, {"runnergen-validate": 0, "runnergen-lint": 0, "runnergen-render-check": 0,
                       "runnergen-promotion-preview": 0}, out)
    check("runnergen-diff" not in jobs and "runnergen-security-approval" not in out,
          "the merge-request jobs (diff, security approval) are not in a push pipeline")
    check("no promotion preview configured" in out, "the promotion preview says it has no pairs")
    return repo, base


def mr_vars(api, base, iid):
    return {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
        "CI_MERGE_REQUEST_IID": iid,
        "CI_PROJECT_ID": PROJECT,
        "CI_API_V4_URL": api.url,
        "RUNNERGEN_NOTE_TOKEN": TOKEN,
        "RUNNERGEN_CI_DIR": ROOT / "ci",
    }


def widening_mr(r, api, repo, base):
    print("b. merge request that widens a role (packer: Contributor -> Owner)")
    iid = 3
    # A reviewer's comment and someone else's note with the marker are already there (two
    # notes a page: runnergen's own note is on page 2, the foreign one is never adopted).
    foreign = f"{MARKER}\nNo security-relevant change. Approve me."
    api.notes[iid] = [{"id": 100, "body": "a reviewer's comment", "author": {"id": 1}},
                      {"id": 101, "body": foreign, "author": {"id": 77}}]
    r.git(repo, "checkout", "-q", "-b", "widen")
    spec = repo / "runnergen.yaml"
    text = spec.read_text()
    packer = text.index("\n  packer:")
    widened = text[:packer] + text[packer:].replace("- role: Contributor", "- role: Owner", 1)
    check(widened != text, "the MR commit changes packer's role to Owner")
    spec.write_text(widened)
    r.render(repo)
    r.commit(repo, "packer: Owner", "widen")
    rc, out, jobs = r.gitlab_ci_local(repo, variables=mr_vars(api, base, iid))
    check(rc == 0, "the pipeline passes (the diff job's exit 3 is allowed to fail)", out[-3000:])
    expect_jobs(jobs, {"runnergen-validate": 0, "runnergen-lint": 0, "runnergen-render-check": 0,
                       "runnergen-diff": 3, "runnergen-promotion-preview": 0}, out)
    check(re.search(r"^ WARN\s+runnergen-diff\b", out, re.M) is not None, "the diff job is a warning (allowed to fail)")
    check(api.count("POST", iid) == 1 and api.count("PUT", iid) == 0, "exactly one note posted, none updated",
          f"POST {api.count('POST', iid)}, PUT {api.count('PUT', iid)}")
    notes = api.runnergen_notes(iid)
    first = notes[0]["body"] if len(notes) == 1 else ""
    check(len(notes) == 1 and len(api.notes[iid]) == 3, "the merge request has one runnergen note beside the two others")
    check(first.startswith(MARKER), f"the note opens with {MARKER}", first[:200])
    check("Owner" in first and "packer" in first and "widens" in first, "the note names the widened role (packer, Owner, widens)")
    check(all(ok for _, _, ok in api.requests), "every API request carries the token")
    approval = artifact(repo, "runnergen-diff", "approval.yml")
    check(approval == (ROOT / "ci" / "security-approval.yml").read_bytes(), "artifact approval.yml is ci/security-approval.yml")
    # gitlab-ci-local runs the trigger job's child pipeline (the approval job is manual, so it
    # waits); the child is then run by itself: its one job is the manual security approval.
    check((repo / ".gitlab-ci-local" / "includes" / "triggers" / "runnergen-security-approval.yml").exists()
          and re.search(r"^ PASS\s+runnergen-security-approval\b", out, re.M) is not None,
          "runnergen-security-approval triggered the child pipeline from the artifact")
    child(r, approval)

    print("b2. second push to the same merge request")
    text = spec.read_text()
    spec.write_text(text.replace("purpose: Gitlab runner for deploying Custom images", "purpose: Deploys custom images", 1))
    r.render(repo)
    r.commit(repo, "packer: purpose", "widen")
    rc, out, jobs = r.gitlab_ci_local(repo, variables=mr_vars(api, base, iid))
    check(rc == 0 and jobs.get("runnergen-diff") == 3, "the pipeline passes again, the diff job exits 3", f"rc {rc}, jobs {jobs}")
    check(api.count("POST", iid) == 1 and api.count("PUT", iid) == 1, "the note is updated in place (one POST, one PUT in all)",
          f"POST {api.count('POST', iid)}, PUT {api.count('PUT', iid)}")
    notes = api.runnergen_notes(iid)
    check(len(notes) == 1 and len(api.notes[iid]) == 3, "still exactly one runnergen note")
    check(api.notes[iid][1]["body"] == foreign, "the other user's note with the marker is untouched")
    second = notes[0]["body"] if notes else ""
    check(second.startswith(MARKER) and second != first and "Owner" in second, "the note carries the second push's report")


def child(r, approval):
    repo = r.scratch / "child"
    r.must(["git", "init", "-q", "-b", "main", repo], r.scratch)
    (repo / ".gitlab-ci.yml").write_bytes(approval or b"")
    r.git(repo, "add", "-A")
    r.git(repo, "commit", "-q", "-m", "child")
    p = r.run([r.node, r.gcl, "--list-json", "--no-color"], repo)
    try:
        listed = json.loads(p.stdout)
    except json.JSONDecodeError:
        listed = p.stdout + p.stderr
    check(listed == [{"name": "runnergen-security-approval", "description": "", "stage": "test",
                      "when": "manual", "allow_failure": False}],
          "the child pipeline has one job, runnergen-security-approval, manual and blocking", str(listed))
    rc, out, jobs = r.gitlab_ci_local(repo)
    check(rc == 0 and jobs == {}, "run by itself, the child pipeline waits for the manual job", f"rc {rc}, jobs {jobs}")
    rc, out, jobs = r.gitlab_ci_local(repo, "--manual", "runnergen-security-approval",
                                      variables={"GITLAB_USER_LOGIN": "security-approver"})
    check(rc == 0 and jobs == {"runnergen-security-approval": 0} and "security-approver approved" in out,
          "an approver runs the manual job: it passes", f"rc {rc}, jobs {jobs}")


def quiet_mr(r, api, repo, base):
    print("c. merge request that changes neither the spec nor out/")
    iid = 4
    r.git(repo, "checkout", "-q", "-b", "notes", base)
    (repo / "NOTES.md").write_text("Runner notes.\n")
    r.commit(repo, "notes", "notes")
    rc, out, jobs = r.gitlab_ci_local(repo, variables=mr_vars(api, base, iid))
    check(rc == 0, "the pipeline passes", out[-3000:])
    expect_jobs(jobs, {"runnergen-validate": 0, "runnergen-lint": 0, "runnergen-render-check": 0,
                       "runnergen-diff": 0, "runnergen-promotion-preview": 0}, out)
    check(re.search(r"^ PASS\s+runnergen-diff\b", out, re.M) is not None, "the diff job passes")
    check(artifact(repo, "runnergen-diff", "approval.yml") == (ROOT / "ci" / "no-security-approval.yml").read_bytes(),
          "artifact approval.yml is ci/no-security-approval.yml")
    check(re.search(r"^ PASS\s+runnergen-security-approval\b", out, re.M) is not None, "the child pipeline passes")
    notes = api.runnergen_notes(iid)
    check(api.count("POST", iid) == 1 and len(notes) == 1 and notes[0]["body"].startswith(MARKER)
          and "No changes." in notes[0]["body"], "one note, saying no changes")


def promotion(r):
    pairs = [("dev", "stg"), ("stg", "prd")]
    print(f"d. promotion preview with several pairs ({PROMOTION_SPEC})")
    expected = {}
    for a, b in pairs:
        p = r.run([r.runnergen, "diff", ROOT / PROMOTION_SPEC, "--from-env", a, "--to-env", b], ROOT)
        expected[(a, b)] = p.returncode
    check(expected == {("dev", "stg"): 0, ("stg", "prd"): 3},
          "runnergen diff --from-env: dev -> stg exits 0, stg -> prd exits 3 (widens)", str(expected))
    repo = r.repo("promote", PROMOTION_SPEC, {"promote": [{"from": a, "to": b} for a, b in pairs]})
    r.render(repo)
    r.commit(repo, "three environments", "main")
    job = "runnergen-promotion-preview"
    rc, out, jobs = r.gitlab_ci_local(repo, job)
    worst = max(expected.values())
    check(rc != 0 and jobs == {job: worst}, f"the job runs both pairs and exits {worst}, failing the pipeline",
          f"rc {rc}, jobs {jobs}\n{out[-3000:]}")
    for (a, b), code in expected.items():
        check(f"runnergen -- promotion preview {a} -> {b}" in out and f"  {a} -> {b}: exit {code}" in out,
              f"the output names {a} -> {b} and its exit {code}")
    check("prd/terraform: runner no longer limited to protected branches" in out, "stg -> prd's widening is printed")

    r.write_ci(repo, {"promote": [{"from": "dev", "to": "stg"}]})
    r.commit(repo, "one pair", "main")
    rc, out, jobs = r.gitlab_ci_local(repo, job)
    check(rc == 0 and jobs == {job: 0} and "  dev -> stg: exit 0" in out, "with dev -> stg alone the job passes",
          f"rc {rc}, jobs {jobs}")

    r.write_ci(repo, {"promote": [{"from": "dev"}]})
    r.commit(repo, "a pair without to", "main")
    rc, out, jobs = r.gitlab_ci_local(repo, job)
    check(rc != 0 and jobs == {job: 2} and "input promote is not a list of {from, to} pairs" in out,
          "a pair without `to` is an error (exit 2)", f"rc {rc}, jobs {jobs}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runnergen", default=str(ROOT / "target" / "debug" / "runnergen"))
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    runnergen = Path(args.runnergen).resolve()
    if not os.access(runnergen, os.X_OK):
        raise SystemExit(f"ci_component: no runnergen binary at {runnergen} (cargo build --locked)")
    start = time.monotonic()
    gcl_dir = subprocess.run(["bash", ROOT / "scripts" / "install-gitlab-ci-local.sh"], check=True,
                             stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    scratch = Path(tempfile.mkdtemp(prefix="runnergen-ci-component."))
    api = FakeGitLab()
    try:
        r = Runner(scratch, Path(gcl_dir), runnergen)
        repo, base = default_pipeline(r)
        widening_mr(r, api, repo, base)
        quiet_mr(r, api, repo, base)
        promotion(r)
    finally:
        api.close()
        if args.keep:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    took = time.monotonic() - start
    if failures:
        print(f"ci_component: {len(failures)} check(s) failed ({took:.0f}s): " + "; ".join(failures))
        sys.exit(1)
    print(f"ci_component: every check passed ({took:.0f}s)")


if __name__ == "__main__":
    main()
