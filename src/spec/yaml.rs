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
        d.deserialize_any(V)
    }
}

/// Builds a [`Node`] from any YAML value, remembering where each entry of a sequence or
/// mapping is, and refusing duplicate keys.
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
        // Keys seen so far: a small mapping (nearly all) is scanned, a large one gets a
        // set, so that a huge mapping stays linear.
        const SCAN: usize = 16;
        let mut seen: Option<std::collections::HashSet<String>> = None;
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
            let repeated = if entries.len() < SCAN {
                entries.iter().any(|(_, k, _)| *k == name)
            } else {
                let seen =
                    seen.get_or_insert_with(|| entries.iter().map(|(_, k, _)| k.clone()).collect());
                !seen.insert(name.clone())
            };
            if repeated {
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

/// Every node's [`Span`] by JSON pointer. It lives as long as the model (notes, lint findings
/// and render-time checks point back into the spec), so it is compact: the pointers of the
/// document share one string and sit in one sorted list, instead of an allocation and a tree
/// node each (a large fleet has some sixteen pointers per runner).
/// The few pointers added afterwards (values an instance inherits, `spec::instances`) go to a
/// small map beside it, which wins over the list.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    /// The recorded pointers, one after another.
    text: String,
    /// `(start, length, span)` of each recorded pointer in `text`, sorted by pointer once
    /// [`SourceMap::seal`]ed.
    spans: Vec<(u32, u32, Span)>,
    /// Pointers inserted after sealing.
    extra: BTreeMap<String, Span>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a pointer's span while the document is converted; [`SourceMap::seal`] comes
    /// before any look-up.
    fn record(&mut self, ptr: &str, span: Span) {
        let start =
            u32::try_from(self.text.len()).expect("pointers are bounded by MAX_POINTER_BYTES");
        self.text.push_str(ptr);
        self.spans.push((start, ptr.len() as u32, span));
    }

    /// Sorts what was recorded, for look-ups; a pointer recorded twice keeps its last span.
    fn seal(&mut self) {
        let text = std::mem::take(&mut self.text);
        let at = |entry: &(u32, u32, Span)| slice(&text, entry);
        // Stable, so that of equal pointers the last recorded stays last.
        self.spans.sort_by(|a, b| at(a).cmp(at(b)));
        self.spans.dedup_by(|later, kept| {
            let same = at(later) == at(kept);
            if same {
                kept.2 = later.2;
            }
            same
        });
        self.spans.shrink_to_fit();
        self.text = text;
        self.text.shrink_to_fit();
    }

    fn pointer(&self, i: usize) -> &str {
        slice(&self.text, &self.spans[i])
    }

    /// Where the first recorded pointer not before `ptr` is.
    fn lower_bound(&self, ptr: &str) -> usize {
        self.spans.partition_point(|e| slice(&self.text, e) < ptr)
    }

    pub fn get(&self, ptr: &str) -> Option<&Span> {
        if let Some(s) = self.extra.get(ptr) {
            return Some(s);
        }
        let i = self.lower_bound(ptr);
        (i < self.spans.len() && self.pointer(i) == ptr).then(|| &self.spans[i].2)
    }

    pub fn contains_key(&self, ptr: &str) -> bool {
        self.get(ptr).is_some()
    }

    /// Adds or replaces a pointer's span.
    pub fn insert(&mut self, ptr: String, span: Span) {
        self.extra.insert(ptr, span);
    }

    /// `ptr` and every pointer under it, with their spans, sorted.
    pub fn subtree(&self, ptr: &str) -> Vec<(String, Span)> {
        let within = |p: &str| {
            p.starts_with(ptr) && (p.len() == ptr.len() || p.as_bytes()[ptr.len()] == b'/')
        };
        let mut out: BTreeMap<String, Span> = (self.lower_bound(ptr)..self.spans.len())
            .map(|i| (self.pointer(i), self.spans[i].2))
            .take_while(|(p, _)| p.starts_with(ptr))
            .filter(|(p, _)| within(p))
            .map(|(p, s)| (p.to_owned(), s))
            .collect();
        out.extend(
            self.extra
                .range(ptr.to_owned()..)
                .take_while(|(p, _)| p.starts_with(ptr))
                .filter(|(p, _)| within(p))
                .map(|(p, s)| (p.clone(), *s)),
        );
        out.into_iter().collect()
    }
}

