//! Structure-aware fuzzing: the bytes are a small program of edits applied to a known-valid fleet
//! spec, so that most inputs still parse and pass the schema and the fuzzer reaches the semantic
//! checks, the model (defaults, derived names, collisions), the renderers and the invariants,
//! not only the YAML parser.
//!
//! Input layout: byte 0 picks the base spec; the rest is split on 0xFF (never part of UTF-8)
//! into at most 8 edits, each `[op, index_hi, index_lo, payload...]`. The payload is text
//! (lossy UTF-8); the index picks a line, a scalar or a mapping key in the current text.
//!
//! Only panics (and timeouts / out-of-memory) are findings. With `RUNNERGEN_FUZZ_STRICT=1` a
//! spec that loads and resolves but then fails to render is a finding too: the CLI reports that
//! as "a bug in runnergen" (an invariant or an output path went wrong). `RUNNERGEN_FUZZ_STRICT=log`
//! prints such errors (`RENDER-ERROR: ...`) and goes on, to survey a corpus with `-runs=0`.
//!
//! With `RUNNERGEN_FUZZ_DUMP=FILE` the edited spec is written to FILE before it is compiled, to
//! turn a finding into a plain YAML regression input:
//! `RUNNERGEN_FUZZ_DUMP=/tmp/spec.yaml cargo fuzz run structured <input>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnergen::{model, spec};
use std::sync::OnceLock;

const BASES: &[&str] = &[
    include_str!("../../fixtures/ascode/runners.yaml"),
    include_str!("../../fixtures/two-envs/runners.yaml"),
    include_str!("../../fixtures/first-phase/runners.yaml"),
    include_str!("../../fixtures/argocd/runners.yaml"),
    include_str!("../../fixtures/cache/runners.yaml"),
    include_str!("../../fixtures/existing-secret/runners.yaml"),
    include_str!("../../fixtures/shared-sa/runners.yaml"),
    include_str!("../../fixtures/environments/runners.yaml"),
];

/// Every property name of the schema, for inserted keys.
#[rustfmt::skip]
const KEYS: &[&str] = &[
    "accessLevel", "argocdNamespace", "argocdProject", "cache", "chart", "checkInterval",
    "clientId", "cluster", "concurrent", "container", "cpu", "effect", "engine", "environment",
    "environments", "ephemeralStorage", "existingSecret", "externalSecret", "federatedCredential",
    "gitlab", "gitops", "graphPermissions", "helmRelease", "identities", "identity", "image",
    "jobImage", "jobServiceAccount", "key", "keyVault", "keyVaultSecret", "kubernetesAccess",
    "limits", "location", "locked", "longName", "managerServiceAccount", "maximumTimeout",
    "memory", "name", "namespace", "naming", "nodeSelector", "oidcIssuerUrl", "organization", "overrides",
    "path", "privileged", "purpose", "refreshInterval", "regionCode", "repository", "requests",
    "resource", "resourceGroup", "resources", "role", "roles", "runUntagged", "runnerName",
    "runners", "scope", "serviceAccounts", "shared", "storageAccountId", "storeKind", "storeName",
    "subscription", "subscriptions", "tags", "tenantId", "terminationGracePeriodSeconds",
    "tokenSecret", "tokenSource", "tolerations", "type", "url", "value", "version",
];

