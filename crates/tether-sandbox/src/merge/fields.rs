//! Field paths and field sets as server-side apply tracks them, and their
//! `FieldsV1` wire form (the `fieldsV1` of a `metadata.managedFields` entry).
//!
//! This follows structured-merge-diff (`fieldpath` and `typed` packages): a
//! path is a list of elements (object field, list-map key, set value or list
//! index), a set is a tree of such paths, and [`field_set_of`] computes which
//! fields a value sets when walked alongside its [`Schema`] (SMD's
//! `ToFieldSet`). The typed walks shared with `ssa.rs` (list item identity and
//! validation of an applied configuration) live here too.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::schema::{ListType, Schema};

/// One step of a field path.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// A field of an object (`f:name` in FieldsV1, `.name` when displayed).
    Field(String),
    /// An item of a list-map, identified by its key fields, sorted by name
    /// (`k:{"name":"nginx"}`, displayed `[name="nginx"]`).
    Key(Vec<(String, Value)>),
    /// An item of a set list, identified by its value (`v:"a"`, displayed `[="a"]`).
    Value(Value),
    /// An item of a list by position (`i:3`, displayed `[3]`). SMD only uses it
    /// for items of lists that are neither sets nor maps, which are atomic, so it
    /// is rare in practice.
    Index(usize),
}

impl PathElement {
    /// Rank of the element kind: SMD orders field names before keys before
    /// values before indexes, which fixes the order of FieldsV1 keys.
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The FieldsV1 key of this element (`f:`, `k:`, `v:` or `i:` prefixed).
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                // Built by hand so the key order is the (sorted) element order,
                // whatever the map implementation does.
                let mut out = String::from("k:{");
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&json_text(&Value::String(name.clone())));
                    out.push(':');
                    out.push_str(&json_text(value));
                }
                out.push('}');
                out
            }
            PathElement::Value(value) => format!("v:{}", json_text(value)),
            PathElement::Index(index) => format!("i:{index}"),
        }
    }

    /// Parses a FieldsV1 key back into an element.
    pub fn from_fields_v1_key(key: &str) -> Result<PathElement, String> {
        if let Some(name) = key.strip_prefix("f:") {
            return Ok(PathElement::Field(name.to_string()));
        }
        if let Some(json) = key.strip_prefix("k:") {
            let parsed: Value =
                serde_json::from_str(json).map_err(|e| format!("parsing key {key:?}: {e}"))?;
            let Value::Object(map) = parsed else {
                return Err(format!("key {key:?} is not a JSON object"));
            };
            let mut fields: Vec<(String, Value)> = map.into_iter().collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(PathElement::Key(fields));
        }
        if let Some(json) = key.strip_prefix("v:") {
            let parsed: Value =
                serde_json::from_str(json).map_err(|e| format!("parsing value {key:?}: {e}"))?;
            return Ok(PathElement::Value(parsed));
        }
        if let Some(index) = key.strip_prefix("i:") {
            let index = index
                .parse::<usize>()
                .map_err(|e| format!("parsing index {key:?}: {e}"))?;
            return Ok(PathElement::Index(index));
        }
        Err(format!("unknown path element {key:?}"))
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
                    let c = an.cmp(bn).then_with(|| compare_values(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// Equality must agree with the ordering (it is used as a map key), and the
// ordering deliberately equates 1 and 1.0 as SMD does.
impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                f.write_str("[")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}={}", json_text(value))?;
                }
                f.write_str("]")
            }
            PathElement::Value(value) => write!(f, "[={}]", json_text(value)),
            PathElement::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// Displays a path the way the API server does in conflicts and errors,
/// e.g. `.spec.template.spec.containers[name="nginx"].image`.
pub fn path_to_string(path: &[PathElement]) -> String {
    path.iter().map(|pe| pe.to_string()).collect()
}

