//! Stage benchmarks at 10, 100 and 1,000 runners over 10 environments (divan): reading and
//! checking the spec, resolving the model, rendering to memory, writing a cold tree, and the
//! no-change diff against it. `cargo bench --bench pipeline` measures; CI runs each once
//! (`DIVAN_SAMPLE_COUNT=1 DIVAN_SAMPLE_SIZE=1`), so they never rot. Whole-process ratios are
//! `scripts/bench.py`'s (BENCHMARKS.md).

#[path = "../examples/gen-fleet.rs"]
mod gen_fleet;

use divan::Bencher;
use runnergen::compile::{self, Resolved};
use std::path::PathBuf;

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[10, 100, 1000];

fn spec(runners: usize) -> String {
    gen_fleet::fleet(runners, 10)
}

fn resolved(runners: usize) -> Resolved {
    compile::resolve(&spec(runners), &compile::no_files).expect("the generated fleet is valid")
}

/// A fresh directory under the system's temporary one, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("runnergen-bench-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[divan::bench(args = SIZES)]
fn load_and_validate(b: Bencher, runners: usize) {
    let text = spec(runners);
    b.bench(|| runnergen::spec::load(&text).expect("valid"));
}

#[divan::bench(args = SIZES)]
fn resolve(b: Bencher, runners: usize) {
    let text = spec(runners);
    b.bench(|| compile::resolve(&text, &compile::no_files).expect("valid"));
}

#[divan::bench(args = SIZES)]
fn render_to_memory(b: Bencher, runners: usize) {
    let r = resolved(runners);
    b.bench(|| compile::render(&r.fleet, "runners.yaml").expect("renders"));
}

#[divan::bench(args = SIZES)]
fn write_cold(b: Bencher, runners: usize) {
    let tree = compile::render(&resolved(runners).fleet, "runners.yaml").expect("renders");
    b.with_inputs(|| Scratch::new("write"))
        .bench_local_values(|dir| {
            runnergen::outdir::write(&tree, &dir.0, &Default::default()).expect("writes");
            dir
        });
}

#[divan::bench(args = SIZES)]
fn diff_no_change(b: Bencher, runners: usize) {
    let r = resolved(runners);
    let tree = compile::render(&r.fleet, "runners.yaml").expect("renders");
    let dir = Scratch::new("diff");
    runnergen::outdir::write(&tree, &dir.0, &Default::default()).expect("writes");
    drop(tree);
    b.bench(|| {
        let base = runnergen::outdir::Base::from_dir(&dir.0);
        let report =
            runnergen::diff::diff_render(&r.fleet, "runners.yaml", &base).expect("renders");
        assert!(report.is_empty());
        report
    });
}