/// Values that pass some check somewhere, so that edits can move a spec between valid states.
#[rustfmt::skip]
const VALUES: &[&str] = &[
    "", "*", "-", ".", "..", "/", "{", "}", "{}", "{{", "{runner}", "{org}", "{env}", "{envLong}",
    "{region}", "{org}-{env}-{runner}", "gl-{env}-{runner}", "{runner}{runner}{runner}{runner}",
    "x{unknown}", "group", "project", "plain", "flux", "argocd", "SecretStore",
    "ClusterSecretStore", "separate", "shared", "none", "namespace", "cluster-admin",
    "not_protected", "ref_protected", "NoSchedule", "NoExecute", "PreferNoSchedule", "Owner",
    "Contributor", "Reader", "AcrPush", "AcrPull", "Storage Blob Data Contributor",
    "User Access Administrator", "Key Vault Secrets User", "Group.Read.All", "User.Read.All",
    "Directory.Read.All", "00000000-0000-0000-0000-000000000000",
    "3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "https://gitlab.com/", "https://gitlab.com", "http://gitlab.com/", "https://",
    "https://westeurope.oic.prod-aks.azure.com/3f2b7c1e-4a5d-4e8f-9b0a-1c2d3e4f5a6b/5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a/",
    "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg",
    "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st",
    "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr",
    "/subscriptions/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
    "0.66.0", "0.86.0", "1.0.0-rc.1", "99999999999999999999.0.0", "alpine:3.22", "500m", "2",
    "0.5", "1Gi", "512Mi", "10Gi", "0", "1", "600", "2592000", "4294967295", "4294967296", "-1",
    "1e400", ".inf", ".nan", "true", "false", "null", "~", "0x10", "0o7", "westeurope", "weu",
    "ss", "dev", "prd", "a", "a-b", "ascodenl/infra", "runner-cache", "kv-weu-ss-gitlab",
    "\u{0}", "\u{85}", "\u{2028}", "\u{feff}", "é", "𝔘", "İ", "ß", "\r\n", "\t", "'", "\"", "#",
    ": ", "- ", "&a", "*a", "!!str", "!!binary", "<<", "%YAML 1.2", "---", "...",
];

/// Blocks inserted as a whole; `@` is replaced with the payload as a double-quoted scalar.
const TOP_SNIPPETS: &[&str] = &[
    "naming:\n  namespace: @\n",
    "naming:\n  managerServiceAccount: @\n",
    "naming:\n  jobServiceAccount: @\n",
    "naming:\n  tokenSecret: @\n",
    "naming:\n  keyVaultSecret: @\n",
    "naming:\n  identity: @\n",
    "naming:\n  federatedCredential: @\n",
    "naming:\n  helmRelease: @\n",
    "naming:\n  runnerName: @\n",
    "naming: {namespace: @, helmRelease: @, identity: @, runnerName: @}\n",
    "gitops:\n  engine: argocd\n  argocdNamespace: @\n  argocdProject: @\n",
    "gitops: {engine: @}\n",
    "chart:\n  version: @\n  repository: @\n  image: @\n",
    "tokenSource:\n  externalSecret:\n    storeKind: ClusterSecretStore\n    storeName: @\n    refreshInterval: @\n",
    "tokenSource:\n  existingSecret: {}\n",
];

/// Runner-level blocks, inserted after a runner's `environment:` line (indent 4).
const RUNNER_SNIPPETS: &[&str] = &[
    "    nodeSelector: {@: @}\n",
    "    nodeSelector:\n      kubernetes.io/os: @\n",
    "    tolerations:\n      - {key: @, value: @, effect: NoSchedule}\n",
    "    tolerations:\n      - key: @\n        effect: NoExecute\n",
    "    cache:\n      storageAccountId: @\n      container: @\n      shared: true\n",
    "    resources:\n      requests: {cpu: @, memory: @, ephemeralStorage: @}\n      limits: {cpu: @, memory: @}\n",
    "    jobImage: @\n",
    "    serviceAccounts: @\n",
    "    accessLevel: @\n",
    "    maximumTimeout: @\n",
    "    concurrent: @\n",
    "    checkInterval: @\n",
    "    terminationGracePeriodSeconds: @\n",
    "    runUntagged: @\n",
    "    locked: @\n",
    "    tags: [@, @]\n",
];

/// Identity-level blocks, inserted after a runner's `identity:` line (indent 6).
const IDENTITY_SNIPPETS: &[&str] = &[
    "      clientId: @\n",
    "      kubernetesAccess: @\n",
    "      graphPermissions: [@]\n",
    "      roles:\n        - role: @\n          scope: {subscription: @}\n",
    "      roles:\n        - role: @\n          scope: {subscription: @, resourceGroup: @}\n",
    "      roles:\n        - role: @\n          scope: {resource: @}\n",
    "      roles:\n        - role: Reader\n          scope: {subscription: \"*\"}\n        - role: @\n          scope: {resource: @}\n",
];

