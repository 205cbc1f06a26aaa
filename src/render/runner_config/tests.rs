//! config.toml: the key check, and what the seed fleet's runners get.

use super::check_keys;
use crate::testing::seed;

#[test]
fn misspelt_table_fails() {
    let err = check_keys("[[runners]]\n[runners.kuberentes]\nnamespace = \"x\"\n").unwrap_err();
    assert!(
        err.to_string().contains("unknown key runners.kuberentes"),
        "{err}"
    );
}

#[test]
fn misspelt_key_fails() {
    let err =
        check_keys("[[runners]]\n[runners.kubernetes]\nservice_acount = \"x\"\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("runners.kubernetes.service_acount"),
        "{err}"
    );
}

#[test]
fn two_runners_fail() {
    assert!(
        check_keys(
            "[[runners]]\nexecutor = \"kubernetes\"\n[[runners]]\nexecutor = \"kubernetes\"\n"
        )
        .is_err()
    );
}

#[test]
fn known_keys_pass() {
    check_keys("[[runners]]\nexecutor = \"kubernetes\"\n[runners.kubernetes]\nnamespace = \"x\"\n[runners.kubernetes.pod_labels]\n\"a/b\" = \"true\"\n[[runners.kubernetes.volumes.empty_dir]]\nname = \"docker-certs\"\nmount_path = \"/certs/client\"\nmedium = \"Memory\"\n").unwrap();
}

#[test]
fn privileged_runners_get_docker_certs_in_memory() {
    let t = seed();
    let cfg: toml::Table = t.get_str("ss/tf/config.toml").unwrap().parse().unwrap();
    let vol = &cfg["runners"][0]["kubernetes"]["volumes"]["empty_dir"][0];
    assert_eq!(vol["mount_path"].as_str(), Some("/certs/client"));
    assert_eq!(vol["medium"].as_str(), Some("Memory"));
    let t = crate::testing::seed_images_unprivileged();
    let images: toml::Table = t.get_str("ss/images/config.toml").unwrap().parse().unwrap();
    assert!(images["runners"][0]["kubernetes"].get("volumes").is_none());
}

/// Which pod labels a job may set is the runner's to narrow: the seed's `.*` by default, a
/// pattern of the spec's, or none at all; `diff` takes a wider pattern as a widening.
#[test]
fn pod_labels_overwrite_is_narrowable() {
    let config = |setting: &str| -> String {
        let text = crate::testing::read("fixtures/ascode/runners.yaml").replacen(
            "  tf:\n    environment: ss\n",
            &format!("  tf:\n    environment: ss\n    kubernetes: {{{setting}}}\n"),
            1,
        );
        let t = crate::compile::compile("runners.yaml", &text).unwrap();
        t.get_str("ss/tf/config.toml").unwrap().to_owned()
    };
    assert!(config("").contains("    pod_labels_overwrite_allowed = \".*\"\n"));
    assert!(
        config("podLabelsOverwriteAllowed: '^team$'")
            .contains("    pod_labels_overwrite_allowed = \"^team$\"\n")
    );
    assert!(!config("podLabelsOverwriteAllowed: ''").contains("pod_labels_overwrite_allowed"));
    let pods = |p: Option<&str>| crate::access::PodSettings {
        labels_overwrite: p.map(str::to_owned),
        ..Default::default()
    };
    let widened = |a, b| {
        let (old, new) = (
            crate::access::Access {
                pods: Some(pods(a)),
                ..Default::default()
            },
            crate::access::Access {
                pods: Some(pods(b)),
                ..Default::default()
            },
        );
        crate::diff::security_changes("ss", "tf", &old, &new)
            .iter()
            .any(|c| c.widens())
    };
    assert!(widened(Some("^team$"), Some(".*")));
    assert!(widened(None, Some("^team$")));
    assert!(!widened(Some(".*"), None), "none is narrower than any");
}
