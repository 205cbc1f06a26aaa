//! An environment's Azure deployment, in shards that each stay within ARM's template limits:
//! a [`Shard`] is a view of the environment and the runners one deployment holds.
//!
//! A runner's shard is a function of its key and the environment's shard count alone
//! ([`shard_of`]: a jump consistent hash of the key's FNV-1a), never of the other runners: a
//! runner added or removed moves no other, and a higher count moves only runners into the new
//! shards. An identity that changed stacks would be deleted by the stack it left (deployment
//! stacks with `deleteResources`) and come back with new IDs, so `diff` names every move.

use super::{Deployments, Environment, Runner, Store, fnv1a64};
use crate::layout::MAX_SHARDS;
use crate::spec::{self, Code, Problem};

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

/// Jump consistent hash: the bucket, in `0..buckets`, of `key` (John Lamping and Eric Veach,
/// "A Fast, Minimal Memory, Consistent Hash Algorithm", 2014, arXiv:1406.2294; the paper's C++
/// function, step for step). Going from `n` to `n + 1` buckets, a key either stays or moves
/// to bucket `n`, and each does so with probability `1 / (n + 1)`. `buckets` is at least 1.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(buckets.max(1)) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// The shard, from 1, of the runner with key `key` when its environment deploys in `count`
/// shards: the key alone decides it (FNV-1a 64, then [`jump_hash`]).
pub fn shard_of(key: &str, count: u32) -> u32 {
    1 + jump_hash(fnv1a64(key), count)
}

/// The identities each of `count` shards holds: `items` are the runners with an identity, as
/// (hash of the key, identities), `store` the Key Vault store's identity, in shard 1.
fn loads(items: &[(u64, usize)], store: bool, count: u32) -> Vec<usize> {
    let mut loads = vec![0; count.max(1) as usize];
    loads[0] = usize::from(store);
    for &(hash, weight) in items {
        loads[jump_hash(hash, count) as usize] += weight;
    }
    loads
}

/// The smallest shard count above `above`, up to [`MAX_SHARDS`], at which every shard holds at
/// most `limit` identities: `items` are the runners with an identity as (FNV-1a 64 of the key,
/// its identities: 1, or 2 with a manager cache identity), `store` whether the environment's
/// Key Vault store has an identity (in shard 1). None when no count fits.
pub fn fitting_count(items: &[(u64, usize)], store: bool, above: u32, limit: usize) -> Option<u32> {
    let total = usize::from(store) + items.iter().map(|(_, w)| w).sum::<usize>();
    // Fewer shards than the total needs cannot fit: start there.
    let least = u32::try_from(total.div_ceil(limit.max(1))).unwrap_or(u32::MAX);
    (least.max(above + 1)..=MAX_SHARDS)
        .find(|&n| loads(items, store, n).iter().all(|&l| l <= limit))
}

/// The identities a runner adds to its shard: its own, and its manager's cache identity.
fn weight(r: &Runner) -> usize {
    1 + usize::from(r.cache_identity.is_some())
}

impl Environment {
    /// The environment's Azure deployment, holding the runners that have an identity (the
    /// others have no Azure side): one for the whole environment when its shard count is 1,
    /// otherwise one per shard, every shard from 1 to the count even when it holds no runner
    /// (so that the last runner leaving one is deleted by that stack's update), each its own
    /// deployment, stack and outputs file. The Key Vault store's identity is in the first.
    pub fn shards(&self) -> Vec<Shard<'_>> {
        let store = self.store.as_ref();
        let azure = self.runners.iter().filter(|r| r.has_identity());
        let shard = |number, runners, store| Shard {
            env: self,
            number,
            deployments: Deployments::new(&self.key, number),
            runners,
            store,
        };
        if self.shard_count <= 1 {
            return vec![shard(None, azure.collect(), store)];
        }
        let mut groups: Vec<Vec<&Runner>> = vec![Vec::new(); self.shard_count as usize];
        for r in azure {
            groups[shard_of(&r.key, self.shard_count) as usize - 1].push(r);
        }
        groups
            .into_iter()
            .zip(1..)
            .map(|(runners, n)| shard(Some(n), runners, store.filter(|_| n == 1)))
            .collect()
    }

    /// The number of the shard that deploys runner `key`'s identities; none when the
    /// environment deploys in one piece.
    pub fn shard_number(&self, key: &str) -> Option<u32> {
        (self.shard_count > 1).then(|| shard_of(key, self.shard_count))
    }

    /// The deployments (and so the stack) that deploy the Key Vault store's identity: the
    /// first shard's.
    pub fn store_deployments(&self) -> Deployments {
        Deployments::new(&self.key, (self.shard_count > 1).then_some(1))
    }

    /// The deployments (and so the stack) that deploy runner `key`'s identities.
    pub fn deployments_of(&self, key: &str) -> Deployments {
        Deployments::new(&self.key, self.shard_number(key))
    }
}

