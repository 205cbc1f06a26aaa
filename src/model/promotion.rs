//! What a spec declares as meant to differ between two environments (`promotion`, and each
//! runner's `promotion.expect`), resolved: fields by name, role assignments in the
//! environments they are read in.

use super::azure::{RoleAssignment, resolve_role};
use crate::spec::types as t;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Promoting `from`'s setup to `to`: what may differ, and which subscription aliases pair.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Promotion {
    pub from: String,
    pub to: String,
    pub expect: BTreeSet<t::PromotionField>,
    /// The role assignments `expect` names, resolved in each of the two environments that
    /// has their subscription aliases, by environment key.
    #[serde(skip)]
    pub expect_roles: BTreeMap<String, Vec<RoleAssignment>>,
    /// `from`'s alias → `to`'s alias.
    pub subscriptions: BTreeMap<String, String>,
}

/// A declared promotion, resolved.
pub(super) fn of(s: &t::Spec, p: &t::Promotion) -> Promotion {
    let expect_roles = [&p.from, &p.to]
        .into_iter()
        .filter_map(|k| {
            s.environments
                .get(k)
                .map(|e| (k.clone(), roles(e, &p.expect)))
        })
        .collect();
    Promotion {
        from: p.from.clone(),
        to: p.to.clone(),
        expect: fields(&p.expect),
        expect_roles,
        subscriptions: p.subscriptions.clone(),
    }
}

/// What a runner's own `promotion.expect` names: fields, and role assignments read in its
/// environment `e`.
pub(super) fn of_runner(
    e: &t::Environment,
    r: &t::Runner,
) -> (BTreeSet<t::PromotionField>, Vec<RoleAssignment>) {
    let expect = r.promotion.as_ref().map_or(&[][..], |p| &p.expect);
    (fields(expect), roles(e, expect))
}

/// The fields an `expect` list names.
fn fields(expect: &[t::Expect]) -> BTreeSet<t::PromotionField> {
    expect
        .iter()
        .filter_map(t::Expect::field)
        .map(|f| t::PromotionField::parse(f).expect("checked by spec"))
        .collect()
}

/// The role assignments an `expect` list names, read in environment `e`.
fn roles(e: &t::Environment, expect: &[t::Expect]) -> Vec<RoleAssignment> {
    let set: BTreeSet<RoleAssignment> = expect
        .iter()
        .flat_map(t::Expect::roles)
        .flat_map(|ra| resolve_role(e, ra))
        .collect();
    set.into_iter().collect()
}