/// `RUNNERGEN_FUZZ_STRICT`: unset or `0` off, `log` prints, anything else panics.
fn strict() -> Option<bool> {
    static STRICT: OnceLock<Option<bool>> = OnceLock::new();
    *STRICT.get_or_init(|| match std::env::var("RUNNERGEN_FUZZ_STRICT").as_deref() {
        Err(_) | Ok("0") => None,
        Ok("log") => Some(false),
        Ok(_) => Some(true),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut text = BASES[pick as usize % BASES.len()].to_owned();
    for edit in rest.split(|b| *b == 0xFF).take(8) {
        if let [op, hi, lo, payload @ ..] = edit {
            let index = u16::from_be_bytes([*hi, *lo]) as usize;
            let payload = String::from_utf8_lossy(payload);
            apply(&mut text, *op, index, &payload);
        }
    }
    if let Some(path) = dump() {
        let _ = std::fs::write(path, &text);
    }
    run(&text);
});

fn dump() -> Option<&'static std::ffi::OsString> {
    static DUMP: OnceLock<Option<std::ffi::OsString>> = OnceLock::new();
    DUMP.get_or_init(|| std::env::var_os("RUNNERGEN_FUZZ_DUMP"))
        .as_ref()
}

const SOURCE: &str = "fleet/runners.yaml";

fn run(text: &str) {
    match runnergen::compile(SOURCE, text) {
        Ok(_) => {
            // The CLI's extra step: rollout notes, rendered against the text.
            let checked = spec::load(text).expect("loaded once already");
            let fleet = model::build(&checked, &runnergen::compile::no_files).expect("built once already");
            let notes = runnergen::cli::rollout::notes(&fleet, "out/", true);
            for note in spec::locate::report(&checked.map, notes, Vec::new()) {
                let _ = note.render(SOURCE, text);
            }
        }
        // Rendered diagnostics start with the source name; anything else is a render, invariant
        // or tree error, which the CLI reports as a bug in runnergen.
        Err(e) if !e.starts_with(SOURCE) => match strict() {
            Some(true) => panic!("a spec that loads and resolves fails to render: {e}"),
            Some(false) => eprintln!("RENDER-ERROR: {}", e.replace('\n', " | ")),
            None => {}
        },
        Err(_) => {}
    }
}

/// A scalar or key in the text: its byte range.
#[derive(Clone, Copy, Debug)]
struct Slot {
    start: usize,
    end: usize,
}

/// The mapping keys and the scalar values of a block-style YAML text (including the items of
/// one-line flow collections), found line by line. Good enough for the fixtures, which is all
/// it has to be: whatever it finds is replaced, and broken YAML is a fine input too.
fn slots(text: &str) -> (Vec<Slot>, Vec<Slot>) {
    let mut keys = Vec::new();
    let mut values = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let base = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start_matches(' ').len();
        let mut s = &body[indent..];
        let mut at = base + indent;
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        while let Some(r) = s.strip_prefix("- ") {
            at += 2;
            s = r;
        }
        // Drop a trailing comment.
        if let Some(c) = s.find(" #") {
            s = &s[..c];
        }
        let s_trim = s.trim_end();
        match key_split(s_trim) {
            Some((k, v)) => {
                keys.push(Slot {
                    start: at,
                    end: at + k.len(),
                });
                let vstart = at + (v.as_ptr() as usize - s_trim.as_ptr() as usize);
                scan_value(v, vstart, &mut keys, &mut values);
            }
            None => scan_value(s_trim, at, &mut keys, &mut values),
        }
    }
    (keys, values)
}

/// `key: value` → (key, value without leading spaces); `key:` → (key, "").
fn key_split(s: &str) -> Option<(&str, &str)> {
    if s.starts_with(['{', '[', '"', '\'']) {
        return None;
    }
    let colon = s.find(':')?;
    let after = &s[colon + 1..];
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    Some((&s[..colon], after.trim_start()))
}

