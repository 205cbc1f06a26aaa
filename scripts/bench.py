#!/usr/bin/env python3
"""Whole-process benchmarks of runnergen (medians over repeated runs, release build).

Usage: python3 scripts/bench.py [--runners 1000] [--repeat 15]

Measures, on the seed fleet and on a generated fleet of N runners:
  - validate (the seed fleet: "milliseconds, not seconds");
  - render into an empty directory, and a no-change render;
  - diff with no change, against the cost of one read of the rendered tree
    (every file opened and read once, in this Python process);
  - peak resident memory of each runnergen process.
Prints one line per measurement with the median and the ratio where it applies.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "runnergen")


def fleet(n):
    lines = ["version: 1", "organization: bench", "gitlab:", "  url: https://gitlab.example.com/", "environments:"]
    envs = [("dev", "development", "weu", "westeurope", "11111111-2222-4333-8444-555555555555"),
            ("prd", "production", "neu", "northeurope", "66666666-7777-4888-9999-aaaaaaaaaaaa")]
    for k, l, r, loc, sub in envs:
        lines += [f"  {k}:", f"    longName: {l}", f"    regionCode: {r}", f"    location: {loc}",
                  "    tenantId: 3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b",
                  "    subscriptions:", f"      apps: {sub}",
                  f"    identities: {{subscription: apps, resourceGroup: rg-{r}-{k}-gitlab}}",
                  "    cluster:",
                  f"      oidcIssuerUrl: https://{loc}.oic.prod-aks.azure.com/3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b/{sub}/",
                  f"    keyVault: {{name: kv-{r}-{k}-gitlab}}"]
    lines.append("runners:")
    for i in range(n):
        k, _, r, _, _ = envs[i % 2]
        lines += [f"  r{i:04d}:", f"    environment: {k}", "    type: group", f"    path: org/team{i:04d}",
                  f"    tags: [t{i % 7}, {k}]", f"    purpose: runner {i}", f"    privileged: {'true' if i % 4 == 0 else 'false'}",
                  "    identity:", f"      clientId: {i:08x}-0000-4000-8000-{i:012x}",
                  "      roles:", "        - role: Contributor",
                  f"          scope: {{subscription: apps, resourceGroup: rg-{r}-{k}-t{i:04d}}}"]
    return "\n".join(lines) + "\n"


def run(args, expect=(0,)):
    """Runs runnergen once; returns (seconds, peak RSS in KiB) of that process alone."""
    t = time.perf_counter()
    p = subprocess.Popen([BIN] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    p.returncode = code
    if code not in expect:
        sys.exit(f"runnergen {' '.join(args)} exited {code}: {p.stderr.read().decode()[:2000]}")
    p.stderr.close()
    return elapsed, usage.ru_maxrss


def read_tree(path):
    t = time.perf_counter()
    for dirpath, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                fh.read()
    return time.perf_counter() - t


def median(f, repeat):
    return statistics.median(f() for _ in range(repeat))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runners", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=15)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="runnergen-bench-")
    try:
        seed = os.path.join(ROOT, "fixtures", "ascode", "runners.yaml")
        v = median(lambda: run(["validate", seed])[0], a.repeat)
        print(f"validate seed fleet (3 runners): median {v * 1000:.1f} ms")

        spec = os.path.join(tmp, "fleet.yaml")
        with open(spec, "w") as fh:
            fh.write(fleet(a.runners))
        out = os.path.join(tmp, "out")
        v = median(lambda: run(["validate", spec])[0], a.repeat)
        print(f"validate {a.runners}-runner fleet: median {v * 1000:.1f} ms")

        def fresh():
            shutil.rmtree(out, ignore_errors=True)
            return run(["render", spec, "--out", out])[0]
        r = median(fresh, max(3, a.repeat // 3))
        files = sum(len(f) for _, _, f in os.walk(out))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
        print(f"render {a.runners}-runner fleet into an empty directory: median {r * 1000:.0f} ms ({files} files, {size / 1e6:.1f} MB)")
        r2 = median(lambda: run(["render", spec, "--out", out])[0], a.repeat)
        print(f"render, nothing changed: median {r2 * 1000:.0f} ms")

        read = median(lambda: read_tree(out), a.repeat)
        samples, rss = [], 0
        for _ in range(a.repeat):
            e, m = run(["diff", spec, "--out", out])
            samples.append(e)
            rss = max(rss, m)
        d = statistics.median(samples)
        print(f"one read of the tree: median {read * 1000:.0f} ms")
        print(f"diff, no change: median {d * 1000:.0f} ms = {d / read:.1f}x one read of the tree (process start, parse, render and compare included)")
        c = median(lambda: run(["render", spec, "--out", out, "--check"])[0], a.repeat)
        print(f"render --check, no change: median {c * 1000:.0f} ms")
        _, rss_render = run(["render", spec, "--out", out])
        print(f"peak RSS: diff {rss / 1024:.0f} MiB, render {rss_render / 1024:.0f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
