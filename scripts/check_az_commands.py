#!/usr/bin/env python3
"""Parses every Azure CLI command runnergen prints with the real Azure CLI, and its kubectl and
git command lines with kubectl and git.

Usage: python3 scripts/check_az_commands.py --az <az> --kubectl <kubectl> --runnergen <binary>

The Azure CLI checks a command's arguments before it needs an account: a command whose
arguments are valid stops at "Please run 'az login'" (exit 1), one with a wrong or missing
argument stops with an argument error (exit 2). So no login is needed, and nothing is sent: the
CLI runs with an empty configuration folder, telemetry off, and every HTTP(S) request pointed at
a closed port on 127.0.0.1 (`az login` itself fails to connect after parsing its arguments).

The commands come from where runnergen prints them:
  - the rendered files of every golden tree (main.bicep's and graph.bicep's deploy headers,
    ci-template.yml's `az login`),
  - `runnergen validate`'s rollout notes (phase 1 and 2) on a fleet waiting for client IDs,
  - `runnergen diff`'s revocation commands on a spec that removes a role, a Graph permission
    and an identity,
  - `runnergen import`'s role-assignment deletions for fixtures/import/show.json,
  - the code blocks and inline commands of README.md and docs/*.md.
Commands of Azure CLI extensions that are not on PyPI (`az k8s-configuration`) cannot be
installed here; they are listed, not parsed.

kubectl and git the same way: kubectl against a kubeconfig whose server is a closed port on
127.0.0.1 (a valid command fails to connect, a wrong flag is a usage error; `apply -k` builds
the kustomization first), git in a scratch repository whose remote does not exist (a wrong
option is git's usage error, exit 129). Their commands: the shallow-clone fetch `diff --base`
prints, and the whole kubectl and git commands of README.md and docs/*.md.
"""
import argparse
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUID = "00000000-0000-4000-8000-000000000001"
# Extension command groups (not in the azure-cli package) and why they are not parsed.
EXTENSIONS = {"k8s-configuration": "the k8s-configuration extension is not on PyPI"}
ARGUMENT_ERRORS = ("unrecognized arguments", "the following arguments are required",
                   "is misspelled or not recognized", "error: argument", "expected one argument")


def commands_in(text):
    """Every `az …` command of a text, nested `$(az …)` ones apart, outer ones with them
    replaced by a GUID."""
    found = []
    # Continued lines (code blocks of the documentation).
    text = re.sub(r"\\\n\s*", " ", text)
    for m in re.finditer(r"\$\((az [^()]*)\)", text):
        found.append(m.group(1))
    text = re.sub(r"\$\(az [^()]*\)", GUID, text)
    for m in re.finditer(r"(?<![\w$(-])az ([a-z][a-z0-9-]*(?: [a-z][\w-]*)*)(?=[ \n`\"';]|$)([^\n`;]*)", text):
        cmd = "az " + m.group(1) + m.group(2)
        cmd = re.split(r"; fi\b|\s+#|\s+>\s|\s\|\s", cmd)[0].rstrip(" .,:)")
        found.append(cmd)
    return found


def normalise(cmd):
    """The command with shell variables, placeholders and elisions made concrete; None when it
    is not a whole command (an elision `…`)."""
    if "…" in cmd or "..." in cmd:
        return None
    cmd = re.sub(r'"\$\(cat [^)]*\)"', "token", cmd)
    cmd = re.sub(r'"?\$\{?[A-Z_]+\}?"?', GUID, cmd)
    cmd = re.sub(r"\{[a-z_]+\}", "x", cmd)
    cmd = re.sub(r"<[^<>]+>", "x", cmd)
    try:
        words = shlex.split(cmd)
    except ValueError:
        return None
    if len(words) < 3 or words[0] != "az":
        return None
    return words


def tree_commands():
    out = []
    trees = [os.path.join(ROOT, "out")] + sorted(glob.glob(os.path.join(ROOT, "fixtures", "*", "expected")))
    for tree in trees:
        for path in glob.glob(os.path.join(tree, "**", "*"), recursive=True):
            if os.path.isfile(path) and path.endswith((".bicep", ".yml", ".md")):
                with open(path, encoding="utf-8") as fh:
                    for c in commands_in(fh.read()):
                        out.append((os.path.relpath(path, ROOT), os.path.dirname(path), c))
    return out