fn scan_value(v: &str, at: usize, keys: &mut Vec<Slot>, values: &mut Vec<Slot>) {
    if v.is_empty() {
        return;
    }
    let (open, close) = match v.as_bytes()[0] {
        b'{' => ('{', '}'),
        b'[' => ('[', ']'),
        _ => {
            values.push(Slot {
                start: at,
                end: at + v.len(),
            });
            return;
        }
    };
    let Some(inner) = v.strip_prefix(open).and_then(|r| r.strip_suffix(close)) else {
        values.push(Slot {
            start: at,
            end: at + v.len(),
        });
        return;
    };
    let mut pos = at + 1;
    for item in inner.split(',') {
        let lead = item.len() - item.trim_start().len();
        let it = item.trim();
        let start = pos + lead;
        if !it.is_empty() {
            if open == '{' {
                match key_split(it) {
                    Some((k, val)) => {
                        keys.push(Slot {
                            start,
                            end: start + k.len(),
                        });
                        let vs = start + (val.as_ptr() as usize - it.as_ptr() as usize);
                        if !val.is_empty() {
                            values.push(Slot {
                                start: vs,
                                end: vs + val.len(),
                            });
                        }
                    }
                    None => values.push(Slot {
                        start,
                        end: start + it.len(),
                    }),
                }
            } else {
                values.push(Slot {
                    start,
                    end: start + it.len(),
                });
            }
        }
        pos += item.len() + 1;
    }
}

/// A double-quoted YAML scalar: JSON's string syntax is valid YAML.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The payload as a value: a dictionary value when it starts with `$` and a byte, with the
/// rest appended; the payload itself otherwise.
fn value_of(payload: &str) -> String {
    if let Some(rest) = payload.strip_prefix('$') {
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            let v = VALUES[c as usize % VALUES.len()];
            return format!("{v}{}", chars.as_str());
        }
    }
    payload.to_owned()
}

fn number_of(payload: &str) -> String {
    let b = payload.as_bytes();
    let mut n = [0u8; 8];
    for (i, x) in b.iter().take(8).enumerate() {
        n[i] = *x;
    }
    let u = u64::from_le_bytes(n);
    match b.first().map(|x| x % 8) {
        Some(0) => (u % 2000).to_string(),
        Some(1) => u.to_string(),
        Some(2) => (u as i64).to_string(),
        Some(3) => format!("{}", f64::from_bits(u)),
        Some(4) => format!("{u:#x}"),
        Some(5) => format!("{}e{}", u % 10, (u >> 8) % 500),
        Some(6) => format!("{}.{}", u % 100, u >> 32),
        _ => ((u % 5000) as i64 - 100).to_string(),
    }
}

fn replace(text: &mut String, slot: Slot, with: &str) {
    if slot.start <= slot.end
        && slot.end <= text.len()
        && text.is_char_boundary(slot.start)
        && text.is_char_boundary(slot.end)
    {
        text.replace_range(slot.start..slot.end, with);
    }
}

/// Byte offset of the start of line `n` (mod the line count) and that line.
fn line_at(text: &str, n: usize) -> Option<(usize, &str)> {
    let count = text.split_inclusive('\n').count();
    if count == 0 {
        return None;
    }
    let n = n % count;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i == n {
            return Some((offset, line));
        }
        offset += line.len();
    }
    None
}

/// Start offsets of lines `prefix` (after indentation `indent`), e.g. runners' `environment:`.
fn lines_with(text: &str, indent: usize, prefix: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let lead = line.len() - line.trim_start_matches(' ').len();
        if lead == indent && line[lead..].starts_with(prefix) {
            out.push(offset + line.len());
        }
        offset += line.len();
    }
    out
}

fn fill(snippet: &str, payload: &str) -> String {
    let mut parts = payload.split('\u{1f}');
    let first = payload.to_owned();
    snippet
        .split('@')
        .enumerate()
        .map(|(i, piece)| {
            if i == 0 {
                piece.to_owned()
            } else {
                let v = parts
                    .next()
                    .map(str::to_owned)
                    .unwrap_or_else(|| first.clone());
                format!("{}{piece}", quoted(&value_of(&v)))
            }
        })
        .collect()
}

