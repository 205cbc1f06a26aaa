//! runnergen's one integration test crate: whole-process and public-API tests. Behaviour of a
//! single stage lives beside its code (`src/**/tests.rs`, `mod tests`); what is here runs the
//! binary, reads the committed goldens, or crosses several stages. One module per area, each
//! opening with what belongs in it.

mod common;
/// The fleet generator of `cargo run --example gen-fleet`.
#[path = "../../examples/gen-fleet.rs"]
mod gen_fleet;

mod access;
mod audit;
mod audit_props;
mod azure_roles;
mod ci_template;
mod cli;
mod crd_defaults;
mod diagnostics;
mod diff;
mod exit_codes;
mod fuzz_regressions;
mod gitlab_fake;
mod golden;
mod import;
mod import_props;
mod model;
mod modules;
mod platforms;
mod properties;
mod rbac;
mod reading;
mod readme;
mod register;
mod register_scale;
mod review;
mod shards;
mod spec;
mod topology;
mod widening;
mod write;