def cli_commands(runnergen, work):
    out = []
    # The rollout notes of a fleet waiting for its client IDs.
    run = subprocess.run([runnergen, "validate", "fixtures/first-phase/runners.yaml"],
                         cwd=ROOT, capture_output=True, text=True)
    for c in commands_in(run.stdout + run.stderr):
        out.append(("runnergen validate (rollout notes)", ROOT, c))
    # Revocation commands: the seed with a role, a Graph permission and an identity removed.
    shutil.copytree(os.path.join(ROOT, "out"), os.path.join(work, "out"))
    os.makedirs(os.path.join(work, "fixtures", "ascode"))
    with open(os.path.join(ROOT, "fixtures", "ascode", "runners.yaml"), encoding="utf-8") as fh:
        spec = fh.read()
    spec = spec.replace("      graphPermissions: [Group.Read.All, User.Read.All, GroupMember.Read.All, Directory.Read.All]\n",
                        "      graphPermissions: [Group.Read.All]\n", 1)
    spec = spec.replace("        - role: Owner\n          scope: {subscription: \"*\"}\n",
                        "        - role: Reader\n          scope: {subscription: \"*\"}\n", 1)
    # Their acknowledgements would name what the runner no longer has (E018).
    spec = "".join(l for l in spec.splitlines(True)
                   if not (l.lstrip().startswith("- {rule: L001, role: Owner")
                           or l.lstrip().startswith("- {rule: L006, permission: Directory.Read.All")))
    with open(os.path.join(work, "fixtures", "ascode", "runners.yaml"), "w", encoding="utf-8") as fh:
        fh.write(spec)
    run = subprocess.run([runnergen, "diff", "fixtures/ascode/runners.yaml", "--out", "out", "--format", "json"],
                         cwd=work, capture_output=True, text=True)
    report = json.loads(run.stdout)
    revocations = [s["revocation"] for s in report["security"] if s.get("revocation")]
    if not revocations:
        sys.exit("check-az: the diff printed no revocation command to check")
    for r in revocations:
        for c in commands_in(r):
            out.append(("runnergen diff (revocation)", work, c))
    # The role assignments `runnergen import` says to delete before the first stack deployment.
    run = subprocess.run([runnergen, "import", "fixtures/import/show.json", "--out-spec",
                          os.path.join(work, "import", "runnergen.yaml")],
                         cwd=ROOT, capture_output=True, text=True)
    found = commands_in(run.stdout)
    if not found:
        sys.exit("check-az: runnergen import printed no az command to check")
    for c in found:
        out.append(("runnergen import", ROOT, c))
    return out


def doc_pages():
    """README.md and every page of docs/, each with its path and text."""
    pages = []
    for path in ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
            pages.append((path, fh.read()))
    return pages


def doc_commands():
    out = []
    for path, text in doc_pages():
        out += page_commands(path, text)
    return out


def page_commands(path, text):
    out = []
    # Command lines of code blocks (a line, or continued lines, that starts with `az`).
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        block = re.sub(r"\\\n\s*", " ", block)
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("az "):
                out += [(f"{path} (code block)", ROOT, c) for c in commands_in(line)]
    # Inline commands given whole, with their options (a bare `az group create` in prose
    # names a command, it is not one to run).
    for span in re.findall(r"`(az [^`]+)`", text):
        for c in commands_in(span):
            if len(re.findall(r"(?:^| )--?[a-z]", c)) >= 2:
                out.append((f"{path} (inline)", ROOT, c))
    return out


def tool_commands(text, tool):
    """Whole `kubectl …`/`git …` commands of a text: a verb and at least one more word, no
    elision."""
    out = []
    for m in re.finditer(rf"(?<![\w-]){tool} ([a-z][\w-]*(?: [^`\n;|&]*)?)", text):
        cmd = f"{tool} " + m.group(1).strip().rstrip(".,:)")
        if "…" in cmd or "<" in cmd or len(cmd.split()) < 3:
            continue
        out.append(cmd)
    return out


def git_hint_commands(runnergen, work):
    """The fetch `diff --base` suggests for a revision a shallow clone lacks."""
    repo = os.path.join(work, "hint-repo")
    shutil.copytree(os.path.join(work, "out"), os.path.join(repo, "out"))
    shutil.copy(os.path.join(ROOT, "fixtures", "ascode", "runners.yaml"), os.path.join(repo, "runners.yaml"))
    quiet = dict(os.environ, GIT_AUTHOR_NAME="ci", GIT_AUTHOR_EMAIL="ci@localhost",
                 GIT_COMMITTER_NAME="ci", GIT_COMMITTER_EMAIL="ci@localhost")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git"] + args, cwd=repo, check=True, env=quiet)
    out = []
    for rev in ("origin/main", "main-typo", "0123456789abcdef0123456789abcdef01234567"):
        run = subprocess.run([runnergen, "diff", "runners.yaml", "--base", rev], cwd=repo,
                             capture_output=True, text=True)
        out += [f"git {c}" for c in re.findall(r"`git ([^`]+)`", run.stderr)]
    if not out:
        sys.exit("check-az: diff --base printed no fetch command to check")
    return out