/// Compact JSON text of a value (serializing a `Value` cannot fail).
fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// SMD's total order on values (`value.Compare`): numbers (ints and floats
/// compared numerically) < strings < booleans < lists < maps < null.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let int = |n: &serde_json::Number| {
                n.as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
            };
            match (int(x), int(y)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => {
                    let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                    x.partial_cmp(&y).unwrap_or(Ordering::Equal)
                }
            }
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (x, y) in x.iter().zip(y.iter()) {
                let c = compare_values(x, y);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut x: Vec<_> = x.iter().collect();
            let mut y: Vec<_> = y.iter().collect();
            x.sort_by(|a, b| a.0.cmp(b.0));
            y.sort_by(|a, b| a.0.cmp(b.0));
            for ((xk, xv), (yk, yv)) in x.iter().zip(y.iter()) {
                let c = xk.cmp(yk).then_with(|| compare_values(xv, yv));
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => rank(a).cmp(&rank(b)),
    }
}

/// True when two values are equal in SMD's sense (so `1` equals `1.0`).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    compare_values(a, b) == Ordering::Equal
}

/// A set of field paths, stored as a tree: `members` are the elements of this
/// level that are themselves in the set, `children` the elements under which
/// deeper paths are in the set. A node can be both (that is FieldsV1's `.`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    /// Never holds an empty set, so emptiness and equality stay structural.
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// A set holding exactly these paths.
    pub fn from_paths<'a, I: IntoIterator<Item = &'a [PathElement]>>(paths: I) -> FieldSet {
        let mut set = FieldSet::new();
        for path in paths {
            set.insert(path);
        }
        set
    }

    /// Adds one path (not its parents). The empty path, "the whole object",
    /// is never owned, as in SMD.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            // Look up before cloning: the element usually exists already.
            [first, rest @ ..] => match self.children.get_mut(first) {
                Some(child) => child.insert(rest),
                None => {
                    let mut child = FieldSet::new();
                    child.insert(rest);
                    self.put_child(first, child);
                }
            },
        }
    }

    /// True when `path` itself is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// Number of member paths.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// The elements of this level that are members.
    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    /// The elements of this level that are members or lead to members.
    pub fn elements(&self) -> BTreeSet<&PathElement> {
        let mut out: BTreeSet<&PathElement> = self.members.iter().collect();
        out.extend(self.children.keys());
        out
    }

    /// The subset under `pe`, with `pe` stripped (SMD's `WithPrefix`).
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_in_place(other);
        out
    }

    fn union_in_place(&mut self, other: &FieldSet) {
        for pe in &other.members {
            if !self.members.contains(pe) {
                self.members.insert(pe.clone());
            }
        }
        for (pe, child) in &other.children {
            match self.children.get_mut(pe) {
                Some(mine) => mine.union_in_place(child),
                None => self.put_child(pe, child.clone()),
            }
        }
    }

    /// Paths that are members of both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.intersection(&other.members).cloned().collect();
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                out.put_child(pe, child.intersection(theirs));
            }
        }
        out
    }

    /// Paths of `self` that are not members of `other`. Like SMD, removing a
    /// parent does not remove its children (`parent - child = parent`,
    /// `child - parent = child`); see [`FieldSet::recursive_difference`].
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, child) in &self.children {
            match other.children.get(pe) {
                Some(theirs) => out.put_child(pe, child.difference(theirs)),
                None => out.put_child(pe, child.clone()),
            }
        }
        out
    }

    /// Like [`FieldSet::difference`], but a member of `other` also removes
    /// everything under it.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, child) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            match other.children.get(pe) {
                Some(theirs) => out.put_child(pe, child.recursive_difference(theirs)),
                None => out.put_child(pe, child.clone()),
            }
        }
        out
    }

    fn put_child(&mut self, pe: &PathElement, child: FieldSet) {
        if !child.is_empty() {
            self.children.insert(pe.clone(), child);
        }
    }

    /// Every member path, in SMD's iteration order (this level's members, then
    /// each child's paths), which is also the order conflicts are reported in.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for pe in &self.members {
            let mut path = prefix.clone();
            path.push(pe.clone());
            out.push(path);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The member paths that have no member below them (the leaves of the tree).
    pub fn leaf_paths(&self) -> Vec<Vec<PathElement>> {
        self.paths()
            .into_iter()
            .filter(|p| {
                let (last, parent) = match p.split_last() {
                    Some(split) => split,
                    None => return false,
                };
                let mut node = Some(self);
                for pe in parent {
                    node = node.and_then(|n| n.children.get(pe));
                }
                node.and_then(|n| n.children.get(last)).is_none()
            })
            .collect()
    }

    /// The FieldsV1 JSON of this set: nested objects keyed by element, `{}`
    /// for leaves and a `"."` entry for a member that also has children.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        // Members and children interleave in element order, as SMD writes them.
        for pe in self.elements() {
            let value = match self.children.get(pe) {
                Some(child) => {
                    let mut inner = Map::new();
                    if self.members.contains(pe) {
                        inner.insert(".".to_string(), Value::Object(Map::new()));
                    }
                    if let Value::Object(rest) = child.to_fields_v1() {
                        inner.extend(rest);
                    }
                    Value::Object(inner)
                }
                None => Value::Object(Map::new()),
            };
            map.insert(pe.to_fields_v1_key(), value);
        }
        Value::Object(map)
    }

    /// Reads FieldsV1 JSON, skipping anything malformed.
    pub fn from_fields_v1(value: &Value) -> FieldSet {
        let mut set = FieldSet::new();
        if let Value::Object(map) = value {
            for (key, inner) in map {
                if key == "." {
                    continue;
                }
                if let Ok(pe) = PathElement::from_fields_v1_key(key) {
                    set.read_entry(pe, FieldSet::from_fields_v1(inner), inner);
                }
            }
        }
        set
    }

    /// Reads FieldsV1 JSON, failing on anything malformed (as the API server
    /// does when it decodes `managedFields`).
    pub fn try_from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = value else {
            return Err(format!("expected an object, got {}", json_text(value)));
        };
        let mut set = FieldSet::new();
        for (key, inner) in map {
            if key == "." {
                continue;
            }
            let pe = PathElement::from_fields_v1_key(key)?;
            let child = FieldSet::try_from_fields_v1(inner)?;
            set.read_entry(pe, child, inner);
        }
        Ok(set)
    }

    fn read_entry(&mut self, pe: PathElement, child: FieldSet, raw: &Value) {
        let is_leaf = raw.as_object().is_some_and(|m| m.is_empty());
        let has_self = raw.as_object().is_some_and(|m| m.contains_key("."));
        if is_leaf || has_self {
            self.members.insert(pe.clone());
        }
        self.put_child(&pe, child);
    }

    /// SMD's `EnsureNamedFieldsAreMembers`: also count declared object fields
    /// that lead to members as members themselves (`a` for `a.b.c` when `a` is
    /// a declared field). Pruning relies on it so that removing everything a
    /// manager set in a struct can remove the struct itself.
    pub fn ensure_named_fields_are_members(&self, schema: &Schema) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.clone();
        for (pe, child) in &self.children {
            let child_schema = match pe {
                PathElement::Field(name) => {
                    if is_declared(schema, name) {
                        out.members.insert(pe.clone());
                    }
                    schema.field(name)
                }
                PathElement::Key(_) => schema.items(),
                // SMD resolves nothing below set values and indexes.
                PathElement::Value(_) | PathElement::Index(_) => &DEDUCED,
            };
            out.put_child(pe, child.ensure_named_fields_are_members(child_schema));
        }
        out
    }
}

