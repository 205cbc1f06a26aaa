#!/usr/bin/env python3
"""Whole-process benchmarks of runnergen as ratios to floors measured in the same run
(medians over repeated runs, release build). BENCHMARKS.md records the figures.

Usage: python3 scripts/bench.py [--runners 1000] [--environments 10] [--large 10000]
                                [--repeat 7] [--chart PATH]

The fleet comes from `cargo run --release --example gen-fleet`. Measured:
  - cold render into an empty directory / `cp -r` of the tree it wrote;
  - no-op re-render (and that it touches no file) / one read of the tree
    (`find DIR -type f -print0 | xargs -0 cat > /dev/null`);
  - no-change diff and `render --check` / that same read;
  - the --large fleet's cold render / the --runners fleet's, and peak memory at --large;
  - with --chart (a gitlab-runner chart directory or .tgz) and helm on PATH or in .ci-cache/bin:
    `helm template` of the chart with one runner's values / runnergen's cold render per runner.
Prints one line per measurement; the last lines are the targets, each `met` or `MISSED`.
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
GEN = os.path.join(ROOT, "target", "release", "examples", "gen-fleet")


def fleet(path, runners, environments):
    with open(path, "w") as fh:
        subprocess.run([GEN, "--runners", str(runners), "--environments", str(environments)],
                       stdout=fh, check=True)


def run(args, expect=(0,)):
    """Runs a command once; returns (seconds, peak RSS in KiB) of that process alone. Its
    standard error goes to a file (a pipe would fill up with the lint findings and block it)."""
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.perf_counter() - t
        code = os.waitstatus_to_exitcode(status)
        if code not in expect:
            err.seek(0)
            sys.exit(f"{' '.join(args)} exited {code}: {err.read().decode()[:2000]}")
    return elapsed, usage.ru_maxrss


def rg(args, expect=(0,)):
    return run([BIN] + args, expect)


def median(f, repeat):
    return statistics.median(f() for _ in range(repeat))


def read_tree(path):
    return run(["sh", "-c", f"find '{path}' -type f -print0 | xargs -0 cat > /dev/null"])[0]


def snapshot(path):
    """Every file's modification time and inode: a no-op render changes none."""
    out = {}
    for d, _, fs in os.walk(path):
        for f in fs:
            st = os.stat(os.path.join(d, f))
            out[os.path.join(d, f)] = (st.st_mtime_ns, st.st_ino)
    return out


def helm_binary():
    found = shutil.which("helm")
    local = os.path.join(ROOT, ".ci-cache", "bin", "helm")
    return found or (local if os.access(local, os.X_OK) else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runners", type=int, default=1000)
    ap.add_argument("--environments", type=int, default=10)
    ap.add_argument("--large", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--chart", help="gitlab-runner chart (directory or .tgz) for the helm comparison")
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where the trees go (default: tmpfs, so the disk's state after many "
                         "deletions does not weigh on one side more than the other)")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "-q", "--bin", "runnergen",
                    "--example", "gen-fleet"], cwd=ROOT, check=True)
    print(f"machine: {os.cpu_count()} cores; {a.runners} runners over {a.environments} environments; "
          f"medians of {a.repeat}; trees in {a.dir or tempfile.gettempdir()}")
    targets = []
    tmp = tempfile.mkdtemp(prefix="runnergen-bench-", dir=a.dir)
    try:
        spec = os.path.join(tmp, "fleet.yaml")
        fleet(spec, a.runners, a.environments)
        out = os.path.join(tmp, "out")

        copy = os.path.join(tmp, "copy")
        renders, copies = [], []
        for _ in range(a.repeat):
            # Alternately, so that both meet the same state of the file system.
            shutil.rmtree(out, ignore_errors=True)
            renders.append(rg(["render", spec, "--out", out])[0])
            shutil.rmtree(copy, ignore_errors=True)
            copies.append(run(["cp", "-r", out, copy])[0])
        r, c = statistics.median(renders), statistics.median(copies)
        shutil.rmtree(copy, ignore_errors=True)
        files = sum(len(f) for _, _, f in os.walk(out))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
        print(f"cold render: {r * 1000:.0f} ms ({files} files, {size / 1e6:.1f} MB); cp -r of it: {c * 1000:.0f} ms")
        targets.append(("cold render / cp -r", r / c, 1.5))

        before = snapshot(out)
        noop = median(lambda: rg(["render", spec, "--out", out])[0], a.repeat)
        untouched = snapshot(out) == before
        read = median(lambda: read_tree(out), a.repeat)
        print(f"no-op re-render: {noop * 1000:.0f} ms, files untouched: {untouched}; one read of the tree: {read * 1000:.0f} ms")
        targets.append(("no-op re-render / one read", noop / read, 1.5))
        if not untouched:
            targets.append(("no-op re-render touches no file", 1.0, 0.0))
        d = median(lambda: rg(["diff", spec, "--out", out])[0], a.repeat)
        print(f"no-change diff: {d * 1000:.0f} ms")
        targets.append(("no-change diff / one read", d / read, 1.5))
        chk = median(lambda: rg(["render", spec, "--out", out, "--check"])[0], a.repeat)
        print(f"render --check, no change: {chk * 1000:.0f} ms")
        targets.append(("render --check / one read", chk / read, 1.5))

        helm = helm_binary()
        if a.chart and helm:
            values = next(os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs if f == "values.yaml")
            h = median(lambda: run([helm, "template", "bench", a.chart, "-f", values])[0], a.repeat)
            per = r / a.runners
            print(f"helm template of one runner: {h * 1000:.1f} ms; runnergen per runner: {per * 1000:.2f} ms")
            # Higher is better here: the target is a floor, kept as a ceiling on the inverse.
            targets.append(("runnergen per runner / helm template (≤ 1/100: 100× faster)", per / h, 1 / 100))
            print(f"runnergen per runner is {h / per:.0f}× faster than helm template (target ≥ 100×)")
        else:
            print("helm template: skipped (give --chart with a gitlab-runner chart, and have helm)")

        if a.large:
            big = os.path.join(tmp, "large.yaml")
            fleet(big, a.large, a.environments)
            big_out = os.path.join(tmp, "large-out")
            samples, rss = [], 0
            for _ in range(max(3, a.repeat // 2)):
                shutil.rmtree(big_out, ignore_errors=True)
                e, m = rg(["render", big, "--out", big_out])
                samples.append(e)
                rss = max(rss, m)
            L = statistics.median(samples)
            print(f"cold render of {a.large} runners: {L * 1000:.0f} ms, peak RSS {rss / 1024:.0f} MiB")
            targets.append((f"{a.large} runners / {a.runners} runners", L / r, a.large / a.runners * 1.1))
            targets.append((f"peak RSS at {a.large} runners, MiB", rss / 1024, 150 * 1e6 / 2**20))
        for name, value, limit in targets:
            print(f"target {name}: {value:.4g} (limit {limit:.4g}) {'met' if value <= limit else 'MISSED'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
