use super::*;
use proptest::prelude::*;
use serde_json::json;

/// What this writer wrote itself, without serde-saphyr's fallback (`None` when it declined).
fn own(v: &Value) -> Option<String> {
    let mut out = String::new();
    emit_document(&mut out, v).then_some(out)
}

#[test]
fn writes_block_style_as_serde_saphyr_does() {
    let v = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "annotations": {"azure.workload.identity/client-id": "6f1a4b2c-0000-4000-8000-000000000001"},
            "labels": {},
            "name": "gitlab-runner-packer",
        },
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "pods/exec"], "verbs": ["get", "create"]},
            {}
        ],
        "runners": {"config": "[[runners]]\n  executor = \"kubernetes\"\n\n  x = 1\n", "secret": "on"},
        "enabled": true,
        "replicas": 3,
        "url": "https://gitlab.com/",
        "drop": [],
    });
    let expected = "\
apiVersion: v1
drop: []
enabled: true
kind: ServiceAccount
metadata:
  annotations:
    azure.workload.identity/client-id: 6f1a4b2c-0000-4000-8000-000000000001
  labels: {}
  name: gitlab-runner-packer
replicas: 3
rules:
- apiGroups:
  - \"\"
  resources:
  - pods
  - pods/exec
  verbs:
  - get
  - create
- {}
runners:
  config: |
    [[runners]]
      executor = \"kubernetes\"

      x = 1
  secret: \"on\"
url: https://gitlab.com/
";
    assert_eq!(own(&v).as_deref(), Some(expected));
    assert_eq!(reference(&v), expected);
}

#[test]
fn hands_unusual_shapes_to_serde_saphyr() {
    for v in [
        json!({"a": 1.5}),
        json!({"a": null}),
        json!({"a": [[1, 2]]}),
        json!({"on": 1}),
        json!({"a: b": 1}),
        json!({"a": ["x\ny"]}),
        json!([1, 2]),
        json!("text"),
        json!({}),
    ] {
        assert_eq!(own(&v), None, "{v}");
        let mut out = String::new();
        push(&mut out, &v);
        assert_eq!(out, reference(&v), "{v}");
    }
}

#[test]
fn quotes_what_a_reader_would_take_for_something_else() {
    for s in [
        "true",
        "No",
        "y",
        "null",
        "~",
        "1",
        "0x1F",
        "1e3",
        "2026-11-28",
        "-",
        "- a",
        "#x",
        "a #x",
        "a: b",
        "a:",
        " a",
        "a ",
        "*x",
        "&x",
        "!x",
        "|",
        ">",
        "'",
        "\"",
        "%x",
        "@x",
        "`x",
        "a\tb",
        "",
        "<<",
        "---",
        "...",
        ".inf",
        "-.5",
        "12:30",
        ".",
        "#",
        "{{ .runnerToken }}",
        "{a\"b}",
        "[a\\b]",
        "5m",
        "0.86.0",
        "6f1a4b2c-0000-4000-8000-000000000001",
        "1234e567-89ab-4cde-8f01-23456789abcd",
        "00000000-0000-0000-0000-000000000000",
        "a\n",
        "a\nb",
        "a\n\n",
        "\n",
        " a\nb\n",
        "\n a\n",
        "a\n\tb\n",
        "a \n\nb\n",
        "é\n",
        "a\r\n",
    ] {
        let v = json!({ "k": s, "l": [s] });
        let mut out = String::new();
        push(&mut out, &v);
        assert_eq!(out, reference(&v), "{s:?}");
        let back: Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(back, v, "{s:?} does not read back as itself");
    }
}

/// Strings built from the characters that matter to YAML's plain and quoted styles.
fn text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a",
        "Z",
        "0",
        "9",
        " ",
        "-",
        "_",
        ".",
        "/",
        ":",
        "@",
        "=",
        "+",
        ",",
        "(",
        ")",
        "*",
        "#",
        "'",
        "\"",
        "\n",
        "\t",
        "\r",
        "\\",
        "[",
        "]",
        "{",
        "}",
        "!",
        "&",
        "|",
        ">",
        "%",
        "?",
        "~",
        "é",
        "\u{2028}",
        "\u{feff}",
        "true",
        "no",
        "null",
        "1",
        "0x",
        "e",
        ".5",
        "2026-01-02",
        ": ",
        " #",
        "---",
        "\n\n",
        "  ",
        "6f1a4b2c-0000-4000-8000-000000000001",
        "{{ x }}",
        "5m",
        "0.86.0",
    ]);
    prop::collection::vec(pieces, 0..8).prop_map(|p| p.concat())
}

/// A key; with `unusual`, also keys serde-saphyr quotes (`on`, any text).
fn key(unusual: bool) -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(vec![
            "name", "apiVersion", "app.kubernetes.io/name", "azure.workload.identity/use", "k_8",
            "a-b",
        ])
        .prop_map(str::to_owned),
        if unusual { 1 } else { 0 } => Just("on".to_owned()),
        if unusual { 2 } else { 0 } => text(),
    ]
}

/// Any value; with `unusual`, also nulls and floats, which this writer leaves to serde-saphyr.
fn value(unusual: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        6 => text().prop_map(Value::String),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        if unusual { 1 } else { 0 } => Just(Value::Null),
        if unusual { 1 } else { 0 } => Just(json!(0.25)),
    ];
    leaf.prop_recursive(4, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(unusual), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the value, the text is serde-saphyr's, byte for byte.
    #[test]
    fn agrees_with_serde_saphyr(m in prop::collection::btree_map(key(true), value(true), 1..6)) {
        let v = Value::Object(m.into_iter().collect());
        let mut out = String::new();
        push(&mut out, &v);
        prop_assert_eq!(out, reference(&v));
    }

    /// The same for the values a render builds (no null, no float), which this writer mostly
    /// writes itself: its own text, when it writes one, is serde-saphyr's.
    #[test]
    fn writes_what_serde_saphyr_writes(m in prop::collection::btree_map(key(false), value(false), 1..6)) {
        let v = Value::Object(m.into_iter().collect());
        if let Some(text) = own(&v) {
            prop_assert_eq!(text, reference(&v));
        }
    }
}

/// The generated values above are not all handed to serde-saphyr: most are this writer's own.
#[test]
fn generated_values_are_mostly_written_here() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::btree_map(key(false), value(false), 1..6);
    let own_written = (0..200)
        .filter(|_| {
            let m = strategy.new_tree(&mut runner).unwrap().current();
            own(&Value::Object(m.into_iter().collect())).is_some()
        })
        .count();
    assert!(own_written >= 60, "{own_written} of 200");
}