static DEDUCED: Schema = Schema::Deduced;

/// True when `name` is a declared field (a struct field in SMD terms) of an
/// object schema, as opposed to a key allowed by `additionalProperties`, an
/// unknown field, or any key of a deduced object.
pub fn is_declared(schema: &Schema, name: &str) -> bool {
    matches!(schema, Schema::Object(o) if o.fields.contains_key(name))
}

/// How a typed walk treats a value at some schema node.
pub(crate) enum Shape<'a> {
    /// One value, never looked into: scalars, atomic maps and lists, lists of
    /// deduced type, and values that do not fit their schema.
    Leaf,
    /// An object merged field by field.
    Map(&'a Map<String, Value>),
    /// A set or map list merged item by item.
    List(&'a [Value]),
    /// `null` where a granular map or list is expected: no items, no leaf.
    Null,
}

/// Classifies `value` against `schema` the way SMD resolves atoms.
pub(crate) fn shape<'a>(value: &'a Value, schema: &Schema) -> Shape<'a> {
    match schema {
        Schema::Scalar => Shape::Leaf,
        Schema::Object(o) if o.atomic => Shape::Leaf,
        Schema::Object(_) => match value {
            Value::Object(map) => Shape::Map(map),
            Value::Null => Shape::Null,
            _ => Shape::Leaf,
        },
        Schema::Array(a) if a.list_type == ListType::Atomic => Shape::Leaf,
        Schema::Array(_) => match value {
            Value::Array(items) => Shape::List(items),
            Value::Null => Shape::Null,
            _ => Shape::Leaf,
        },
        // Deduced: objects are granular, everything else (lists too) atomic;
        // null takes whatever form the other side of a merge has.
        Schema::Deduced => match value {
            Value::Object(map) => Shape::Map(map),
            Value::Null => Shape::Null,
            _ => Shape::Leaf,
        },
    }
}