/// A recorded pointer's text: `(start, length, _)` into the map's one string.
fn slice<'t>(text: &'t str, &(start, len, _): &(u32, u32, Span)) -> &'t str {
    &text[start as usize..(start + len) as usize]
}

impl std::ops::Index<&str> for SourceMap {
    type Output = Span;
    fn index(&self, ptr: &str) -> &Span {
        self.get(ptr)
            .unwrap_or_else(|| panic!("no span recorded at {ptr}"))
    }
}

impl Located {
    /// Charges `left` for the pointer of this value (`prefix` bytes long) and of every value
    /// under it; where the first that does not fit is (its key's position in a mapping), if one
    /// does not.
    fn pointers_fit(&self, at: Pos, prefix: usize, left: &mut usize) -> Result<(), Pos> {
        *left = left.checked_sub(prefix).ok_or(at)?;
        match &self.node {
            Node::Seq(items) => items.iter().enumerate().try_for_each(|(i, item)| {
                let digits = i.checked_ilog10().unwrap_or(0) as usize + 1;
                item.pointers_fit(item.pos, prefix + 1 + digits, left)
            }),
            Node::Map(entries) => entries.iter().try_for_each(|(kpos, k, item)| {
                let escapes = k.bytes().filter(|b| matches!(b, b'~' | b'/')).count();
                item.pointers_fit(*kpos, prefix + 1 + k.len() + escapes, left)
            }),
            _ => Ok(()),
        }
    }

    /// Converts to JSON for schema validation, recording every node's position by JSON pointer.
    pub fn to_json(&self, map: &mut SourceMap) -> serde_json::Value {
        let doc = self.to_json_at(&mut String::new(), None, map);
        map.seal();
        doc
    }

    /// `ptr` is the node's pointer, grown and shrunk in place on the way down and up.
    fn to_json_at(
        &self,
        ptr: &mut String,
        key: Option<Pos>,
        map: &mut SourceMap,
    ) -> serde_json::Value {
        use serde_json::Value;
        use std::fmt::Write;
        let len = ptr.len();
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
                    .map(|(i, item)| {
                        let _ = write!(ptr, "/{i}");
                        let v = item.to_json_at(ptr, None, map);
                        ptr.truncate(len);
                        v
                    })
                    .collect(),
            ),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(kpos, k, item)| {
                        super::push_ptr_key(ptr, k);
                        let v = item.to_json_at(ptr, Some(*kpos), map);
                        ptr.truncate(len);
                        (k.clone(), v)
                    })
                    .collect(),
            ),
        };
        map.record(
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
    /// What to do, when the error has a cause of its own (a tab in indentation).
    pub hint: Option<&'static str>,
}

/// Limits on what a spec may cost to read. A fleet spec is a few hundred lines; these bounds
/// are orders of magnitude above that and far below what would hurt the machine.
pub const MAX_SPEC_BYTES: usize = 8 * 1024 * 1024;

/// Aliases (and anchors) a spec may use: enough for shared role lists, far too few to multiply.
pub const MAX_ALIASES: usize = 1_000;

/// How deep a spec may nest.
pub const MAX_DEPTH: usize = 64;

/// How many bytes the JSON pointers of a spec's values may take together: the source map keeps
/// one per value for as long as the model lives. A spec's pointers take about its own size, but
/// long keys with many values nested under them take quadratically more (sixty nested
/// 1,000-character keys over 20,000 values need some four thousand times the spec's size); this
/// bound is eight times the largest spec read.
pub const MAX_POINTER_BYTES: usize = 8 * MAX_SPEC_BYTES;

/// The node budget of a spec of `bytes` bytes: half its size, at least 250,000.
pub fn node_budget(bytes: usize) -> usize {
    (bytes / 2).max(250_000)
}