fn apply(text: &mut String, op: u8, index: usize, payload: &str) {
    let (keys, values) = slots(text);
    let pick = |v: &[Slot]| (!v.is_empty()).then(|| v[index % v.len()]);
    match op % 14 {
        // A scalar becomes the payload, double-quoted (any string reaches the checks).
        0 | 1 => {
            if let Some(s) = pick(&values) {
                replace(text, s, &quoted(&value_of(payload)));
            }
        }
        // A scalar becomes the payload as written (YAML syntax, plain scalars, tags, anchors).
        2 => {
            if let Some(s) = pick(&values) {
                replace(text, s, &value_of(payload));
            }
        }
        3 => {
            if let Some(s) = pick(&values) {
                replace(text, s, &single_quoted(&value_of(payload)));
            }
        }
        4 => {
            if let Some(s) = pick(&values) {
                replace(text, s, &number_of(payload));
            }
        }
        // A scalar becomes a flow sequence of quoted strings.
        5 => {
            if let Some(s) = pick(&values) {
                let items: Vec<String> = payload.split(',').map(|p| quoted(&value_of(p))).collect();
                replace(text, s, &format!("[{}]", items.join(", ")));
            }
        }
        // A mapping key (runner, environment, subscription alias, field) is renamed.
        6 => {
            if let Some(s) = pick(&keys) {
                replace(text, s, &quoted(&value_of(payload)));
            }
        }
        // One value is copied over another (collisions, cross references).
        7 => {
            let b = payload.as_bytes();
            let from = b.first().copied().unwrap_or(0) as usize;
            if let (Some(to), false) = (pick(&values), values.is_empty()) {
                let src = values[from % values.len()];
                let v = text[src.start..src.end].to_owned();
                replace(text, to, &v);
            }
        }
        // A new `key: value` line with the indentation of the line picked.
        8 => {
            if let Some((at, line)) = line_at(text, index) {
                let lead = line.len() - line.trim_start_matches(' ').len();
                let b = payload.as_bytes();
                let key = KEYS[b.first().copied().unwrap_or(0) as usize % KEYS.len()];
                let rest = payload.get(1..).unwrap_or("");
                let new = format!("{}{key}: {}\n", " ".repeat(lead), quoted(&value_of(rest)));
                let end = at + line.len();
                let end = if line.ends_with('\n') {
                    end
                } else {
                    text.push('\n');
                    end + 1
                };
                text.insert_str(end, &new);
            }
        }
        // Blocks: top level, runner level, identity level.
        9 => {
            let b = payload.as_bytes();
            let snip = TOP_SNIPPETS[b.first().copied().unwrap_or(0) as usize % TOP_SNIPPETS.len()];
            let body = fill(snip, payload.get(1..).unwrap_or(""));
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&body);
        }
        10 | 11 => {
            let (table, anchors) = if op % 14 == 10 {
                (RUNNER_SNIPPETS, lines_with(text, 4, "environment:"))
            } else {
                (IDENTITY_SNIPPETS, lines_with(text, 4, "identity:"))
            };
            if anchors.is_empty() {
                return;
            }
            let at = anchors[index % anchors.len()];
            let b = payload.as_bytes();
            let snip = table[b.first().copied().unwrap_or(0) as usize % table.len()];
            let body = fill(snip, payload.get(1..).unwrap_or(""));
            if at <= text.len() && text.is_char_boundary(at) {
                text.insert_str(at, &body);
            }
        }
        // A runner is cloned under the payload as key (more runners, shared names).
        12 => {
            let starts = runner_blocks(text);
            if starts.is_empty() {
                return;
            }
            let (s, e) = starts[index % starts.len()];
            let block = text[s..e].to_owned();
            let key_end = block.find(':').unwrap_or(0);
            let clone = format!("  {}{}", quoted(&value_of(payload)), &block[key_end..]);
            if !text.ends_with('\n') {
                text.push('\n');
            }
            // Runners are the last section of every base spec.
            text.push_str(&clone);
        }
        // A line is removed, or doubled.
        _ => {
            if let Some((at, line)) = line_at(text, index) {
                let line = line.to_owned();
                if payload.len().is_multiple_of(2) {
                    text.replace_range(at..at + line.len(), "");
                } else {
                    text.insert_str(at, &line);
                }
            }
        }
    }
}

/// Byte ranges of the runner blocks (`  key:` under `runners:` to the next such line).
fn runner_blocks(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut inside = false;
    let mut offset = 0;
    let mut open: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let lead = line.len() - line.trim_start_matches(' ').len();
        let blank = line.trim().is_empty() || line.trim_start().starts_with('#');
        if lead == 0 && !blank {
            if let Some(s) = open.take() {
                out.push((s, offset));
            }
            inside = line.starts_with("runners:");
        } else if inside && lead == 2 && !blank {
            if let Some(s) = open.take() {
                out.push((s, offset));
            }
            open = Some(offset + 2);
        }
        offset += line.len();
    }
    if let Some(s) = open {
        out.push((s, offset));
    }
    out
}
