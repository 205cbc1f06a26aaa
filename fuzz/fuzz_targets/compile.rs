//! Raw bytes into the whole pipeline: `runnergen::compile` must return (Ok or Err) for any text,
//! never panic. Only panics (and timeouts / out-of-memory) count as findings.
//!
//! With `RUNNERGEN_FUZZ_STRICT=1`, an error that is not a rendered diagnostic (a render,
//! invariant or output-path error, which the CLI reports as a bug in runnergen) panics too;
//! `RUNNERGEN_FUZZ_STRICT=log` prints it (`RENDER-ERROR: ...`) and goes on.
//!
//! Bytes that are not UTF-8 go through the CLI's loader (`runnergen::cli::load`), the only code
//! that handles them: there is no in-memory entry point for bytes, so they are written to a
//! per-process temporary file, and the loader's diagnostic on stderr is discarded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => {
            if let Err(e) = runnergen::compile(SOURCE, text) {
                // Rendered diagnostics start with the source name.
                if !e.starts_with(SOURCE) {
                    match strict() {
                        Some(true) => panic!("a spec that loads and resolves fails to render: {e}"),
                        Some(false) => eprintln!("RENDER-ERROR: {}", e.replace('\n', " | ")),
                        None => {}
                    }
                }
            }
        }
        Err(_) => load_bytes(data),
    }
});

const SOURCE: &str = "fuzz.yaml";

/// `RUNNERGEN_FUZZ_STRICT`: unset or `0` off, `log` prints, anything else panics.
fn strict() -> Option<bool> {
    static STRICT: OnceLock<Option<bool>> = OnceLock::new();
    *STRICT.get_or_init(|| match std::env::var("RUNNERGEN_FUZZ_STRICT").as_deref() {
        Err(_) | Ok("0") => None,
        Ok("log") => Some(false),
        Ok(_) => Some(true),
    })
}

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("runnergen-fuzz-{}.yaml", std::process::id()))
    })
}

fn load_bytes(data: &[u8]) {
    let path = scratch();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let _quiet = Quiet::stderr();
    let _ = runnergen::cli::load(path, "out");
}

/// Points stderr at /dev/null until dropped. A panic inside aborts before the drop, so its
/// message is lost, but libFuzzer still saves the input; `cargo fuzz run compile <input>`
/// shows the message.
struct Quiet {
    saved: libc::c_int,
}

impl Quiet {
    fn stderr() -> Option<Quiet> {
        // SAFETY: plain fd calls on descriptors this function opens and owns.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if null < 0 {
                return None;
            }
            let saved = libc::dup(2);
            if saved < 0 {
                libc::close(null);
                return None;
            }
            libc::dup2(null, 2);
            libc::close(null);
            Some(Quiet { saved })
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        // SAFETY: restores the descriptor saved in `stderr`.
        unsafe {
            libc::dup2(self.saved, 2);
            libc::close(self.saved);
        }
    }
}
