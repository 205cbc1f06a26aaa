//! A rendered output tree in memory: relative path to bytes, sorted.
//!
//! Architecture invariant: every path in a tree is relative, uses `/`, and has no empty, `.` or
//! `..` component, so writing a tree can never leave its output directory.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    files: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeError {
    BadPath(String),
    Duplicate(String),
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeError::BadPath(p) => write!(
                f,
                "refusing output path `{p}`: it would leave the output directory"
            ),
            TreeError::Duplicate(p) => write!(f, "two artifacts want the same output path `{p}`"),
        }
    }
}

/// True when `path` stays inside the directory it is joined to.
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(':'))
}

impl Tree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(
        &mut self,
        path: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<(), TreeError> {
        let path = path.into();
        if !is_safe_path(&path) {
            return Err(TreeError::BadPath(path));
        }
        if self.files.contains_key(&path) {
            return Err(TreeError::Duplicate(path));
        }
        // A file is built by appending: its spare capacity would stay until the end of the
        // command, for every file (a large fleet's tree is hundreds of megabytes).
        let mut bytes = bytes.into();
        bytes.shrink_to_fit();
        self.files.insert(path, bytes);
        Ok(())
    }

    /// Moves every file of `other` into this tree (a part rendered on its own, perhaps on
    /// another thread).
    pub fn merge(&mut self, other: Tree) -> Result<(), TreeError> {
        for (path, bytes) in other.files {
            if self.files.contains_key(&path) {
                return Err(TreeError::Duplicate(path));
            }
            self.files.insert(path, bytes);
        }
        Ok(())
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escaping_paths() {
        let mut t = Tree::new();
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "C:/x",
        ] {
            assert!(
                matches!(t.insert(bad, "x"), Err(TreeError::BadPath(_))),
                "{bad}"
            );
        }
        t.insert("ss/tf/config.toml", "x").unwrap();
        assert_eq!(
            t.insert("ss/tf/config.toml", "y"),
            Err(TreeError::Duplicate("ss/tf/config.toml".into()))
        );
        assert_eq!(t.len(), 1);
    }
}
