//! YAML bytes to a located value tree.
//!
//! serde-saphyr does the parsing (panic-free, with budgets that bound alias expansion and
//! nesting); this module only records where every node came from, so that schema and semantic
//! errors can point at `file:line:col`. Nothing here knows about the spec's shape.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;

/// A 1-based position in the spec file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// A YAML value with the position of every node.
#[derive(Clone, Debug)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Located>),
    /// Keys in document order; each key keeps its own position.
    Map(Vec<(Pos, String, Located)>),
}

#[derive(Clone, Debug)]
pub struct Located {
    pub pos: Pos,
    pub node: Node,
}

fn pos_of<T>(s: &Spanned<T>) -> Pos {
    Pos {
        line: s.referenced.line() as u32,
        col: s.referenced.column() as u32,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                i64::try_from(v)
                    .map(Node::Int)
                    .or(Ok(Node::Float(v as f64)))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
                Ok(i64::try_from(v)
                    .map(Node::Int)
                    .unwrap_or(Node::Float(v as f64)))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
                Ok(i64::try_from(v)
                    .map(Node::Int)
                    .unwrap_or(Node::Float(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element::<Spanned<Node>>()? {
                    items.push(Located {
                        pos: pos_of(&item),
                        node: item.value,
                    });
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut entries: Vec<(Pos, String, Located)> = Vec::new();
                // Keys seen so far: one lookup per key keeps a huge mapping linear.
                let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
                while let Some(key) = a.next_key::<Spanned<Node>>()? {
                    let kpos = pos_of(&key);
                    let name = match key.value {
                        Node::Str(s) => s,
                        Node::Int(i) => i.to_string(),
                        Node::Bool(b) => b.to_string(),
                        Node::Float(f) => f.to_string(),
                        Node::Null => "null".to_owned(),
                        Node::Seq(_) | Node::Map(_) => {
                            return Err(de::Error::custom(format!(
                                "line {}, column {}: a mapping key must be a plain scalar",
                                kpos.line, kpos.col
                            )));
                        }
                    };
                    let value = a.next_value::<Spanned<Node>>()?;
                    if !seen.insert(name.clone()) {
                        return Err(de::Error::custom(format!(
                            "line {}, column {}: duplicate key `{name}`",
                            kpos.line, kpos.col
                        )));
                    }
                    entries.push((
                        kpos,
                        name,
                        Located {
                            pos: pos_of(&value),
                            node: value.value,
                        },
                    ));
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// Where each JSON pointer of the converted document came from.
/// `key` is the position of the mapping key (for "unknown property" errors), `value` that of the value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub key: Option<Pos>,
    pub value: Pos,
    /// The pointer is a runner instance's (`/runners/<key>/overrides/<env>/…`) and the value
    /// is the runner's own, inherited by the override (`spec::instances`).
    pub inherited: bool,
}

pub type SourceMap = BTreeMap<String, Span>;

impl Located {
    /// Converts to JSON for schema validation, recording every node's position by JSON pointer.
    pub fn to_json(&self, map: &mut SourceMap) -> serde_json::Value {
        self.to_json_at(String::new(), None, map)
    }

    fn to_json_at(&self, ptr: String, key: Option<Pos>, map: &mut SourceMap) -> serde_json::Value {
        use serde_json::Value;
        let v = match &self.node {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| item.to_json_at(format!("{ptr}/{i}"), None, map))
                    .collect(),
            ),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(kpos, k, item)| {
                        let escaped = k.replace('~', "~0").replace('/', "~1");
                        (
                            k.clone(),
                            item.to_json_at(format!("{ptr}/{escaped}"), Some(*kpos), map),
                        )
                    })
                    .collect(),
            ),
        };
        map.insert(
            ptr,
            Span {
                key,
                value: self.pos,
                inherited: false,
            },
        );
        v
    }
}

/// A YAML syntax or budget error, with its position when the parser knows it.
#[derive(Debug)]
pub struct ParseError {
    pub pos: Option<Pos>,
    pub message: String,
}

/// Limits on what a spec may cost to read. A fleet spec is a few hundred lines; these bounds
/// are orders of magnitude above that and far below what would hurt the machine.
pub const MAX_SPEC_BYTES: usize = 8 * 1024 * 1024;

pub fn parse(text: &str) -> Result<Located, ParseError> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(ParseError {
            pos: None,
            message: format!(
                "the spec is {} bytes; runnergen reads specs up to {} bytes",
                text.len(),
                MAX_SPEC_BYTES
            ),
        });
    }
    let mut budget = serde_saphyr::budget::Budget::default();
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_events = 1_000_000;
    budget.max_nodes = 250_000;
    budget.max_depth = 64;
    let options = serde_saphyr::options! { budget: Some(budget) };
    match serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options) {
        Ok(s) => Ok(Located {
            pos: pos_of(&s),
            node: s.value,
        }),
        Err(e) => {
            let pos = e.location().filter(|l| l.line() > 0).map(|l| Pos {
                line: l.line() as u32,
                col: l.column() as u32,
            });
            Err(ParseError {
                pos,
                message: first_line(&e.to_string()),
            })
        }
    }
}

/// The parser's message without its own "error: line L column C:" prefix (the diagnostic
/// carries the position), and budget breaches in the user's terms.
fn first_line(s: &str) -> String {
    let mut msg = s.lines().next().unwrap_or("invalid YAML").trim();
    msg = msg.strip_prefix("error: ").unwrap_or(msg);
    if msg.starts_with("line ")
        && let Some(i) = msg.find(": ")
    {
        msg = &msg[i + 2..];
    }
    if let Some(what) = msg.strip_prefix("budget breached: ") {
        return format!(
            "the spec exceeds runnergen's reading budget ({what}): anchors and aliases may not multiply a document, nor may it nest deeper than 64 levels"
        );
    }
    if let Some(rest) = msg.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return format!("duplicate key `{key}`");
    }
    msg.to_owned()
}
