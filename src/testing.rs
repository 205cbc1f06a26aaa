//! Helpers for the crate's own unit tests (compiled only for them).

use crate::tree::Tree;
use serde_json::Value;

/// A file of the repository, by path from its root.
pub fn read(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The tree a fixture renders, with `path` as the source in headers.
pub fn render(path: &str) -> Tree {
    crate::compile(path, &read(path)).unwrap_or_else(|e| panic!("{path}:\n{e}"))
}

/// The seed fleet (fixtures/ascode), rendered.
pub fn seed() -> Tree {
    render("fixtures/ascode/runners.yaml")
}

/// Every document of a rendered YAML file.
pub fn docs(tree: &Tree, path: &str) -> Vec<Value> {
    let text = tree
        .get_str(path)
        .unwrap_or_else(|| panic!("{path} is not rendered"));
    crate::readback::yaml_values(text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The seed fleet with the `images` runner not privileged.
pub fn seed_images_unprivileged() -> Tree {
    let text = read("fixtures/ascode/runners.yaml");
    let (head, tail) = text
        .rsplit_once("privileged: true")
        .expect("images is privileged");
    crate::compile("fleet.yaml", &format!("{head}privileged: false{tail}")).unwrap()
}