pub fn parse(text: &str) -> Result<Located, ParseError> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(ParseError {
            pos: None,
            message: format!(
                "the spec is {} bytes; runnergen reads specs up to {} bytes",
                text.len(),
                MAX_SPEC_BYTES
            ),
            hint: None,
        });
    }
    let mut budget = serde_saphyr::budget::Budget::default();
    budget.max_aliases = MAX_ALIASES;
    budget.max_anchors = MAX_ALIASES;
    budget.max_depth = MAX_DEPTH;
    // Nodes and events scale with the document: without aliases, a node takes at least two
    // bytes (`a,`), so a legitimate spec of N bytes has fewer than N/2 nodes. What aliases can
    // add on top stays bounded by the same figure, so a small alias bomb stops at the floor.
    budget.max_nodes = node_budget(text.len());
    budget.max_events = 2 * budget.max_nodes;
    let options = serde_saphyr::options! { budget: Some(budget) };
    match serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options) {
        Ok(s) => {
            let tree = Located {
                pos: pos_of(&s),
                node: s.value,
            };
            let mut left = MAX_POINTER_BYTES;
            match tree.pointers_fit(tree.pos, 0, &mut left) {
                Ok(()) => Ok(tree),
                Err(pos) => Err(ParseError {
                    pos: Some(pos),
                    message: format!(
                        "the spec exceeds runnergen's reading budget: its keys are too long for \
                         the values nested under them (the paths to its values take more than \
                         {} MiB)",
                        MAX_POINTER_BYTES >> 20
                    ),
                    hint: Some(
                        "shorten the keys above this value: no field of a fleet spec needs a key \
                         of more than a few hundred characters",
                    ),
                }),
            }
        }
        Err(e) => {
            let pos = e.location().filter(|l| l.line() > 0).map(|l| Pos {
                line: l.line() as u32,
                col: l.column() as u32,
            });
            let message = first_line(&e.to_string());
            // YAML forbids tabs in indentation (YAML 1.2 §6.1); the parser notices one only
            // where it breaks the structure, often a line later. Point at the tab itself.
            let before = pos.map_or(u32::MAX, |p| p.line.saturating_add(1));
            if let Some(tab) = indentation_tab(text).filter(|t| t.line <= before)
                && (message.contains("tab") || pos.is_none_or(|p| tab.line <= p.line))
            {
                return Err(ParseError {
                    pos: Some(tab),
                    message: "a tab in indentation: YAML indents with spaces only".into(),
                    hint: Some(
                        "replace the tab with spaces (and set your editor to insert spaces in YAML)",
                    ),
                });
            }
            Err(ParseError {
                pos,
                message,
                hint: None,
            })
        }
    }
}

/// The first tab in a line's leading whitespace, if any.
fn indentation_tab(text: &str) -> Option<Pos> {
    text.lines().enumerate().find_map(|(i, line)| {
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        let col = indent.find('\t')?;
        Some(Pos {
            line: i as u32 + 1,
            col: col as u32 + 1,
        })
    })
}

/// A breached reading budget in the user's terms (serde-saphyr's `BudgetBreach`, printed with
/// `Debug` as `Nodes { nodes: 250001 }`).
fn budget_in_words(what: &str) -> String {
    let kind = what.split([' ', '{']).next().unwrap_or(what);
    let count = what
        .split(|c: char| !c.is_ascii_digit())
        .find(|n| !n.is_empty())
        .unwrap_or("too many");
    let detail = match kind {
        "Nodes" | "Events" => format!(
            "it expands to more than {count} values (mappings, lists and scalars), more than a spec of its size can hold without aliases multiplying it"
        ),
        "Aliases" => format!("it uses more than {MAX_ALIASES} aliases (`*name`)"),
        "Anchors" => format!("it defines more than {MAX_ALIASES} anchors (`&name`)"),
        "Depth" => format!("it nests deeper than {MAX_DEPTH} levels"),
        "AliasAnchorRatio" => "it refers to its anchors far more often than a spec needs to".into(),
        "Documents" => "it holds more than one YAML document".into(),
        "ScalarBytes" | "InputBytes" => format!("it is larger than {MAX_SPEC_BYTES} bytes"),
        "MergeKeys" => "it uses too many merge keys (`<<`)".into(),
        _ => format!("a reading budget ({kind}) is exceeded"),
    };
    format!("the spec exceeds runnergen's reading budget: {detail}")
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
        return budget_in_words(what);
    }
    if msg.starts_with("recursion limit exceeded") {
        // The deserializer's own guard against deep nesting, reached before the depth budget.
        return budget_in_words("Depth");
    }
    if let Some(rest) = msg.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return format!("duplicate key `{key}`");
    }
    msg.to_owned()
}