def parse_tool(tool, words, cwd, env):
    """None when `words` parse; else the tail of the tool's complaint."""
    run = subprocess.run([tool] + words[1:], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=60)
    text = run.stdout + run.stderr
    usage = ("unknown flag", "unknown command", "unknown shorthand flag", "required flag",
             "unknown option", "usage: git", "is not a git command", "accepts ", "Unexpected args")
    if run.returncode == 129 or any(u in text for u in usage):
        return text.strip().splitlines()[-3:]
    return None


def parse(az, words, cwd, env):
    run = subprocess.run([az] + words[1:], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=120)
    text = run.stdout + run.stderr
    if run.returncode == 2 or any(e in text for e in ARGUMENT_ERRORS):
        return text.strip().splitlines()[-3:]
    return None


def check_tools(a, work, env, failed):
    """Parses the kubectl and git commands; returns how many."""
    kubeconfig = os.path.join(work, "kubeconfig")
    with open(kubeconfig, "w") as fh:
        fh.write("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
                 "users: [{name: u, user: {token: none}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                 "current-context: x\n")
    kenv = dict(env, KUBECONFIG=kubeconfig)
    scratch = os.path.join(work, "git-scratch")
    subprocess.run(["git", "init", "-q", scratch], check=True)
    subprocess.run(["git", "-C", scratch, "remote", "add", "origin", os.path.join(work, "no-such-remote")], check=True)
    commands = []
    for path, text in doc_pages():
        # The page's commands: inline code and code-block lines, not prose.
        pieces = re.findall(r"`((?:kubectl|git) [^`]+)`", text)
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
            pieces += [l.strip() for l in block.splitlines() if l.strip().startswith(("kubectl ", "git "))]
        for piece in pieces:
            for tool in ("kubectl", "git"):
                commands += [(tool, path, c) for c in tool_commands(piece, tool)]
    commands += [("git", "runnergen diff --base (shallow-clone hint)", c) for c in git_hint_commands(a.runnergen, work)]
    seen, count = set(), 0
    for tool, where, cmd in commands:
        try:
            words = shlex.split(cmd.replace("$CI_MERGE_REQUEST_DIFF_BASE_SHA", "main"))
        except ValueError:
            continue
        if tuple(words) in seen:
            continue
        seen.add(tuple(words))
        if tool == "kubectl":
            error = parse_tool(a.kubectl, words + ["--request-timeout=2s"], ROOT, kenv)
        else:
            error = parse_tool("git", words, scratch, env)
        count += 1
        if error:
            failed.append((where, " ".join(words), error))
    return count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--az", required=True)
    ap.add_argument("--runnergen", required=True)
    ap.add_argument("--kubectl", required=True)
    a = ap.parse_args()
    a.runnergen = os.path.abspath(a.runnergen)
    for tool in ("az", "kubectl"):
        if os.sep in getattr(a, tool):
            setattr(a, tool, os.path.abspath(getattr(a, tool)))
    work = tempfile.mkdtemp(prefix="runnergen-az-")
    config = os.path.join(work, "azure-config")
    os.makedirs(config)
    env = dict(os.environ, AZURE_CONFIG_DIR=config, AZURE_CORE_COLLECT_TELEMETRY="no",
               AZURE_CORE_NO_COLOR="1", AZURE_CORE_ONLY_SHOW_ERRORS="1",
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", NO_PROXY="")
    try:
        commands = tree_commands() + cli_commands(a.runnergen, work) + doc_commands()
        seen, failed, parsed, skipped = set(), [], 0, []
        for where, cwd, cmd in commands:
            words = normalise(cmd)
            if words is None:
                continue
            if words[1] in EXTENSIONS:
                skipped.append((where, " ".join(words[:4]), EXTENSIONS[words[1]]))
                continue
            key = (cwd if "--template-file" in words else "", tuple(words))
            if key in seen:
                continue
            seen.add(key)
            error = parse(a.az, words, cwd, env)
            parsed += 1
            if error:
                failed.append((where, " ".join(words), error))
        parsed += check_tools(a, work, env, failed)
        for where, cmd, why in sorted(set(skipped)):
            print(f"check-az: not parsed ({why}): {cmd} [{where}]")
        for where, cmd, error in failed:
            print(f"check-az: FAILED {where}: {cmd}\n  " + "\n  ".join(error))
        print(f"check-az: {parsed} distinct commands parsed by the Azure CLI, kubectl and git, {len(failed)} failed")
        if parsed < 10:
            sys.exit("check-az: fewer than 10 commands found; the extraction is broken")
        sys.exit(1 if failed else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