/// E024 at the environment's `identities` when a shard would hold more than [`SHARD_SIZE`]
/// identities, with the smallest shard count that fits.
pub(super) fn check(env: &Environment, diags: &mut Vec<Problem>) {
    let items: Vec<(u64, usize)> = env
        .runners
        .iter()
        .filter(|r| r.has_identity())
        .map(|r| (fnv1a64(&r.key), weight(r)))
        .collect();
    let store = env.store.is_some();
    let count = env.shard_count.max(1);
    let over: Vec<(u32, usize)> = (1..)
        .zip(loads(&items, store, count))
        .filter(|&(_, load)| load > SHARD_SIZE)
        .collect();
    if over.is_empty() {
        return;
    }
    let shards = env.shards();
    let what = over
        .iter()
        .map(|&(n, load)| {
            let stack = &shards[n as usize - 1].deployments.main;
            match count {
                1 => format!("its Azure deployment ({stack}) would hold {load} identities"),
                _ => format!("shard {n} of {count} ({stack}) would hold {load} identities"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let hint = match (fitting_count(&items, store, count, SHARD_SIZE), count) {
        (Some(k), 1) => format!(
            "set `identities.shards: {k}`, the smallest count at which every shard fits: the identities then move to their shards' stacks (runnergen-{env}-NN), which `diff` names; raising the count later moves only the runners that go to the new shards",
            env = env.key
        ),
        (Some(k), _) => format!(
            "set `identities.shards: {k}`, the smallest count at which every shard fits: raising the count moves only the runners that go to the new shards, which `diff` names"
        ),
        (None, _) => format!(
            "not even {MAX_SHARDS} shards, the most there can be, hold them: split the environment's runners over more environments"
        ),
    };
    diags.push(
        Problem::error_key(
            Code::E024,
            format!("/environments/{}/identities", spec::ptr_key(&env.key)),
            format!(
                "environment `{}`: {what}; a deployment holds at most {SHARD_SIZE} (ARM's template limits: two outputs per identity)",
                env.key
            ),
        )
        .hint(hint),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of the paper's reference function (its C++ code), as implementations of it
    /// record them: ClickHouse's `jumpConsistentHash` tests among them.
    #[test]
    fn jump_hash_gives_the_reference_values() {
        for (key, buckets, bucket) in [
            (1, 1, 0),
            (42, 57, 43),
            (256, 1024, 520),
            (3_735_883_980, 1, 0),
            (3_735_883_980, 666, 361),
            (16_045_690_984_833_335_023, 255, 237),
            (1, 60, 55),
            (2, 60, 46),
        ] {
            assert_eq!(jump_hash(key, buckets), bucket, "{key} in {buckets}");
        }
        // Key 0 is in bucket 0 whatever the count: its first jump lands past any count.
        for n in 1..=MAX_SHARDS {
            assert_eq!(jump_hash(0, n), 0);
        }
    }

    /// One more bucket takes keys only into itself: a key stays, or moves to bucket `n`; and
    /// the buckets fill evenly.
    #[test]
    fn one_more_bucket_only_takes_keys_into_itself() {
        let mut key: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut moved = 0;
        for _ in 0..20_000 {
            // splitmix64's step: keys spread over the whole range, reproducibly.
            key = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = key;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            for n in 1..MAX_SHARDS {
                let (a, b) = (jump_hash(z, n), jump_hash(z, n + 1));
                assert!(a < n && b <= n);
                assert!(b == a || b == n, "{z}: {a} in {n}, {b} in {}", n + 1);
                moved += usize::from(b != a);
            }
        }
        // The expected share of moves from n to n + 1 is 1 / (n + 1): summed over n = 1..98
        // that is H(99) - 1 ≈ 4.18 moves per key.
        let per_key = moved as f64 / 20_000.0;
        assert!((4.0..4.4).contains(&per_key), "{per_key}");
    }

    #[test]
    fn the_smallest_fitting_count_fits_and_one_less_does_not() {
        let items: Vec<(u64, usize)> = (0..200)
            .map(|i| (fnv1a64(&format!("r{i:03}")), 1 + usize::from(i % 5 == 0)))
            .collect();
        let k = fitting_count(&items, true, 1, SHARD_SIZE).unwrap();
        assert!(loads(&items, true, k).iter().all(|&l| l <= SHARD_SIZE));
        assert!(loads(&items, true, k - 1).iter().any(|&l| l > SHARD_SIZE));
        assert_eq!(loads(&items, true, k).iter().sum::<usize>(), 241);
        // A count that fits already is raised: the search starts above it.
        assert!(fitting_count(&items, true, k, SHARD_SIZE).unwrap() > k);
        let many: Vec<(u64, usize)> = (0..3000).map(|i| (i, 1)).collect();
        assert_eq!(fitting_count(&many, false, 1, SHARD_SIZE), None);
    }
}
