//! An environment's Azure deployment, in shards that each stay within ARM's template limits:
//! a [`Shard`] is a view of the environment and the runners one deployment holds.

use super::{Deployments, Environment, Runner, Store};

/// Identities per Azure deployment. An ARM template holds at most 64 outputs (two per identity:
/// its client and principal IDs; a runner has one identity, two with a manager cache identity),
/// and the identities' nested template the same 64, so 32 is the hard limit; 30 leaves room
/// (azure-docs templates/best-practices.md "Template limits": 64 outputs, 800 resources, 4 MB).
pub const SHARD_SIZE: usize = 30;

/// One Azure deployment of an environment: the whole environment's, or one shard of a large
/// one. A view: it borrows the environment and the runners it deploys.
#[derive(Clone, Debug)]
pub struct Shard<'a> {
    pub env: &'a Environment,
    /// Its number, from 1, when the environment deploys in shards.
    pub number: Option<u32>,
    pub deployments: Deployments,
    /// The runners with an identity it deploys, in key order.
    pub runners: Vec<&'a Runner>,
    /// The Key Vault store's identity, in the first shard.
    pub store: Option<&'a Store>,
}

impl Shard<'_> {
    /// The outputs file of the shard's deployment, as `identityOutputs` names it.
    pub fn outputs_file(&self) -> String {
        match self.number {
            None => format!("{}.identity-outputs.json", self.env.key),
            Some(n) => format!("{}-{n:02}.identity-outputs.json", self.env.key),
        }
    }

    /// Whether a runner of the shard has Microsoft Graph permissions (then graph files exist).
    pub fn needs_graph(&self) -> bool {
        self.runners.iter().any(|r| !r.graph.is_empty())
    }
}

impl Environment {
    /// The environment's Azure deployment in shards that each stay within ARM's template limits,
    /// holding the runners that have an identity (the others have no Azure side): one for the
    /// whole environment when it has at most [`SHARD_SIZE`] of them; otherwise one per
    /// [`SHARD_SIZE`] identities (runners in key order), each its own deployment, stack and
    /// outputs file. A runner with a cache identity counts twice: its manager's identity adds
    /// two outputs; the store's identity goes into the first shard.
    pub fn shards(&self) -> Vec<Shard<'_>> {
        let weight = |r: &Runner| 1 + usize::from(r.cache_identity.is_some());
        let store = self.store.as_ref();
        let azure: Vec<&Runner> = self.runners.iter().filter(|r| r.has_identity()).collect();
        let shard = |number, runners, store| Shard {
            env: self,
            number,
            deployments: Deployments::new(&self.key, number),
            runners,
            store,
        };
        let mut used = usize::from(store.is_some());
        if used + azure.iter().map(|r| weight(r)).sum::<usize>() <= SHARD_SIZE {
            return vec![shard(None, azure, store)];
        }
        let mut groups: Vec<Vec<&Runner>> = vec![Vec::new()];
        for r in azure {
            if used + weight(r) > SHARD_SIZE {
                groups.push(Vec::new());
                used = 0;
            }
            used += weight(r);
            groups.last_mut().expect("one group at least").push(r);
        }
        groups
            .into_iter()
            .zip(1..)
            .map(|(runners, n)| shard(Some(n), runners, if n == 1 { store } else { None }))
            .collect()
    }
}