/// The identity of an item of a set or map list (`list` is the list's schema):
/// its key fields for a map list, its value for a set. Errors read like SMD's.
pub fn list_item_element(item: &Value, list: &Schema) -> Result<PathElement, String> {
    let keys = match list.list_type() {
        ListType::Map(keys) if !keys.is_empty() => keys,
        // A map list without keys is a set, as in SMD.
        _ => {
            return match item {
                Value::Object(_) => Err(
                    "associative list without keys has an element that's a map type".to_string(),
                ),
                Value::Array(_) => {
                    Err("not supported: associative list with lists as elements".to_string())
                }
                Value::Null => Err(
                    "associative list without keys has an element that's an explicit null"
                        .to_string(),
                ),
                _ => Ok(PathElement::Value(item.clone())),
            };
        }
    };
    let map = match item {
        Value::Object(map) => map,
        Value::Null => {
            return Err("associative list with keys may not have a null element".to_string());
        }
        _ => return Err("associative list with keys may not have non-map elements".to_string()),
    };
    let mut fields = Vec::with_capacity(keys.len());
    for key in keys {
        match map.get(key) {
            Some(v) => fields.push((key.clone(), v.clone())),
            // The schema carries no defaults; the only list-map key with one in
            // the built-in API is `protocol` (ports of containers, services,
            // endpoints), which defaults to TCP there.
            None if key == "protocol" => fields.push((key.clone(), Value::from("TCP"))),
            None => {
                return Err(format!(
                    "associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                ));
            }
        }
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(PathElement::Key(fields))
}

/// The fields `value` sets, as SMD's `ToFieldSet` computes them: scalars,
/// atomic maps and atomic lists are leaves; list items of set and map lists
/// are members and (map lists) are descended; keys of an object that are not
/// declared fields (labels, `additionalProperties`, deduced objects) are
/// members; declared fields holding granular objects or lists are not members
/// themselves. An empty granular object under a declared field sets nothing.
pub fn field_set_of(value: &Value, schema: &Schema) -> FieldSet {
    let mut set = FieldSet::new();
    walk_field_set(value, schema, false, &mut Vec::new(), &mut set);
    set
}

/// [`field_set_of`] for an object of a built-in (typed) kind, whose merge schema
/// declares only the fields that carry merge markers. In a typed object a key
/// holding a non-empty object is a struct or map field of its parent, never a
/// member itself (SMD's rule for declared fields), while a key holding `null`
/// or `{}` is; so undeclared positions are judged by their values, and the
/// applier's entry records no `.` on `f:strategy` or `f:labels`.
pub fn field_set_of_typed(value: &Value, schema: &Schema) -> FieldSet {
    let mut set = FieldSet::new();
    walk_field_set(value, schema, true, &mut Vec::new(), &mut set);
    set
}

fn walk_field_set(
    value: &Value,
    schema: &Schema,
    typed: bool,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
) {
    match shape(value, schema) {
        Shape::Leaf => set.insert(path),
        Shape::Null => {}
        Shape::Map(map) => {
            for (key, child) in map {
                path.push(PathElement::Field(key.clone()));
                walk_field_set(child, schema.field(key), typed, path, set);
                let member = if typed {
                    match child {
                        Value::Object(m) => m.is_empty(),
                        Value::Null => true,
                        _ => !is_declared(schema, key),
                    }
                } else {
                    !is_declared(schema, key)
                };
                if member {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Shape::List(items) => {
            let elements: Vec<Option<PathElement>> = items
                .iter()
                .map(|item| list_item_element(item, schema).ok())
                .collect();
            let mut counts: BTreeMap<&PathElement, usize> = BTreeMap::new();
            for pe in elements.iter().flatten() {
                *counts.entry(pe).or_default() += 1;
            }
            for (item, pe) in items.iter().zip(&elements) {
                // Items without an identity cannot be tracked (a live object may
                // hold such items; applied configurations are validated first).
                let Some(pe) = pe else { continue };
                let count = counts.get(pe).copied().unwrap_or(0);
                path.push(pe.clone());
                // A duplicated item is owned as a whole, as SMD does for live
                // objects that hold duplicates.
                if count == 1 {
                    walk_field_set(item, schema.items(), typed, path, set);
                }
                set.insert(path);
                path.pop();
            }
        }
    }
}

/// Checks a value against the schema as SMD does when it converts an applied
/// configuration to a typed value: list items must have their identity, and it
/// must be unique; objects and lists must be objects and lists; fields must be
/// known. Returns SMD's messages, e.g.
/// `.spec.template.spec.containers: duplicate entries for key [name="nginx"]`.
pub fn validate(value: &Value, schema: &Schema) -> Vec<String> {
    let mut errors = Vec::new();
    validate_at(value, schema, &mut Vec::new(), &mut errors);
    errors
}

/// Joins validation errors like SMD's `ValidationErrors.Error()`.
pub fn format_errors(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        _ => {
            let mut out = String::from("errors:");
            for e in errors {
                out.push_str("\n  ");
                out.push_str(e);
            }
            out
        }
    }
}

fn error_at(path: &[PathElement], message: String, errors: &mut Vec<String>) {
    if path.is_empty() {
        errors.push(message);
    } else {
        errors.push(format!("{}: {message}", path_to_string(path)));
    }
}

fn validate_at(
    value: &Value,
    schema: &Schema,
    path: &mut Vec<PathElement>,
    errors: &mut Vec<String>,
) {
    match schema {
        Schema::Deduced | Schema::Scalar => {}
        Schema::Object(_) => match value {
            Value::Null => {}
            Value::Object(map) => {
                for (key, child) in map {
                    path.push(PathElement::Field(key.clone()));
                    if schema.is_unknown_field(key) {
                        error_at(path, "field not declared in schema".to_string(), errors);
                        path.pop();
                        // SMD stops looking at the object at the first unknown field.
                        break;
                    }
                    validate_at(child, schema.field(key), path, errors);
                    path.pop();
                }
            }
            other => error_at(
                path,
                format!("expected map, got {}", json_text(other)),
                errors,
            ),
        },
        Schema::Array(a) => match value {
            Value::Null => {}
            Value::Array(items) => {
                let mut seen: BTreeSet<PathElement> = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    let pe = if a.list_type == ListType::Atomic {
                        PathElement::Index(i)
                    } else {
                        match list_item_element(item, schema) {
                            Ok(pe) => pe,
                            Err(e) => {
                                // Without the identity nothing below can be
                                // checked, so SMD gives up on the list.
                                error_at(path, format!("element {i}: {e}"), errors);
                                return;
                            }
                        }
                    };
                    if !seen.insert(pe.clone()) {
                        error_at(path, format!("duplicate entries for key {pe}"), errors);
                    }
                    path.push(pe);
                    validate_at(item, schema.items(), path, errors);
                    path.pop();
                }
            }
            other => error_at(
                path,
                format!("expected list, got {}", json_text(other)),
                errors,
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ObjectSchema;
    use serde_json::json;
    use std::sync::Arc;

    use crate::schema::test_build::{keys, list, map_of, obj};

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.to_string())
    }

    fn deployment() -> Schema {
        let port = obj(vec![
            ("containerPort", Schema::Scalar),
            ("protocol", Schema::Scalar),
            ("name", Schema::Scalar),
        ]);
        let env = obj(vec![("name", Schema::Scalar), ("value", Schema::Scalar)]);
        let container = obj(vec![
            ("name", Schema::Scalar),
            ("image", Schema::Scalar),
            ("args", list(Schema::Scalar, ListType::Atomic)),
            ("ports", list(port, keys(&["containerPort", "protocol"]))),
            ("env", list(env, keys(&["name"]))),
        ]);
        let pod_spec = obj(vec![("containers", list(container, keys(&["name"])))]);
        let selector = Schema::Object(ObjectSchema {
            fields: [("matchLabels".to_string(), Arc::new(map_of(Schema::Scalar)))].into(),
            atomic: true,
            ..Default::default()
        });
        let spec = obj(vec![
            ("replicas", Schema::Scalar),
            ("selector", selector),
            ("template", obj(vec![("spec", pod_spec)])),
        ]);
        let meta = obj(vec![
            ("name", Schema::Scalar),
            ("labels", map_of(Schema::Scalar)),
            ("finalizers", list(Schema::Scalar, ListType::Set)),
        ]);
        obj(vec![
            ("apiVersion", Schema::Scalar),
            ("kind", Schema::Scalar),
            ("metadata", meta),
            ("spec", spec),
        ])
    }

    #[test]
    fn field_set_of_small_deployment_matches_server_encoding() {
        let config = json!({
            "spec": {
                "replicas": 3,
                "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}
            }
        });
        let set = field_set_of(&config, &deployment());
        assert_eq!(
            serde_json::to_string(&set.to_fields_v1()).unwrap(),
            r#"{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#
        );
    }

    #[test]
    fn multi_key_items_sort_their_keys_and_default_protocol() {
        let config = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "ports": [{"protocol": "UDP", "containerPort": 53}, {"containerPort": 80}]}
        ]}}}});
        let set = field_set_of(&config, &deployment());
        let text = serde_json::to_string(&set.to_fields_v1()).unwrap();
        assert!(
            text.contains(r#""k:{\"containerPort\":53,\"protocol\":\"UDP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}"#),
            "{text}"
        );
        // protocol is absent in the item, so only containerPort is set, but the
        // identity carries the default TCP.
        assert!(
            text.contains(
                r#""k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}"#
            ),
            "{text}"
        );
    }

    #[test]
    fn key_fields_are_sorted_by_name_not_by_list_map_keys_order() {
        // The server sorts the key fields of an item's identity by name.
        let schema = obj(vec![(
            "items",
            list(
                obj(vec![("name", Schema::Scalar), ("id", Schema::Scalar)]),
                keys(&["name", "id"]),
            ),
        )]);
        let set = field_set_of(&json!({"items": [{"name": "a", "id": 1}]}), &schema);
        let text = serde_json::to_string(&set.to_fields_v1()).unwrap();
        assert_eq!(
            text,
            r#"{"f:items":{"k:{\"id\":1,\"name\":\"a\"}":{".":{},"f:id":{},"f:name":{}}}}"#
        );
        assert_eq!(path_to_string(&set.paths()[0]), r#".items[id=1,name="a"]"#);
    }

    #[test]
    fn labels_sets_atomic_maps_and_atomic_lists() {
        let config = json!({
            "metadata": {"labels": {"app": "web"}, "finalizers": ["a", "b"]},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "c", "args": ["x", "y"]}]}}
            }
        });
        let set = field_set_of(&config, &deployment());
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:metadata": {
                    "f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}},
                    "f:labels": {"f:app": {}}
                },
                "f:spec": {
                    "f:selector": {},
                    "f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"c\"}": {".": {}, "f:args": {}, "f:name": {}}
                    }}}
                }
            })
        );
    }

    #[test]
    fn deduced_objects_own_every_key_and_nulls_and_empty_maps_follow_smd() {
        // Under a deduced schema every key is a member, so a non-empty object
        // gets ".", and an empty object is a leaf.
        let set = field_set_of(
            &json!({"spec": {"a": 1, "b": {}}, "x": null}),
            &Schema::Deduced,
        );
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:spec": {".": {}, "f:a": {}, "f:b": {}}, "f:x": {}})
        );
        // Under a declared struct field, null and {} set nothing, while an empty
        // label map key still owns its key.
        let set = field_set_of(
            &json!({"spec": null, "metadata": {"labels": {"a": ""}, "finalizers": []}}),
            &deployment(),
        );
        assert_eq!(
            set.to_fields_v1(),
            json!({"f:metadata": {"f:labels": {"f:a": {}}}})
        );
    }

    #[test]
    fn fields_v1_round_trip() {
        let raw = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}
                }}}
            },
            "f:status": {"f:conditions": {"v:\"x\"": {}, "i:3": {}}}
        });
        let set = FieldSet::try_from_fields_v1(&raw).unwrap();
        assert_eq!(set.to_fields_v1(), raw);
        assert_eq!(FieldSet::from_fields_v1(&raw), set);
        assert!(set.has(&[f("metadata"), f("labels")]));
        assert!(!set.has(&[f("metadata")]));
        assert!(set.has(&[f("status"), f("conditions"), PathElement::Index(3)]));
        assert_eq!(set.len(), 10);
        assert!(FieldSet::try_from_fields_v1(&json!({"x:foo": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"x:foo": {}, "f:a": {}})).has(&[f("a")]));
    }

    #[test]
    fn set_algebra_follows_smd() {
        let a =
            FieldSet::try_from_fields_v1(&json!({"f:a": {".": {}, "f:b": {}}, "f:c": {}})).unwrap();
        let b = FieldSet::try_from_fields_v1(&json!({"f:a": {}, "f:d": {}})).unwrap();
        assert_eq!(
            a.union(&b).to_fields_v1(),
            json!({"f:a": {".": {}, "f:b": {}}, "f:c": {}, "f:d": {}})
        );
        assert_eq!(a.intersection(&b).to_fields_v1(), json!({"f:a": {}}));
        // parent - parent leaves the child
        assert_eq!(
            a.difference(&b).to_fields_v1(),
            json!({"f:a": {"f:b": {}}, "f:c": {}})
        );
        // recursive difference takes the child along
        assert_eq!(
            a.recursive_difference(&b).to_fields_v1(),
            json!({"f:c": {}})
        );
        assert!(a.difference(&a).is_empty());
        assert_eq!(
            a.paths()
                .iter()
                .map(|p| path_to_string(p))
                .collect::<Vec<_>>(),
            vec![".a", ".c", ".a.b"]
        );
        assert_eq!(
            a.leaf_paths()
                .iter()
                .map(|p| path_to_string(p))
                .collect::<Vec<_>>(),
            vec![".c", ".a.b"]
        );
    }

    #[test]
    fn path_display() {
        let path = vec![
            f("spec"),
            f("containers"),
            PathElement::Key(vec![("name".into(), json!("nginx"))]),
            f("ports"),
            PathElement::Key(vec![
                ("containerPort".into(), json!(80)),
                ("protocol".into(), json!("TCP")),
            ]),
        ];
        assert_eq!(
            path_to_string(&path),
            r#".spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"]"#
        );
        assert_eq!(
            path_to_string(&[f("finalizers"), PathElement::Value(json!("a"))]),
            r#".finalizers[="a"]"#
        );
        assert_eq!(
            path_to_string(&[f("args"), PathElement::Index(3)]),
            ".args[3]"
        );
    }

    #[test]
    fn value_order_is_smds() {
        assert_eq!(compare_values(&json!(1), &json!(1.0)), Ordering::Equal);
        assert_eq!(compare_values(&json!(2), &json!(10)), Ordering::Less);
        assert_eq!(compare_values(&json!(99), &json!("a")), Ordering::Less);
        assert_eq!(compare_values(&json!("z"), &json!(true)), Ordering::Less);
        assert_eq!(compare_values(&json!({}), &json!(null)), Ordering::Less);
        assert_eq!(
            compare_values(&json!({"a": 1}), &json!({"a": 2})),
            Ordering::Less
        );
        // FieldsV1 keys come out in that order: fields, then keys, then values.
        let mut set = FieldSet::new();
        set.insert(&[PathElement::Value(json!("b"))]);
        set.insert(&[PathElement::Value(json!(5))]);
        set.insert(&[f("z")]);
        let text = serde_json::to_string(&set.to_fields_v1()).unwrap();
        assert_eq!(text, r#"{"f:z":{},"v:5":{},"v:\"b\"":{}}"#);
    }

    #[test]
    fn validation_messages() {
        let schema = deployment();
        let dup = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "nginx"}, {"name": "nginx", "image": "x"}
        ]}}}});
        assert_eq!(
            validate(&dup, &schema),
            vec![r#".spec.template.spec.containers: duplicate entries for key [name="nginx"]"#]
        );
        let missing = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        assert_eq!(
            validate(&missing, &schema),
            vec![
                r#".spec.template.spec.containers: element 0: associative list with keys has an element that omits key field "name" (and doesn't have default value)"#
            ]
        );
        let set_dup = json!({"metadata": {"finalizers": ["a", "a"]}});
        assert_eq!(
            validate(&set_dup, &schema),
            vec![r#".metadata.finalizers: duplicate entries for key [="a"]"#]
        );
        let unknown = json!({"spec": {"replicaz": 1}});
        assert_eq!(
            validate(&unknown, &schema),
            vec![".spec.replicaz: field not declared in schema"]
        );
        let wrong = json!({"spec": "x", "metadata": {"finalizers": {"a": 1}}});
        assert_eq!(validate(&wrong, &schema).len(), 2);
        assert!(format_errors(&validate(&wrong, &schema)).starts_with("errors:\n  "));
        assert!(validate(&json!({"spec": {"replicas": 1}}), &schema).is_empty());
    }

    #[test]
    fn named_fields_become_members() {
        let set = FieldSet::try_from_fields_v1(&json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {"f:image": {}}}}}}
        }))
        .unwrap();
        let named = set.ensure_named_fields_are_members(&deployment());
        assert!(named.has(&[f("metadata")]));
        assert!(named.has(&[f("metadata"), f("labels")]));
        // `app` is a label key, not a declared field: it was a member already.
        assert!(named.has(&[f("metadata"), f("labels"), f("app")]));
        let item = PathElement::Key(vec![("name".into(), json!("c"))]);
        let containers = [f("spec"), f("template"), f("spec"), f("containers")];
        assert!(named.has(&containers));
        // The list item itself is not a named field.
        assert!(!named.has(&[&containers[..], std::slice::from_ref(&item)].concat()));
        assert!(named.has(&[&containers[..], &[item, f("image")]].concat()));
    }
}
