//! Azure's action patterns: an action string with `*` wildcards, matched case-insensitively,
//! where `*` stands for any run of characters, `/` included (`*/read` is every read action,
//! `Microsoft.KeyVault/vaults/*/read` every read below a vault; Azure docs "Understand Azure
//! role definitions", Actions and Wildcard permissions). Two questions between patterns, both
//! answered soundly: whether one pattern covers another (every action the second matches, the
//! first matches too) and whether two patterns can match a common action.

/// A pattern as bytes, lowercased (ARM compares operations case-insensitively).
fn bytes(p: &str) -> Vec<u8> {
    p.to_ascii_lowercase().into_bytes()
}

/// True when pattern `wide` matches every action pattern `narrow` matches. A `*` of `narrow`
/// is read as a character only a `*` of `wide` can absorb: if `wide` matches `narrow` so, it
/// matches whatever `narrow`'s wildcards stand for (the `*` of `wide` that took a `*` of
/// `narrow` takes its expansion instead). Sound; it may answer false where a cleverer
/// decision would answer true, which only makes a change read as widening.
pub fn covers(wide: &str, narrow: &str) -> bool {
    let (w, n) = (bytes(wide), bytes(narrow));
    // reach[j]: `w[..i]` can match `n[..j]`; one row per prefix of `w`.
    let mut reach = vec![false; n.len() + 1];
    reach[0] = true;
    for &c in &w {
        let mut next = vec![false; n.len() + 1];
        if c == b'*' {
            // A `*` of `wide` takes any run of `narrow`, its `*`s included.
            let mut on = false;
            for j in 0..=n.len() {
                on |= reach[j];
                next[j] = on;
            }
        } else {
            for j in 0..n.len() {
                next[j + 1] = reach[j] && n[j] == c;
            }
        }
        reach = next;
    }
    reach[n.len()]
}

/// True when some action matches both patterns (each `*` any run of characters).
pub fn intersects(a: &str, b: &str) -> bool {
    let (a, b) = (bytes(a), bytes(b));
    // seen[i][j]: the state (a[i..], b[j..]) was reached; a depth-first walk over states.
    let width = b.len() + 1;
    let mut seen = vec![false; (a.len() + 1) * width];
    let mut stack = vec![(0usize, 0usize)];
    while let Some((i, j)) = stack.pop() {
        if std::mem::replace(&mut seen[i * width + j], true) {
            continue;
        }
        if i == a.len() && j == b.len() {
            return true;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'*') {
            stack.push((i + 1, j)); // the `*` of `a` ends
            if j < b.len() {
                stack.push((i, j + 1)); // it takes `b`'s next character
            }
        }
        if cb == Some(b'*') {
            stack.push((i, j + 1));
            if i < a.len() {
                stack.push((i + 1, j));
            }
        }
        if let (Some(x), Some(y)) = (ca, cb)
            && x != b'*'
            && y != b'*'
            && x == y
        {
            stack.push((i + 1, j + 1));
        }
    }
    false
}

/// True when action `action` (no wildcard) matches pattern `pattern`.
pub fn matches(pattern: &str, action: &str) -> bool {
    !action.contains('*') && covers(pattern, action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_match_case_insensitively_with_wildcards_across_segments() {
        assert!(matches("*/read", "Microsoft.Compute/virtualMachines/read"));
        assert!(matches(
            "*",
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(matches(
            "Microsoft.KeyVault/vaults/*/read",
            "microsoft.keyvault/VAULTS/secrets/read"
        ));
        assert!(matches(
            "Microsoft.Capacity/*/action",
            "Microsoft.Capacity/a/b/action"
        ));
        assert!(!matches(
            "*/read",
            "Microsoft.Compute/virtualMachines/write"
        ));
        assert!(!matches(
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/read"
        ));
    }

    #[test]
    fn a_pattern_covers_what_it_matches_as_a_pattern() {
        assert!(covers("*", "*/read"));
        assert!(covers("*", "Microsoft.KeyVault/vaults/secrets/*"));
        assert!(covers(
            "Microsoft.KeyVault/vaults/*",
            "Microsoft.KeyVault/vaults/secrets/*"
        ));
        assert!(covers("*/read", "Microsoft.KeyVault/vaults/*/read"));
        assert!(covers(
            "Microsoft.KeyVault/vaults/secrets/*",
            "microsoft.keyvault/vaults/secrets/getSecret/action"
        ));
        assert!(covers("Microsoft.Support/*", "Microsoft.Support/*"));
        // A wildcard of the narrower pattern is absorbed only by a wildcard.
        assert!(!covers(
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/*"
        ));
        assert!(!covers("*/read", "*"));
        assert!(!covers("*/read", "Microsoft.KeyVault/vaults/secrets/*"));
        assert!(!covers(
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/*"
        ));
        assert!(!covers("Microsoft.Key*", "Microsoft.Storage/*"));
    }

    #[test]
    fn patterns_intersect_when_some_action_matches_both() {
        assert!(intersects("*", "Microsoft.Authorization/*/Write"));
        assert!(intersects("Microsoft.Authorization/*/Write", "*/write"));
        assert!(intersects(
            "Microsoft.Authorization/*/Delete",
            "microsoft.authorization/roleassignments/delete"
        ));
        assert!(intersects("*/read", "Microsoft.KeyVault/*"));
        assert!(!intersects("*/read", "Microsoft.KeyVault/vaults/write"));
        assert!(!intersects(
            "Microsoft.Authorization/*/Write",
            "Microsoft.ContainerRegistry/registries/pull/read"
        ));
        assert!(!intersects("a*b", "c*"));
    }
}
