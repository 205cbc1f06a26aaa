//! runnergen compiles one YAML fleet spec into the files GitOps tools apply for self-hosted
//! GitLab runners on AKS with Azure managed identities and workload identity.
//! See ARCHITECTURE.md for the pipeline; the CLI lives in `cli`.

pub mod access;
pub mod audit;
pub mod cli;
pub mod compile;
pub mod diff;
pub mod facts;
pub mod findings;
pub mod flowchart;
pub mod identities;
pub mod import;
pub mod layout;
pub mod lint;
pub mod model;
pub mod names;
pub mod outdir;
pub mod overlap;
pub mod readback;
pub mod register;
pub mod render;
pub mod roles;
pub mod spec;
#[cfg(test)]
mod testing;
pub mod tree;
pub mod vocab;

pub use compile::compile;
