//! Server-side apply and field ownership (`metadata.managedFields`), as the
//! Kubernetes API server does it (KEP-555, structured-merge-diff's `merge`
//! package and the apiserver's field manager chain).
//!
//! [`apply`] merges an applied configuration into the live object, detects
//! conflicts with other managers, removes what the applier stopped applying
//! and records the applier's fields. [`update_managed_fields`] records the
//! ownership of every other write (create, update, non-apply patch).
//!
//! Besides SMD itself this reproduces the apiserver's wrappers around it:
//! metadata fields that are never owned (`StripMetaManager`), the
//! `before-first-apply` manager for objects that have no managedFields yet
//! (`SkipNonAppliedManager`), merging the fields of repeated updates of one
//! manager (`ManagedFieldsUpdater`), the cap of ten update entries
//! (`CapManagersManager`), kubectl's client-side to server-side apply upgrade
//! (`LastAppliedManager`/`LastAppliedUpdater`), resetting managedFields with
//! `[]` or `[{}]`, and the order entries are written in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::merge::fields::{
    self, FieldSet, PathElement, Shape, field_set_of, list_item_element, path_to_string, shape,
    values_equal,
};
use crate::schema::Schema;

/// The operation recorded in a managedFields entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// What the write may touch: the main resource of a kind with a status
/// subresource resets `status`; the status subresource resets everything but
/// `status`; kinds without a status subresource reset nothing. Reset fields
/// are left out of every field set and of conflict detection, and the applied
/// configuration's values for them are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    Status,
    AllButStatus,
    Nothing,
}

impl Reset {
    /// Removes the reset fields (and everything under them) from a set.
    fn filter(self, set: &FieldSet) -> FieldSet {
        let status = PathElement::Field("status".to_string());
        let ignored = match self {
            Reset::Nothing => return set.clone(),
            Reset::Status => FieldSet::from_paths([std::slice::from_ref(&status)]),
            Reset::AllButStatus => FieldSet::from_paths(
                set.elements()
                    .into_iter()
                    .filter(|pe| **pe != status)
                    .map(std::slice::from_ref),
            ),
        };
        set.recursive_difference(&ignored)
    }

    /// The applied configuration without the fields this write may not touch.
    fn strip_config(self, config: &Value) -> Value {
        let mut out = Map::new();
        if let Value::Object(map) = config {
            for (key, value) in map {
                let keep = match self {
                    Reset::Nothing => true,
                    Reset::Status => key != "status",
                    Reset::AllButStatus => key == "status",
                };
                if keep {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
        Value::Object(out)
    }
}

/// One field of an apply that another manager owns with a different value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    /// The apiVersion of the other manager's entry.
    pub api_version: String,
    /// The field, e.g. `.spec.replicas` or
    /// `.spec.template.spec.containers[name="nginx"].image`.
    pub field: String,
    /// The other manager's operation: the real server names the apiVersion
    /// only for `Update` managers.
    pub operation: Operation,
    /// The other manager's subresource, if it wrote through one.
    pub subresource: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// 409: fields owned by other managers would change.
    Conflicts(Vec<Conflict>),
    /// The configuration cannot be applied (not an object, duplicate or
    /// keyless list items, unknown fields, managedFields set, ...).
    Invalid(String),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Conflicts(conflicts) => f.write_str(&conflict_message(conflicts)),
            ApplyError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ApplyError {}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Only kubectl's own server-side apply upgrades from client-side apply.
const KUBECTL: &str = "kubectl";
const BEFORE_FIRST_APPLY: &str = "before-first-apply";
const ANCIENT_CHANGES: &str = "ancient-changes";
/// `DefaultMaxUpdateManagers`: more Update entries than this get merged.
const MAX_UPDATE_MANAGERS: usize = 10;
/// `TotalAnnotationSizeLimitB`: kubectl's annotation is dropped beyond it.
const ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Metadata fields the server keeps itself; they survive pruning whatever the
/// field sets say (the real server restores them on every write).
const IDENTITY_METADATA: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// Fields never recorded as owned: the apiserver's `StripMetaManager` list
/// (note `metadata` itself, so creating it is not ownership) plus the
/// deletion fields, which only the server sets.
fn stripped_fields() -> FieldSet {
    let f = |s: &str| PathElement::Field(s.to_string());
    let mut set = FieldSet::new();
    for top in ["apiVersion", "kind", "metadata"] {
        set.insert(&[f(top)]);
    }
    for meta in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        set.insert(&[f("metadata"), f(meta)]);
    }
    set
}

/// What tells managedFields entries apart (the apiserver's manager
/// identifier): the apiVersion only counts for Update entries, so an applier
/// keeps one entry across versions.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Identity {
    manager: String,
    operation: Operation,
    /// Empty for Apply entries.
    api_version: String,
    /// Empty when not written through a subresource.
    subresource: String,
}

impl Identity {
    fn apply(manager: &str, subresource: &str) -> Identity {
        Identity {
            manager: manager.to_string(),
            operation: Operation::Apply,
            api_version: String::new(),
            subresource: subresource.to_string(),
        }
    }

    fn update(manager: &str, api_version: &str, subresource: &str) -> Identity {
        Identity {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: api_version.to_string(),
            subresource: subresource.to_string(),
        }
    }

    /// The JSON identifier the apiserver builds; it sorts conflicts by it.
    fn key(&self) -> String {
        let mut map = Map::new();
        if !self.manager.is_empty() {
            map.insert("manager".into(), Value::from(self.manager.as_str()));
        }
        map.insert("operation".into(), Value::from(self.operation.as_str()));
        if !self.api_version.is_empty() {
            map.insert("apiVersion".into(), Value::from(self.api_version.as_str()));
        }
        if !self.subresource.is_empty() {
            map.insert("subresource".into(), Value::from(self.subresource.as_str()));
        }
        Value::Object(map).to_string()
    }
}

/// One decoded managedFields entry.
#[derive(Clone, Debug)]
struct Entry {
    id: Identity,
    api_version: String,
    /// Normalized RFC 3339 (UTC, seconds), as the server writes it.
    time: Option<String>,
    set: FieldSet,
}

fn find<'a>(entries: &'a [Entry], id: &Identity) -> Option<&'a Entry> {
    entries.iter().find(|e| &e.id == id)
}

fn find_mut<'a>(entries: &'a mut [Entry], id: &Identity) -> Option<&'a mut Entry> {
    entries.iter_mut().find(|e| &e.id == id)
}

/// Decodes `metadata.managedFields` with the apiserver's checks; any bad entry
/// makes the whole list unusable, as there.
fn decode_managed(value: Option<&Value>) -> Result<Vec<Entry>, String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("managedFields must be a list".to_string()),
    };
    let mut entries: Vec<Entry> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(format!("managed fields entry {i} is not an object"));
        };
        let text = |key: &str| -> Result<String, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(format!(
                    "{key} of managed fields entry {i} must be a string"
                )),
            }
        };
        let operation = match text("operation")?.as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err("operation must be `Apply` or `Update`".to_string()),
        };
        let api_version = text("apiVersion")?;
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".to_string());
        }
        match text("fieldsType")?.as_str() {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {other:?} in managed fields entry {i}"
                ));
            }
        }
        let time = match text("time")?.as_str() {
            "" => None,
            t => Some(
                parse_rfc3339(t)
                    .map(format_rfc3339)
                    .ok_or_else(|| format!("invalid time {t:?} in managed fields entry {i}"))?,
            ),
        };
        let set = match map.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(raw) => FieldSet::try_from_fields_v1(raw)?,
        };
        let manager = text("manager")?;
        let subresource = text("subresource")?;
        let id = match operation {
            Operation::Apply => Identity::apply(&manager, &subresource),
            Operation::Update => Identity::update(&manager, &api_version, &subresource),
        };
        let entry = Entry {
            id,
            api_version,
            time,
            set,
        };
        // The server keys entries by identity, so a repeated one replaces.
        match entries.iter_mut().find(|e| e.id == entry.id) {
            Some(existing) => *existing = entry,
            None => entries.push(entry),
        }
    }
    Ok(entries)
}

/// Encodes entries in the server's order: Apply before Update, then by time
/// (seconds), manager, apiVersion and subresource. No entries, no field.
fn encode_managed(entries: &[Entry]) -> Option<Value> {
    if entries.is_empty() {
        return None;
    }
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        let seconds = |e: &Entry| e.time.as_deref().and_then(parse_rfc3339).unwrap_or(0);
        a.id.operation
            .as_str()
            .cmp(b.id.operation.as_str())
            .then_with(|| seconds(a).cmp(&seconds(b)))
            .then_with(|| a.id.manager.cmp(&b.id.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.id.subresource.cmp(&b.id.subresource))
    });
    let list = sorted
        .into_iter()
        .map(|e| {
            let mut map = Map::new();
            if !e.id.manager.is_empty() {
                map.insert("manager".into(), Value::from(e.id.manager.as_str()));
            }
            map.insert("operation".into(), Value::from(e.id.operation.as_str()));
            map.insert("apiVersion".into(), Value::from(e.api_version.as_str()));
            if let Some(time) = &e.time {
                map.insert("time".into(), Value::from(time.as_str()));
            }
            map.insert("fieldsType".into(), Value::from("FieldsV1"));
            map.insert("fieldsV1".into(), e.set.to_fields_v1());
            if !e.id.subresource.is_empty() {
                map.insert("subresource".into(), Value::from(e.id.subresource.as_str()));
            }
            Value::Object(map)
        })
        .collect();
    Some(Value::Array(list))
}

/// `[]` and `[{}]` are how a client asks to drop all managedFields
/// (an absent or null list means "keep what is there").
fn is_reset_request(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Array(items)) => match items.as_slice() {
            [] => true,
            [Value::Object(map)] => map.values().all(|v| v.is_null() || v.as_str() == Some("")),
            _ => false,
        },
        _ => false,
    }
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

fn take_managed_fields(object: &mut Value) -> Option<Value> {
    object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|meta| meta.shift_remove("managedFields"))
}

/// Writes managedFields last in metadata, where the server's ObjectMeta has it.
fn set_managed_fields(object: &mut Value, fields: Option<Value>) {
    let Value::Object(map) = object else { return };
    match fields {
        Some(fields) => {
            let meta = map
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(meta) = meta {
                meta.shift_remove("managedFields");
                meta.insert("managedFields".into(), fields);
            }
        }
        None => {
            if let Some(Value::Object(meta)) = map.get_mut("metadata") {
                meta.shift_remove("managedFields");
            }
        }
    }
}

/// The fields that differ between two objects (SMD's `Compare`). A node that
/// appears or disappears as a whole is recorded itself too, which is where
/// the `.` of a newly created list item or map comes from.
#[derive(Debug, Default)]
struct Comparison {
    added: FieldSet,
    modified: FieldSet,
    removed: FieldSet,
}

impl Comparison {
    fn exclude(self, reset: Reset) -> Comparison {
        match reset {
            Reset::Nothing => self,
            r => Comparison {
                added: r.filter(&self.added),
                modified: r.filter(&self.modified),
                removed: r.filter(&self.removed),
            },
        }
    }
}

fn compare(old: &Value, new: &Value, schema: &Schema) -> Comparison {
    let mut cmp = Comparison::default();
    match value_structs_of(new).or_else(|| value_structs_of(old)) {
        Some(zero) => {
            let (old, new) = (with_value_structs(old, zero), with_value_structs(new, zero));
            compare_walk(Some(&old), Some(&new), schema, &mut Vec::new(), &mut cmp);
        }
        None => compare_walk(Some(old), Some(new), schema, &mut Vec::new(), &mut cmp),
    }
    cmp
}

/// The Go value structs of a built-in object's kind (see
/// [`crate::builtin_schema::value_structs`]); None for custom resources, whose
/// objects are unstructured and have no such fields.
fn value_structs_of(obj: &Value) -> Option<ZeroFields> {
    let api_version = obj.get("apiVersion")?.as_str()?;
    let kind = obj.get("kind")?.as_str()?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    crate::builtin_schema::builtin_schema(group, version, kind)?;
    Some(ZeroFields {
        structs: crate::builtin_schema::value_structs(group, kind),
        lists: crate::builtin_schema::value_lists(group, kind),
    })
}

/// What a built-in kind's zero object always has: value structs (`{}`) and
/// lists without omitempty (`null`).
#[derive(Clone, Copy)]
struct ZeroFields {
    structs: &'static [&'static [&'static str]],
    lists: &'static [&'static [&'static str]],
}

/// `obj` as the real server's typed object has it: every value struct and
/// non-omitempty list whose parent exists is present (`{}` and `null`) if it
/// was missing. Only compared, never stored.
fn with_value_structs(obj: &Value, zero: ZeroFields) -> std::borrow::Cow<'_, Value> {
    let needed = |v: &Value| {
        zero.structs
            .iter()
            .chain(zero.lists)
            .any(|p| missing_at(v, p))
    };
    if !obj.is_object() || !needed(obj) {
        return std::borrow::Cow::Borrowed(obj);
    }
    let mut out = obj.clone();
    fill_missing(&mut out, zero.structs, || Value::Object(Map::new()));
    fill_missing(&mut out, zero.lists, || Value::Null);
    std::borrow::Cow::Owned(out)
}

/// True when the parent of `path` is an object in `v` and `path` itself is absent.
fn missing_at(v: &Value, path: &[&str]) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    let mut cur = v;
    for key in parent {
        match cur.get(*key) {
            Some(next) if next.is_object() => cur = next,
            _ => return false,
        }
    }
    cur.get(*last).is_none()
}

/// Puts `value()` at each of `paths` (parents first) where [`missing_at`] holds.
fn fill_missing(obj: &mut Value, paths: &[&[&str]], value: impl Fn() -> Value) {
    for path in paths {
        if !missing_at(obj, path) {
            continue;
        }
        let Some((last, parent)) = path.split_last() else {
            continue;
        };
        let mut cur = &mut *obj;
        for key in parent {
            cur = &mut cur[*key];
        }
        if let Some(map) = cur.as_object_mut() {
            map.insert((*last).to_string(), value());
        }
    }
}

/// How a merge or comparison treats one node given both sides.
enum Plan<'a> {
    /// Compare or replace as a whole.
    Leaf,
    /// Walk object fields; either side may be missing.
    Map(
        Option<&'a Map<String, Value>>,
        Option<&'a Map<String, Value>>,
    ),
    /// Walk list items; either side may be missing.
    List(Option<&'a [Value]>, Option<&'a [Value]>),
}

/// SMD treats a node as a leaf when its type is atomic, and also when both
/// sides are empty or null, which keeps `{}` and `null` apart. (One schema
/// node yields either maps or lists, never both.)
fn plan<'a>(lhs: Option<&'a Value>, rhs: Option<&'a Value>, schema: &Schema) -> Plan<'a> {
    let (l, r) = (lhs.map(|v| shape(v, schema)), rhs.map(|v| shape(v, schema)));
    if matches!(l, Some(Shape::Leaf)) || matches!(r, Some(Shape::Leaf)) {
        return Plan::Leaf;
    }
    let map = |s: &Option<Shape<'a>>| match s {
        Some(Shape::Map(m)) => Some(*m),
        _ => None,
    };
    let list = |s: &Option<Shape<'a>>| match s {
        Some(Shape::List(items)) => Some(*items),
        _ => None,
    };
    let (lm, rm, ll, rl) = (map(&l), map(&r), list(&l), list(&r));
    if lm.is_some_and(|m| !m.is_empty()) || rm.is_some_and(|m| !m.is_empty()) {
        Plan::Map(lm, rm)
    } else if ll.is_some_and(|i| !i.is_empty()) || rl.is_some_and(|i| !i.is_empty()) {
        Plan::List(ll, rl)
    } else {
        Plan::Leaf
    }
}

/// The items of a set or map list in order, looked up by identity in
/// logarithmic time (lists of thousands of items are not unusual).
struct ItemIndex<'a> {
    order: Vec<(PathElement, &'a Value)>,
    by_identity: BTreeMap<PathElement, &'a Value>,
}

impl<'a> ItemIndex<'a> {
    /// Keeps the first of duplicates and leaves out items without identity.
    fn of(items: &'a [Value], schema: &Schema) -> ItemIndex<'a> {
        let mut index = ItemIndex {
            order: Vec::new(),
            by_identity: BTreeMap::new(),
        };
        for item in items {
            if let Ok(pe) = list_item_element(item, schema)
                && !index.by_identity.contains_key(&pe)
            {
                index.push(pe, item);
            }
        }
        index
    }

    fn push(&mut self, pe: PathElement, item: &'a Value) {
        self.by_identity.insert(pe.clone(), item);
        self.order.push((pe, item));
    }

    fn get(&self, pe: &PathElement) -> Option<&'a Value> {
        self.by_identity.get(pe).copied()
    }
}

fn compare_walk(
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    schema: &Schema,
    path: &mut Vec<PathElement>,
    cmp: &mut Comparison,
) {
    match plan(lhs, rhs, schema) {
        Plan::Leaf => {
            match (lhs, rhs) {
                (None, Some(_)) => cmp.added.insert(path),
                (Some(_), None) => cmp.removed.insert(path),
                (Some(l), Some(r)) if !values_equal(l, r) => cmp.modified.insert(path),
                _ => {}
            }
            return;
        }
        Plan::Map(l, r) => {
            let empty = Map::new();
            let (l, r) = (l.unwrap_or(&empty), r.unwrap_or(&empty));
            for (key, lv) in l {
                path.push(PathElement::Field(key.clone()));
                compare_walk(Some(lv), r.get(key), schema.field(key), path, cmp);
                path.pop();
            }
            for (key, rv) in r {
                if !l.contains_key(key) {
                    path.push(PathElement::Field(key.clone()));
                    compare_walk(None, Some(rv), schema.field(key), path, cmp);
                    path.pop();
                }
            }
        }
        Plan::List(l, r) => {
            let l = ItemIndex::of(l.unwrap_or(&[]), schema);
            let r = ItemIndex::of(r.unwrap_or(&[]), schema);
            for (pe, rv) in &r.order {
                path.push(pe.clone());
                compare_walk(l.get(pe), Some(rv), schema.items(), path, cmp);
                path.pop();
            }
            for (pe, lv) in &l.order {
                if r.get(pe).is_none() {
                    path.push(pe.clone());
                    compare_walk(Some(lv), None, schema.items(), path, cmp);
                    path.pop();
                }
            }
        }
    }
    match (lhs, rhs) {
        (None, Some(_)) => cmp.added.insert(path),
        (Some(_), None) => cmp.removed.insert(path),
        _ => {}
    }
}

/// Merges `rhs` (the applied configuration) into `lhs` (the live object) as
/// SMD's `Merge` does: objects field by field, set and map lists item by item,
/// everything atomic replaced by `rhs`.
fn merge_values(lhs: Option<&Value>, rhs: Option<&Value>, schema: &Schema) -> Option<Value> {
    match plan(lhs, rhs, schema) {
        Plan::Leaf => rhs.or(lhs).cloned(),
        Plan::Map(l, r) => {
            let empty = Map::new();
            let (l, r) = (l.unwrap_or(&empty), r.unwrap_or(&empty));
            let mut out = Map::new();
            for (key, lv) in l {
                if let Some(v) = merge_values(Some(lv), r.get(key), schema.field(key)) {
                    out.insert(key.clone(), v);
                }
            }
            for (key, rv) in r {
                if !l.contains_key(key)
                    && let Some(v) = merge_values(None, Some(rv), schema.field(key))
                {
                    out.insert(key.clone(), v);
                }
            }
            Some(Value::Object(out))
        }
        Plan::List(l, r) => Some(Value::Array(merge_lists(
            l.unwrap_or(&[]),
            r.unwrap_or(&[]),
            schema,
        ))),
    }
}

/// Merges two set or map lists, ordering the result as SMD does: items of the
/// configuration keep the configuration's relative order, live-only items
/// stay where they were relative to them.
fn merge_lists(lhs: &[Value], rhs: &[Value], schema: &Schema) -> Vec<Value> {
    let items = schema.items();
    let rhs = ItemIndex::of(rhs, schema);
    // Live items: identified ones in order; a live item without identity or a
    // later duplicate is kept as it is (a unique index stands in for its
    // identity), unless the configuration replaces that identity.
    let mut lhs_index = ItemIndex {
        order: Vec::new(),
        by_identity: BTreeMap::new(),
    };
    for (i, item) in lhs.iter().enumerate() {
        match list_item_element(item, schema) {
            Ok(pe) if lhs_index.get(&pe).is_none() => lhs_index.push(pe, item),
            Ok(pe) if rhs.get(&pe).is_some() => {}
            _ => lhs_index.push(PathElement::Index(i), item),
        }
    }
    let lhs = lhs_index;
    let mut shared = rhs
        .order
        .iter()
        .map(|(pe, _)| pe)
        .filter(|pe| lhs.get(pe).is_some());
    let mut next_shared = shared.next();
    let mut emitted: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(lhs.order.len().max(rhs.order.len()));
    let (mut li, mut ri) = (0, 0);
    while li < lhs.order.len() || ri < rhs.order.len() {
        if let (Some((lpe, lv)), Some((rpe, rv))) = (lhs.order.get(li), rhs.order.get(ri)) {
            if lpe == rpe {
                out.extend(merge_values(Some(lv), Some(rv), items));
                emitted.insert(rpe);
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if rhs.get(lpe).is_some() && next_shared.is_some_and(|n| n != lpe) {
                // Shared, but the configuration wants it later: emit it there.
                li += 1;
                continue;
            }
        }
        if let Some((lpe, lv)) = lhs.order.get(li) {
            if rhs.get(lpe).is_none() {
                out.extend(merge_values(Some(lv), None, items));
                li += 1;
                continue;
            }
            if emitted.contains(lpe) {
                li += 1;
                continue;
            }
        }
        if let Some((rpe, rv)) = rhs.order.get(ri) {
            out.extend(merge_values(lhs.get(rpe), Some(rv), items));
            emitted.insert(rpe);
            ri += 1;
            if next_shared == Some(rpe) {
                next_shared = shared.next();
            }
        } else {
            // Only shared live items already merged can remain here.
            li += 1;
        }
    }
    out
}

/// Removes the members of `set` from a value (SMD's `RemoveItems`). A removed
/// member takes everything under it along. An object or list emptied by the
/// removal goes too (`None`): SMD leaves a null there, which the server then
/// drops.
fn remove_items(value: &Value, set: &FieldSet, schema: &Schema) -> Option<Value> {
    match shape(value, schema) {
        Shape::Map(map) if !map.is_empty() => {
            let mut out = Map::new();
            for (key, child) in map {
                let pe = PathElement::Field(key.clone());
                if set.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                let kept = match set.child(&pe) {
                    Some(sub) => remove_items(child, sub, schema.field(key)),
                    None => Some(child.clone()),
                };
                if let Some(kept) = kept {
                    out.insert(key.clone(), kept);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Shape::List(items) if !items.is_empty() => {
            let mut out = Vec::new();
            for item in items {
                let Ok(pe) = list_item_element(item, schema) else {
                    out.push(item.clone());
                    continue;
                };
                if set.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                let kept = match set.child(&pe) {
                    Some(sub) => remove_items(item, sub, schema.items()),
                    None => Some(item.clone()),
                };
                out.extend(kept);
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        _ => Some(value.clone()),
    }
}

/// Removes what the applier applied last time and no longer applies, unless
/// some manager (the applier's new configuration included) still owns it:
/// SMD's `prune` with `addBackOwnedItems` and `addBackDanglingItems`.
fn prune(merged: &Value, entries: &[Entry], last: &FieldSet, schema: &Schema) -> Value {
    if last.is_empty() {
        return merged.clone();
    }
    let named = |set: &FieldSet| set.ensure_named_fields_are_members(schema);
    let remove = |set: &FieldSet| remove_items(merged, set, schema).unwrap_or_else(empty_object);
    // The same membership rules as the applier's recorded set (typed or not).
    let typed = value_structs_of(merged).is_some();
    let field_set_of = |v: &Value| {
        if typed {
            fields::field_set_of_typed(v, schema)
        } else {
            field_set_of(v, schema)
        }
    };
    let last = named(last);
    let merged_set = named(&field_set_of(merged));
    let owned = named(
        &entries
            .iter()
            .fold(FieldSet::new(), |acc, entry| acc.union(&entry.set)),
    );
    // Take out everything last applied, then put back whatever is owned.
    let pruned = remove(&last);
    let pruned_set = named(&field_set_of(&pruned));
    let pruned = remove(&merged_set.difference(&pruned_set.union(&owned)));
    // Only what the applier owned may go: put back anything else that went
    // along with it.
    let pruned_set = named(&field_set_of(&pruned));
    remove(&merged_set.difference(&pruned_set).intersection(&last))
}

/// Puts back the server-kept identity fields if pruning took them.
fn restore_identity(object: &mut Value, live: &Value) {
    let Value::Object(out) = object else { return };
    for key in ["apiVersion", "kind"] {
        if let Some(v) = live.get(key)
            && !out.contains_key(key)
        {
            out.insert(key.to_string(), v.clone());
        }
    }
    let Some(Value::Object(live_meta)) = live.get("metadata") else {
        return;
    };
    let meta = out
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        for key in IDENTITY_METADATA {
            if let Some(v) = live_meta.get(*key)
                && !meta.contains_key(*key)
            {
                meta.insert((*key).to_string(), v.clone());
            }
        }
    }
}

/// A conflict with its path kept structured (kubectl's upgrade path needs it).
type RawConflict = (Conflict, Vec<PathElement>);

/// SMD's `update`: compares old and new, and takes every changed field from
/// every entry but `workflow` (`None` stands for SMD's transient
/// "current-operation" manager, which owns nothing yet). Without `force`
/// changed fields that others own are conflicts instead. Removed fields leave
/// every other entry, and emptied entries are dropped.
fn update_ownership(
    old: &Value,
    new: &Value,
    schema: &Schema,
    reset: Reset,
    entries: &mut Vec<Entry>,
    workflow: Option<&Identity>,
    force: bool,
) -> Result<Comparison, Vec<RawConflict>> {
    let cmp = compare(old, new, schema).exclude(reset);
    let changed = cmp.modified.union(&cmp.added);
    let is_other = |e: &Entry| workflow != Some(&e.id);
    if !force {
        let mut clashes: Vec<(&Entry, FieldSet)> = entries
            .iter()
            .filter(|e| is_other(e))
            .map(|e| (e, e.set.intersection(&changed)))
            .filter(|(_, set)| !set.is_empty())
            .collect();
        if !clashes.is_empty() {
            clashes.sort_by_key(|(e, _)| e.id.key());
            let mut conflicts = Vec::new();
            for (entry, set) in clashes {
                for path in set.paths() {
                    let conflict = Conflict {
                        manager: entry.id.manager.clone(),
                        api_version: entry.api_version.clone(),
                        field: path_to_string(&path),
                        operation: entry.id.operation,
                        subresource: (!entry.id.subresource.is_empty())
                            .then(|| entry.id.subresource.clone()),
                    };
                    conflicts.push((conflict, path));
                }
            }
            return Err(conflicts);
        }
    }
    for entry in entries.iter_mut() {
        if is_other(&*entry) {
            entry.set = entry.set.difference(&changed).difference(&cmp.removed);
        }
    }
    entries.retain(|e| !e.set.is_empty());
    Ok(cmp)
}

/// Records a non-apply write by `id`: it takes the fields it added or changed
/// from everyone, removed fields leave everyone, and its new fields join what
/// it already owned (the apiserver's `ManagedFieldsUpdater`). The entry's time
/// only moves when the write changed something.
#[allow(clippy::too_many_arguments)]
fn record_update(
    old: &Value,
    new: &Value,
    schema: &Schema,
    reset: Reset,
    entries: &mut Vec<Entry>,
    id: &Identity,
    api_version: &str,
    now: &str,
) {
    let Ok(cmp) = update_ownership(old, new, schema, reset, entries, None, true) else {
        return;
    };
    let set = reset
        .filter(&cmp.modified.union(&cmp.added).difference(&cmp.removed))
        .difference(&stripped_fields());
    if !set.is_empty() {
        match find_mut(entries, id) {
            Some(entry) => {
                entry.set = set.union(&entry.set);
                entry.api_version = api_version.to_string();
                entry.time = Some(now.to_string());
            }
            None => entries.push(Entry {
                id: id.clone(),
                api_version: api_version.to_string(),
                time: Some(now.to_string()),
                set,
            }),
        }
    }
    cap_update_managers(entries);
}

/// Keeps at most ten Update entries by merging the oldest ones, per
/// apiVersion, into an `ancient-changes` entry (`CapManagersManager`).
fn cap_update_managers(entries: &mut Vec<Entry>) {
    let mut updaters: Vec<(i64, String, Identity)> = entries
        .iter()
        .filter(|e| e.id.operation == Operation::Update)
        .map(|e| {
            let seconds = e.time.as_deref().and_then(parse_rfc3339).unwrap_or(0);
            (seconds, e.id.key(), e.id.clone())
        })
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut count = updaters.len();
    let mut first_of_version: BTreeMap<String, Identity> = BTreeMap::new();
    for (_, _, id) in updaters {
        if count <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(entry) = find(entries, &id).cloned() else {
            continue;
        };
        let bucket = Identity::update(ANCIENT_CHANGES, &entry.api_version, "");
        let Some(first) = first_of_version.get(&entry.api_version).cloned() else {
            first_of_version.insert(entry.api_version.clone(), id);
            continue;
        };
        if id == bucket {
            // The server would fold the bucket into itself and lose it.
            continue;
        }
        if find(entries, &bucket).is_none()
            && let Some(first_entry) = find_mut(entries, &first)
        {
            // The first entry of this version becomes the bucket.
            first_entry.id = bucket.clone();
        }
        if let Some(bucket_entry) = find_mut(entries, &bucket) {
            bucket_entry.set = entry.set.union(&bucket_entry.set);
            bucket_entry.api_version = entry.api_version.clone();
            bucket_entry.time = entry.time.clone();
        }
        entries.retain(|e| e.id != id);
        count -= 1;
    }
}

/// SMD's `Apply` plus the apiserver's bookkeeping around it, for one attempt.
#[allow(clippy::too_many_arguments)]
fn apply_once(
    live: &Value,
    applied: &Value,
    mut entries: Vec<Entry>,
    id: &Identity,
    api_version: &str,
    force: bool,
    schema: &Schema,
    reset: Reset,
    now: &str,
) -> Result<(Value, Vec<Entry>), Vec<RawConflict>> {
    let merged = merge_values(Some(live), Some(applied), schema).unwrap_or_else(empty_object);
    let set = if value_structs_of(applied).is_some() {
        reset.filter(&fields::field_set_of_typed(applied, schema))
    } else {
        reset.filter(&field_set_of(applied, schema))
    };
    let last = find(&entries, id).map(|e| e.set.clone());
    match find_mut(&mut entries, id) {
        Some(entry) => {
            entry.set = set;
            entry.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            id: id.clone(),
            api_version: api_version.to_string(),
            time: None,
            set,
        }),
    }
    let mut object = match &last {
        Some(last) => prune(&merged, &entries, last, schema),
        None => merged,
    };
    restore_identity(&mut object, live);
    update_ownership(live, &object, schema, reset, &mut entries, Some(id), force)?;
    // Stripping happens after SMD ran: inside it the applier's metadata.name
    // and friends keep metadata from being pruned.
    if let Some(entry) = find_mut(&mut entries, id) {
        entry.set = entry.set.difference(&stripped_fields());
    }
    entries.retain(|e| !e.set.is_empty());
    // The server only stamps the time when the object changed.
    if values_equal(live, &object) {
        object = live.clone();
    } else if let Some(entry) = find_mut(&mut entries, id) {
        entry.time = Some(now.to_string());
    }
    Ok((object, entries))
}

/// Server-side apply of `config` by `manager` onto `live` (None = create).
/// Returns the merged object, with metadata.managedFields updated. `now` is an
/// RFC3339 time string for the managedFields `time`. `api_version` is the
/// apiVersion of the request (goes into the managedFields entry).
///
/// `metadata.managedFields` in `config` is ignored (the real server rejects
/// it with 400 "metadata.managedFields must be nil").
#[allow(clippy::too_many_arguments)]
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    schema: &Schema,
    reset: Reset,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
) -> Result<Value, ApplyError> {
    if !config.is_object() {
        return Err(ApplyError::Invalid(
            "the applied configuration must be a JSON object".to_string(),
        ));
    }
    let mut config = config.clone();
    take_managed_fields(&mut config);
    let config = &config;
    let errors = fields::validate(config, schema);
    if !errors.is_empty() {
        return Err(ApplyError::Invalid(fields::format_errors(&errors)));
    }
    let now = normalize_time(now);
    let subresource = subresource.unwrap_or("");
    let applied = reset.strip_config(config);
    let mut live_object = live.cloned().unwrap_or_else(empty_object);
    let live_fields = take_managed_fields(&mut live_object);
    let mut entries = decode_managed(live_fields.as_ref()).unwrap_or_default();
    if live.is_some() && entries.is_empty() {
        // An object nobody tracked yet: what is there belongs to
        // "before-first-apply", so the first apply can conflict with it.
        let before = Identity::update(BEFORE_FIRST_APPLY, api_version, subresource);
        record_update(
            &empty_object(),
            &live_object,
            schema,
            reset,
            &mut entries,
            &before,
            api_version,
            &now,
        );
    }
    let id = Identity::apply(manager, subresource);
    let attempt = |force: bool| {
        apply_once(
            &live_object,
            &applied,
            entries.clone(),
            &id,
            api_version,
            force,
            schema,
            reset,
            &now,
        )
    };
    let (mut object, entries) = match attempt(force) {
        Ok(done) => done,
        Err(conflicts) => {
            // kubectl upgrading from client-side apply: conflicts on fields it
            // set through last-applied-configuration (and that still hold
            // those values) are not conflicts.
            let allowed = (manager == KUBECTL)
                .then(|| allowed_by_last_applied(&live_object, api_version, schema))
                .flatten();
            let remaining: Vec<Conflict> = conflicts
                .into_iter()
                .filter(|(_, path)| !allowed.as_ref().is_some_and(|a| a.has(path)))
                .map(|(c, _)| c)
                .collect();
            if !remaining.is_empty() {
                return Err(ApplyError::Conflicts(remaining));
            }
            match attempt(true) {
                Ok(done) => done,
                Err(c) => {
                    return Err(ApplyError::Conflicts(
                        c.into_iter().map(|(c, _)| c).collect(),
                    ));
                }
            }
        }
    };
    if manager == KUBECTL {
        sync_last_applied(&mut object, config);
    }
    set_managed_fields(&mut object, encode_managed(&entries));
    Ok(object)
}

/// The fields kubectl's last-applied-configuration annotation set and that
/// still hold those values (`lastAppliedManager`), if the annotation is usable.
fn allowed_by_last_applied(live: &Value, api_version: &str, schema: &Schema) -> Option<FieldSet> {
    let text = live
        .get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    if text.is_empty() {
        return None;
    }
    let last: Value = serde_json::from_str(text).ok()?;
    if !last.is_object() || last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    if !fields::validate(&last, schema).is_empty() {
        return None;
    }
    let cmp = compare(&last, live, schema);
    Some(
        field_set_of(&last, schema)
            .difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// kubectl's server-side apply keeps an existing last-applied-configuration
/// annotation in step with what it applied (`lastAppliedUpdater`), so a later
/// client-side apply still works.
fn sync_last_applied(object: &mut Value, applied: &Value) {
    let has_annotation = object
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has_annotation {
        return;
    }
    let mut copy = applied.clone();
    if let Some(Value::Object(annotations)) = copy
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        annotations.shift_remove(LAST_APPLIED);
    }
    let text = go_json(&copy);
    let Some(Value::Object(annotations)) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    else {
        return;
    };
    annotations.insert(LAST_APPLIED.to_string(), Value::String(text));
    let size: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > ANNOTATION_SIZE_LIMIT {
        annotations.shift_remove(LAST_APPLIED);
    }
}

/// JSON as Go's encoder writes an unstructured object: keys sorted, HTML
/// characters escaped, a trailing newline.
fn go_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .filter_map(|k| map.get(k).map(|v| (k.clone(), sorted(v))))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut text = sorted(value)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    text.push('\n');
    text
}

/// A non-apply write (create, update/PUT, any non-apply patch) that turned
/// `old` (None = create) into `new`: updates new's metadata.managedFields so
/// `manager` (operation Update) owns every field it added or changed, and
/// removes those fields from other managers' sets. Entries whose set becomes
/// empty are dropped.
///
/// As on the real server, managedFields sent in `new` replace the stored ones
/// before the write is recorded (`[]` or `[{}]` clear them; absent, null or
/// undecodable ones keep the stored list); through a subresource they are
/// ignored. An existing object without managedFields stays untracked until
/// it is applied to. Writes through the `status` subresource record only
/// `status` fields; see [`update_managed_fields_with_reset`] to choose.
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    schema: &Schema,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let reset = match subresource {
        Some("status") => Reset::AllButStatus,
        _ => Reset::Nothing,
    };
    update_managed_fields_with_reset(
        old,
        new,
        manager,
        schema,
        reset,
        api_version,
        subresource,
        now,
    )
}

/// [`update_managed_fields`] with the reset fields given explicitly, for
/// callers that have not already reset them in `new` (e.g. `Reset::Status`
/// on the main resource, so status changes are not recorded there).
#[allow(clippy::too_many_arguments)]
pub fn update_managed_fields_with_reset(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    schema: &Schema,
    reset: Reset,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let now = normalize_time(now);
    let subresource = subresource.unwrap_or("");
    let sent = take_managed_fields(new);
    let mut old_object = old.cloned().unwrap_or_else(empty_object);
    let stored = take_managed_fields(&mut old_object);
    let stored_entries = || decode_managed(stored.as_ref()).unwrap_or_default();
    let mut entries = if !subresource.is_empty() {
        stored_entries()
    } else if is_reset_request(sent.as_ref()) {
        Vec::new()
    } else {
        match decode_managed(sent.as_ref()) {
            Ok(entries) if !entries.is_empty() => entries,
            _ => stored_entries(),
        }
    };
    if old.is_some() && entries.is_empty() {
        return;
    }
    let id = Identity::update(manager, api_version, subresource);
    record_update(
        &old_object,
        new,
        schema,
        reset,
        &mut entries,
        &id,
        api_version,
        &now,
    );
    set_managed_fields(new, encode_managed(&entries));
}

/// Formats the 409 message like the real server:
/// `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`,
/// and for several, grouped by manager:
/// `Apply failed with 2 conflicts: conflicts with "m" using apps/v1:\n- .spec.a\n- .spec.b`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            print_manager(one),
            one.field
        );
    }
    let mut groups: Vec<(String, &Conflict, Vec<&str>)> = Vec::new();
    for c in conflicts {
        let key = conflict_identity(c).key();
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, fields)) => fields.push(&c.field),
            None => groups.push((key, c, vec![&c.field])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let mut lines = Vec::new();
    for (_, c, fields) in groups {
        lines.push(format!("conflicts with {}:", print_manager(c)));
        lines.extend(fields.into_iter().map(|f| format!("- {f}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// The per-cause message: `conflict with "m" using apps/v1`.
pub fn cause_message(c: &Conflict) -> String {
    format!("conflict with {}", print_manager(c))
}

fn conflict_identity(c: &Conflict) -> Identity {
    let subresource = c.subresource.as_deref().unwrap_or("");
    match c.operation {
        Operation::Apply => Identity::apply(&c.manager, subresource),
        Operation::Update => Identity::update(&c.manager, &c.api_version, subresource),
    }
}

/// The apiserver's `printManager`: the name, the subresource if any, and for
/// Update managers the apiVersion.
fn print_manager(c: &Conflict) -> String {
    let mut out = go_quote(&c.manager);
    if let Some(sub) = c.subresource.as_deref().filter(|s| !s.is_empty()) {
        out.push_str(&format!(" with subresource {}", go_quote(sub)));
    }
    if c.operation == Operation::Update {
        out.push_str(&format!(" using {}", c.api_version));
    }
    out
}

/// Go's `%q` for the printable strings manager names are.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Seconds since the epoch of an RFC 3339 time (`2024-05-01T10:00:00Z`,
/// fractions and offsets allowed).
fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = 19;
    if b.get(rest) == Some(&b'.') {
        rest += 1;
        let start = rest;
        while b.get(rest).is_some_and(u8::is_ascii_digit) {
            rest += 1;
        }
        if rest == start {
            return None;
        }
    }
    let offset = match b.get(rest)? {
        b'Z' | b'z' if rest + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if rest + 6 == b.len() && b.get(rest + 3) == Some(&b':') => {
            let minutes = num(rest + 1..rest + 3)? * 60 + num(rest + 4..rest + 6)?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The time as the server writes it: UTC, whole seconds.
fn format_rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn normalize_time(text: &str) -> String {
    parse_rfc3339(text).map_or_else(|| text.to_string(), format_rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ListType, ObjectSchema};
    use serde_json::json;
    use std::sync::Arc;

    const T1: &str = "2024-05-01T10:00:00Z";
    const T2: &str = "2024-05-01T11:00:00Z";
    const T3: &str = "2024-05-01T12:00:00Z";

    use crate::schema::test_build::{keys, list, map_of, obj};

    /// A Deployment-like schema: list-maps for containers, env and ports, a
    /// set for finalizers, an atomic map selector and an atomic args list.
    fn deployment() -> Schema {
        let port = obj(vec![
            ("containerPort", Schema::Scalar),
            ("protocol", Schema::Scalar),
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
            ("paused", Schema::Scalar),
            ("selector", selector),
            (
                "template",
                obj(vec![
                    ("metadata", obj(vec![("labels", map_of(Schema::Scalar))])),
                    ("spec", pod_spec),
                ]),
            ),
        ]);
        let meta = obj(vec![
            ("name", Schema::Scalar),
            ("namespace", Schema::Scalar),
            ("uid", Schema::Scalar),
            ("resourceVersion", Schema::Scalar),
            ("labels", map_of(Schema::Scalar)),
            ("annotations", map_of(Schema::Scalar)),
            ("finalizers", list(Schema::Scalar, ListType::Set)),
            ("managedFields", list(Schema::Deduced, ListType::Atomic)),
        ]);
        let status = obj(vec![
            ("replicas", Schema::Scalar),
            ("phase", Schema::Scalar),
        ]);
        obj(vec![
            ("apiVersion", Schema::Scalar),
            ("kind", Schema::Scalar),
            ("metadata", meta),
            ("spec", spec),
            ("status", status),
        ])
    }

    fn deploy(spec: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": spec
        })
    }

    fn nginx(replicas: i64) -> Value {
        deploy(json!({
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}
        }))
    }

    fn run_apply(
        live: Option<&Value>,
        config: &Value,
        manager: &str,
        force: bool,
        now: &str,
    ) -> Result<Value, ApplyError> {
        apply(
            live,
            config,
            manager,
            force,
            &deployment(),
            Reset::Status,
            "apps/v1",
            None,
            now,
        )
    }

    fn entries(object: &Value) -> Vec<Value> {
        object["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn entry<'a>(list: &'a [Value], manager: &str, operation: &str) -> &'a Value {
        list.iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
            .unwrap_or_else(|| panic!("no {operation} entry for {manager} in {list:?}"))
    }

    fn owned(object: &Value, manager: &str, operation: &str) -> FieldSet {
        FieldSet::try_from_fields_v1(&entry(&entries(object), manager, operation)["fieldsV1"])
            .unwrap()
    }

    fn p(path: &str) -> Vec<PathElement> {
        // Only plain field paths, e.g. "spec.replicas".
        path.split('.')
            .map(|s| PathElement::Field(s.to_string()))
            .collect()
    }

    fn item(name: &str) -> PathElement {
        PathElement::Key(vec![("name".to_string(), json!(name))])
    }

    fn containers() -> Vec<PathElement> {
        p("spec.template.spec.containers")
    }

    fn conflicts(result: Result<Value, ApplyError>) -> Vec<Conflict> {
        match result {
            Err(ApplyError::Conflicts(c)) => c,
            other => panic!("expected conflicts, got {other:?}"),
        }
    }

    #[test]
    fn create_records_the_appliers_fields_like_the_server() {
        let config = nginx(3);
        let created = run_apply(None, &config, "kubectl", false, T1).unwrap();
        let list = entries(&created);
        assert_eq!(list.len(), 1);
        assert_eq!(
            serde_json::to_string(&list[0]).unwrap(),
            concat!(
                r#"{"manager":"kubectl","operation":"Apply","apiVersion":"apps/v1","time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1","#,
                r#""fieldsV1":{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}}"#
            )
        );
        let mut without = created.clone();
        take_managed_fields(&mut without);
        assert_eq!(without, config);
    }

    #[test]
    fn status_subresource_entries_say_so_and_reset_the_rest() {
        let live = run_apply(None, &nginx(1), "deployer", false, T1).unwrap();
        let config = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 9},
            "status": {"replicas": 1}
        });
        let out = apply(
            Some(&live),
            &config,
            "ctrl",
            false,
            &deployment(),
            Reset::AllButStatus,
            "apps/v1",
            Some("status"),
            T2,
        )
        .unwrap();
        assert_eq!(out["status"], json!({"replicas": 1}));
        assert_eq!(
            out["spec"]["replicas"], 1,
            "spec is not writable through status"
        );
        let e = entry(&entries(&out), "ctrl", "Apply").clone();
        assert_eq!(e["subresource"], "status");
        assert_eq!(e["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));
        // And the main resource ignores status.
        let config = deploy(json!({"replicas": 1}));
        let mut with_status = config.clone();
        with_status["status"] = json!({"phase": "x"});
        let out2 = run_apply(Some(&out), &with_status, "deployer", false, T3).unwrap();
        assert_eq!(out2["status"], json!({"replicas": 1}));
        assert!(!owned(&out2, "deployer", "Apply").has(&p("status.phase")));
    }

    #[test]
    fn without_a_status_subresource_status_is_an_ordinary_field() {
        let mut config = nginx(1);
        config["status"] = json!({"phase": "Ready"});
        let out = apply(
            None,
            &config,
            "m",
            false,
            &deployment(),
            Reset::Nothing,
            "apps/v1",
            None,
            T1,
        )
        .unwrap();
        assert_eq!(out["status"], json!({"phase": "Ready"}));
        assert!(owned(&out, "m", "Apply").has(&p("status.phase")));
        let mut changed = out.clone();
        changed["status"]["phase"] = json!("Gone");
        update_managed_fields_with_reset(
            Some(&out),
            &mut changed,
            "u",
            &deployment(),
            Reset::Nothing,
            "apps/v1",
            None,
            T2,
        );
        assert!(owned(&changed, "u", "Update").has(&p("status.phase")));
        // With Reset::Status the same write is not recorded for the main resource.
        let mut again = out.clone();
        again["status"]["phase"] = json!("Gone");
        update_managed_fields_with_reset(
            Some(&out),
            &mut again,
            "u",
            &deployment(),
            Reset::Status,
            "apps/v1",
            None,
            T2,
        );
        assert!(entries(&again).iter().all(|e| e["manager"] != "u"));
        assert!(owned(&again, "m", "Apply").has(&p("status.phase")));
    }

    #[test]
    fn conflict_with_another_applier() {
        let live = run_apply(None, &nginx(3), "alice", false, T1).unwrap();
        let c = conflicts(run_apply(
            Some(&live),
            &deploy(json!({"replicas": 5})),
            "bob",
            false,
            T2,
        ));
        assert_eq!(
            c,
            vec![Conflict {
                manager: "alice".into(),
                api_version: "apps/v1".into(),
                field: ".spec.replicas".into(),
                operation: Operation::Apply,
                subresource: None,
            }]
        );
        assert_eq!(
            conflict_message(&c),
            r#"Apply failed with 1 conflict: conflict with "alice": .spec.replicas"#
        );
        assert_eq!(cause_message(&c[0]), r#"conflict with "alice""#);
    }

    #[test]
    fn conflict_with_an_update_manager_and_force() {
        let live = run_apply(None, &nginx(3), "deployer", false, T1).unwrap();
        // `kubectl scale` writes through the scale subresource as "kubectl".
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        update_managed_fields(
            Some(&live),
            &mut scaled,
            "kubectl",
            &deployment(),
            "apps/v1",
            Some("scale"),
            T2,
        );
        let scale_entry = entry(&entries(&scaled), "kubectl", "Update").clone();
        assert_eq!(scale_entry["subresource"], "scale");
        assert_eq!(
            scale_entry["fieldsV1"],
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert!(!owned(&scaled, "deployer", "Apply").has(&p("spec.replicas")));

        let err = run_apply(Some(&scaled), &nginx(3), "deployer", false, T3).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas"#
        );

        let forced = run_apply(Some(&scaled), &nginx(3), "deployer", true, T3).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        assert!(owned(&forced, "deployer", "Apply").has(&p("spec.replicas")));
        // kubectl owned nothing else, so its entry is gone.
        assert!(entries(&forced).iter().all(|e| e["manager"] != "kubectl"));
    }

    #[test]
    fn conflict_with_client_side_apply_names_the_version() {
        // An object created and edited by non-apply writes.
        let mut created = nginx(2);
        update_managed_fields(
            None,
            &mut created,
            "kubectl-client-side-apply",
            &deployment(),
            "apps/v1",
            None,
            T1,
        );
        let c = conflicts(run_apply(
            Some(&created),
            &deploy(json!({"replicas": 4, "paused": true})),
            "mgr",
            false,
            T2,
        ));
        assert_eq!(c.len(), 1);
        assert_eq!(
            cause_message(&c[0]),
            r#"conflict with "kubectl-client-side-apply" using apps/v1"#
        );
        assert_eq!(
            conflict_message(&c),
            r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
        );
        // Adding a field nobody had does not conflict.
        let ok = run_apply(
            Some(&created),
            &deploy(json!({"replicas": 2, "paused": true})),
            "mgr",
            false,
            T2,
        )
        .unwrap();
        assert_eq!(ok["spec"]["paused"], true);
    }

    #[test]
    fn conflict_message_groups_by_manager() {
        let c = |manager: &str, op, field: &str| Conflict {
            manager: manager.into(),
            api_version: "apps/v1".into(),
            field: field.into(),
            operation: op,
            subresource: None,
        };
        let list = vec![
            c("m", Operation::Update, ".spec.a"),
            c("a", Operation::Apply, ".spec.c"),
            c("m", Operation::Update, ".spec.b"),
        ];
        assert_eq!(
            conflict_message(&list),
            "Apply failed with 3 conflicts: conflicts with \"a\":\n- .spec.c\nconflicts with \"m\" using apps/v1:\n- .spec.a\n- .spec.b"
        );
        assert_eq!(
            conflict_message(&list[0..1]),
            r#"Apply failed with 1 conflict: conflict with "m" using apps/v1: .spec.a"#
        );
    }

    #[test]
    fn several_conflicts_come_in_set_order() {
        let live = run_apply(None, &nginx(3), "alice", false, T1).unwrap();
        let mut config = nginx(4);
        config["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        let c = conflicts(run_apply(Some(&live), &config, "bob", false, T2));
        let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                ".spec.replicas",
                r#".spec.template.spec.containers[name="nginx"].image"#
            ]
        );
        assert_eq!(
            conflict_message(&c),
            "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"
        );
    }

    #[test]
    fn dropping_a_field_removes_it() {
        let live = run_apply(None, &nginx(3), "alice", false, T1).unwrap();
        let config = deploy(json!({
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}
        }));
        let out = run_apply(Some(&live), &config, "alice", false, T2).unwrap();
        assert!(out["spec"].get("replicas").is_none(), "{out}");
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.25"
        );
        assert!(!owned(&out, "alice", "Apply").has(&p("spec.replicas")));
        assert_eq!(out["metadata"]["name"], "web");
        // Dropping the container removes the whole item, and the emptied
        // parents go with it.
        let out = run_apply(
            Some(&out),
            &deploy(json!({"paused": false})),
            "alice",
            false,
            T3,
        )
        .unwrap();
        assert_eq!(out["spec"], json!({"paused": false}));
        assert_eq!(
            owned(&out, "alice", "Apply").to_fields_v1(),
            json!({"f:spec": {"f:paused": {}}})
        );
    }

    #[test]
    fn shared_values_are_co_owned_and_survive_one_owner_leaving() {
        let live = run_apply(None, &nginx(3), "alice", false, T1).unwrap();
        let shared = run_apply(
            Some(&live),
            &deploy(json!({"replicas": 3})),
            "bob",
            false,
            T2,
        )
        .unwrap();
        assert!(owned(&shared, "alice", "Apply").has(&p("spec.replicas")));
        assert!(owned(&shared, "bob", "Apply").has(&p("spec.replicas")));
        // Nothing changed, so bob's new entry carries no time, like the server.
        assert!(
            entry(&entries(&shared), "bob", "Apply")
                .get("time")
                .is_none()
        );

        // alice stops applying replicas: bob still owns it, so it stays.
        let config = deploy(json!({
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}
        }));
        let out = run_apply(Some(&shared), &config, "alice", false, T3).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        assert!(!owned(&out, "alice", "Apply").has(&p("spec.replicas")));
        assert!(owned(&out, "bob", "Apply").has(&p("spec.replicas")));
    }

    #[test]
    fn fields_owned_by_an_updater_stay_when_the_applier_drops_them() {
        let live = run_apply(None, &nginx(3), "alice", false, T1).unwrap();
        let mut edited = live.clone();
        edited["metadata"]["labels"] = json!({"team": "a"});
        update_managed_fields(
            Some(&live),
            &mut edited,
            "kubectl-edit",
            &deployment(),
            "apps/v1",
            None,
            T2,
        );
        let with_label = deploy(json!({"replicas": 3}));
        let mut with_label = with_label;
        with_label["metadata"]["labels"] = json!({"team": "a"});
        let both = run_apply(Some(&edited), &with_label, "alice", false, T2).unwrap();
        assert!(owned(&both, "alice", "Apply").has(&p("metadata.labels.team")));
        assert!(owned(&both, "kubectl-edit", "Update").has(&p("metadata.labels.team")));
        let out = run_apply(
            Some(&both),
            &deploy(json!({"replicas": 3})),
            "alice",
            false,
            T3,
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"team": "a"}));
        // The container alice dropped is gone.
        assert!(out["spec"].get("template").is_none(), "{out}");
    }

    #[test]
    fn list_maps_merge_items_and_each_manager_owns_its_env_var() {
        let alice = deploy(json!({"template": {"spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.25", "env": [{"name": "A", "value": "1"}]}
        ]}}}));
        let bob = deploy(json!({"template": {"spec": {"containers": [
            {"name": "sidecar", "image": "envoy"},
            {"name": "nginx", "env": [{"name": "B", "value": "2"}]}
        ]}}}));
        let live = run_apply(None, &alice, "alice", false, T1).unwrap();
        let out = run_apply(Some(&live), &bob, "bob", false, T2).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "sidecar", "image": "envoy"},
                {"name": "nginx", "image": "nginx:1.25", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
            ])
        );
        let env = |name: &str| {
            [
                containers(),
                vec![item("nginx"), PathElement::Field("env".into()), item(name)],
            ]
            .concat()
        };
        let bobs = owned(&out, "bob", "Apply");
        let alices = owned(&out, "alice", "Apply");
        assert!(bobs.has(&env("B")) && !bobs.has(&env("A")));
        assert!(alices.has(&env("A")) && !alices.has(&env("B")));
        // Both own the shared container item and its key.
        let nginx_name = [
            containers(),
            vec![item("nginx"), PathElement::Field("name".into())],
        ]
        .concat();
        assert!(bobs.has(&nginx_name) && alices.has(&nginx_name));
        assert_eq!(
            entry(&entries(&out), "bob", "Apply")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
                ["k:{\"name\":\"nginx\"}"],
            json!({".": {}, "f:env": {"k:{\"name\":\"B\"}": {".": {}, "f:name": {}, "f:value": {}}}, "f:name": {}})
        );

        // alice drops A: only B is left; the container stays (bob owns it).
        let alice2 = deploy(
            json!({"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}}),
        );
        let out = run_apply(Some(&out), &alice2, "alice", false, T3).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][1]["env"],
            json!([{"name": "B", "value": "2"}])
        );
        // alice changing bob's env var value conflicts on that field only.
        let alice3 = deploy(json!({"template": {"spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.25", "env": [{"name": "B", "value": "3"}]}
        ]}}}));
        let c = conflicts(run_apply(Some(&out), &alice3, "alice", false, T3));
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].field,
            r#".spec.template.spec.containers[name="nginx"].env[name="B"].value"#
        );
    }

    #[test]
    fn set_lists_are_unions_and_shrink_with_their_owner() {
        let with = |items: Value| {
            let mut d = deploy(json!({}));
            d["metadata"]["finalizers"] = items;
            d
        };
        let live = run_apply(None, &with(json!(["a", "b"])), "alice", false, T1).unwrap();
        let out = run_apply(Some(&live), &with(json!(["c", "a"])), "bob", false, T2).unwrap();
        // Union; the configuration's order is kept for shared items.
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
        assert_eq!(
            entry(&entries(&out), "bob", "Apply")["fieldsV1"]["f:metadata"]["f:finalizers"],
            json!({"v:\"a\"": {}, "v:\"c\"": {}})
        );
        let out = run_apply(Some(&out), &with(json!(["d"])), "alice", false, T3).unwrap();
        // alice's b goes, her a stays because bob applies it too.
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "d"]));
    }

    #[test]
    fn atomic_lists_and_maps_are_replaced_whole() {
        let with_args = |args: Value| {
            deploy(json!({
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "nginx", "args": args}]}}
            }))
        };
        let live = run_apply(None, &with_args(json!(["-a", "-b"])), "alice", false, T1).unwrap();
        let args = [
            containers(),
            vec![item("nginx"), PathElement::Field("args".into())],
        ]
        .concat();
        assert!(owned(&live, "alice", "Apply").has(&args));
        let c = conflicts(run_apply(
            Some(&live),
            &with_args(json!(["-z"])),
            "bob",
            false,
            T2,
        ));
        assert_eq!(
            c[0].field,
            r#".spec.template.spec.containers[name="nginx"].args"#
        );
        let mut config = with_args(json!(["-z"]));
        config["spec"]["selector"] = json!({"matchLabels": {"tier": "x"}});
        let out = run_apply(Some(&live), &config, "bob", true, T2).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["-z"])
        );
        assert_eq!(
            out["spec"]["selector"],
            json!({"matchLabels": {"tier": "x"}})
        );
        let alices = owned(&out, "alice", "Apply");
        assert!(!alices.has(&args) && !alices.has(&p("spec.selector")));
    }

    #[test]
    fn updates_own_what_they_add_or_change() {
        let mut created = nginx(1);
        created["metadata"]["labels"] = json!({"app": "web"});
        update_managed_fields(
            None,
            &mut created,
            "kubectl-create",
            &deployment(),
            "apps/v1",
            None,
            T1,
        );
        let list = entries(&created);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["operation"], "Update");
        assert_eq!(list[0]["time"], T1);
        // Maps and items that appear are owned themselves ("."), the struct
        // metadata is not (the server never tracks it), nor are Go value structs
        // (spec, template, the pod spec) or the non-omitempty containers list,
        // which the zero object already has, as in the real server's entries.
        assert_eq!(
            list[0]["fieldsV1"],
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {
                    "f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}
            })
        );

        // Another manager changes the image: it takes that field only.
        let mut edited = created.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        edited["metadata"]["resourceVersion"] = json!("7");
        update_managed_fields(
            Some(&created),
            &mut edited,
            "kubectl-edit",
            &deployment(),
            "apps/v1",
            None,
            T2,
        );
        let image = [
            containers(),
            vec![item("nginx"), PathElement::Field("image".into())],
        ]
        .concat();
        assert_eq!(
            owned(&edited, "kubectl-edit", "Update").paths(),
            vec![image.clone()]
        );
        assert!(!owned(&edited, "kubectl-create", "Update").has(&image));

        // Removing a field takes it from everyone.
        let mut removed = edited.clone();
        removed["metadata"]
            .as_object_mut()
            .unwrap()
            .shift_remove("labels");
        update_managed_fields(
            Some(&edited),
            &mut removed,
            "kubectl-edit",
            &deployment(),
            "apps/v1",
            None,
            T3,
        );
        assert!(!owned(&removed, "kubectl-create", "Update").has(&p("metadata.labels.app")));
        // A write that changes nothing else keeps the entry's time.
        let mut same = removed.clone();
        update_managed_fields(
            Some(&removed),
            &mut same,
            "kubectl-create",
            &deployment(),
            "apps/v1",
            None,
            "2024-05-02T00:00:00Z",
        );
        assert_eq!(
            entry(&entries(&same), "kubectl-create", "Update")["time"],
            T1
        );
    }

    #[test]
    fn client_sent_managed_fields() {
        let live = run_apply(None, &nginx(3), "alice", false, T1).unwrap();
        // Absent: the stored list is kept.
        let mut new = live.clone();
        take_managed_fields(&mut new);
        update_managed_fields(
            Some(&live),
            &mut new,
            "x",
            &deployment(),
            "apps/v1",
            None,
            T2,
        );
        assert_eq!(entries(&new), entries(&live));
        // Sent and different: taken as given.
        let mut new = live.clone();
        new["metadata"]["managedFields"][0]["manager"] = json!("renamed");
        update_managed_fields(
            Some(&live),
            &mut new,
            "x",
            &deployment(),
            "apps/v1",
            None,
            T2,
        );
        assert_eq!(entries(&new).len(), 1);
        assert_eq!(entries(&new)[0]["manager"], "renamed");
        // [] and [{}] clear them, and the object then stays untracked.
        for reset in [json!([]), json!([{}])] {
            let mut new = live.clone();
            new["metadata"]["managedFields"] = reset;
            new["spec"]["replicas"] = json!(4);
            update_managed_fields(
                Some(&live),
                &mut new,
                "x",
                &deployment(),
                "apps/v1",
                None,
                T2,
            );
            assert!(new["metadata"].get("managedFields").is_none(), "{new}");
            let mut next = new.clone();
            next["spec"]["replicas"] = json!(5);
            update_managed_fields(
                Some(&new),
                &mut next,
                "x",
                &deployment(),
                "apps/v1",
                None,
                T3,
            );
            assert!(next["metadata"].get("managedFields").is_none());
        }
        // Through a subresource, what the client sent is ignored.
        let mut new = live.clone();
        new["metadata"]["managedFields"] = json!([]);
        new["status"] = json!({"replicas": 3});
        update_managed_fields(
            Some(&live),
            &mut new,
            "ctrl",
            &deployment(),
            "apps/v1",
            Some("status"),
            T2,
        );
        let list = entries(&new);
        assert_eq!(list.len(), 2);
        // status is a Go value struct: the real server records no "." for it.
        assert_eq!(
            entry(&list, "ctrl", "Update")["fieldsV1"],
            json!({"f:status": {"f:replicas": {}}})
        );
        assert_eq!(entry(&list, "ctrl", "Update")["subresource"], "status");
    }

    #[test]
    fn first_apply_to_an_untracked_object_conflicts_with_before_first_apply() {
        let untracked = nginx(2);
        let c = conflicts(run_apply(
            Some(&untracked),
            &deploy(json!({"replicas": 3})),
            "mgr",
            false,
            T1,
        ));
        assert_eq!(
            conflict_message(&c),
            r#"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#
        );
        let out = run_apply(
            Some(&untracked),
            &deploy(json!({"replicas": 2})),
            "mgr",
            false,
            T1,
        )
        .unwrap();
        let list = entries(&out);
        assert_eq!(list[0]["manager"], "mgr");
        assert_eq!(list[1]["manager"], "before-first-apply");
        assert!(owned(&out, "before-first-apply", "Update").has(&p("spec.replicas")));
    }

    #[test]
    fn invalid_configurations() {
        let dup = deploy(
            json!({"template": {"spec": {"containers": [{"name": "nginx"}, {"name": "nginx"}]}}}),
        );
        assert_eq!(
            run_apply(None, &dup, "m", false, T1),
            Err(ApplyError::Invalid(
                r#".spec.template.spec.containers: duplicate entries for key [name="nginx"]"#
                    .into()
            ))
        );
        let keyless = deploy(json!({"template": {"spec": {"containers": [{"image": "x"}]}}}));
        assert!(
            matches!(run_apply(None, &keyless, "m", false, T1), Err(ApplyError::Invalid(m)) if m.contains("omits key field \"name\""))
        );
        let mut dup_set = deploy(json!({}));
        dup_set["metadata"]["finalizers"] = json!(["a", "a"]);
        assert!(
            matches!(run_apply(None, &dup_set, "m", false, T1), Err(ApplyError::Invalid(m)) if m.contains(r#"duplicate entries for key [="a"]"#))
        );
        assert!(matches!(
            run_apply(None, &json!([1]), "m", false, T1),
            Err(ApplyError::Invalid(_))
        ));
        // managedFields in the configuration are ignored.
        let mut with_fields = nginx(1);
        with_fields["metadata"]["managedFields"] = json!([{"manager": "forged"}]);
        let out = run_apply(None, &with_fields, "m", false, T1).unwrap();
        assert_eq!(entries(&out).len(), 1);
        assert_eq!(entries(&out)[0]["manager"], "m");
    }

    #[test]
    fn kubectl_upgrades_from_client_side_apply() {
        // What `kubectl apply` (client side) leaves behind.
        let mut live = nginx(2);
        let last = nginx(2).to_string();
        live["metadata"]["annotations"] = json!({LAST_APPLIED: last});
        update_managed_fields(
            None,
            &mut live,
            "kubectl-client-side-apply",
            &deployment(),
            "apps/v1",
            None,
            T1,
        );
        // Another manager may not take replicas...
        assert!(run_apply(Some(&live), &nginx(5), "other", false, T2).is_err());
        // ...but kubectl's own server-side apply may, and it keeps the
        // annotation in step.
        let out = run_apply(Some(&live), &nginx(5), "kubectl", false, T2).unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
        assert!(owned(&out, "kubectl", "Apply").has(&p("spec.replicas")));
        let annotation = out["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .unwrap();
        assert!(annotation.ends_with('\n'));
        let parsed: Value = serde_json::from_str(annotation).unwrap();
        assert_eq!(parsed["spec"]["replicas"], 5);
        assert!(annotation.starts_with(r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":5,"#));
    }

    #[test]
    fn update_entries_are_capped_at_ten() {
        let mut obj = nginx(0);
        update_managed_fields(
            None,
            &mut obj,
            "creator",
            &deployment(),
            "apps/v1",
            None,
            T1,
        );
        for i in 1..=11 {
            let old = obj.clone();
            // Each manager adds its own label, so each keeps an entry.
            obj["metadata"]["labels"][format!("l{i}")] = json!("x");
            let now = format!("2024-05-01T10:{i:02}:00Z");
            update_managed_fields(
                Some(&old),
                &mut obj,
                &format!("m{i:02}"),
                &deployment(),
                "apps/v1",
                None,
                &now,
            );
        }
        let list = entries(&obj);
        let updates = list.iter().filter(|e| e["operation"] == "Update").count();
        assert_eq!(updates, 10, "{list:?}");
        let ancient = entry(&list, ANCIENT_CHANGES, "Update");
        // The eleventh entry folded creator and m01 together; the twelfth
        // folded m02 into that bucket, which takes the newest folded time.
        let set = FieldSet::try_from_fields_v1(&ancient["fieldsV1"]).unwrap();
        assert!(set.has(&p("spec.replicas")));
        assert!(set.has(&p("metadata.labels.l1")));
        assert!(set.has(&p("metadata.labels.l2")));
        assert!(!set.has(&p("metadata.labels.l3")));
        assert_eq!(ancient["time"], "2024-05-01T10:02:00Z");
        let gone = ["creator", "m01", "m02"];
        assert!(
            list.iter()
                .all(|e| !gone.iter().any(|g| e["manager"] == *g))
        );
        assert!(list.iter().any(|e| e["manager"] == "m03"));
    }

    #[test]
    fn entries_are_written_in_server_order() {
        let live = run_apply(None, &nginx(1), "zed", false, T2).unwrap();
        let mut edited = live.clone();
        edited["spec"]["paused"] = json!(true);
        update_managed_fields(
            Some(&live),
            &mut edited,
            "early",
            &deployment(),
            "apps/v1",
            None,
            T1,
        );
        let out = run_apply(
            Some(&edited),
            &deploy(json!({"replicas": 1})),
            "amy",
            false,
            "2024-05-01T12:00:00.5+01:00",
        )
        .unwrap();
        let order: Vec<(String, String)> = entries(&out)
            .iter()
            .map(|e| {
                (
                    e["manager"].as_str().unwrap().to_string(),
                    e["operation"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        // Apply first; among appliers by time: amy's apply was a no-op (no time).
        assert_eq!(
            order,
            vec![
                ("amy".into(), "Apply".into()),
                ("zed".into(), "Apply".into()),
                ("early".into(), "Update".into())
            ]
        );
    }

    #[test]
    fn time_helpers() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00.25+01:00"),
            parse_rfc3339("2024-05-01T11:00:00Z")
        );
        assert_eq!(
            format_rfc3339(parse_rfc3339("2000-02-29T23:59:59Z").unwrap()),
            "2000-02-29T23:59:59Z"
        );
        assert_eq!(
            normalize_time("2024-05-01T12:00:00-02:30"),
            "2024-05-01T14:30:00Z"
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
    }

    #[test]
    fn merge_orders_lists_like_smd() {
        let schema = list(Schema::Scalar, ListType::Set);
        let merge = |l: Value, r: Value| merge_values(Some(&l), Some(&r), &schema).unwrap();
        assert_eq!(
            merge(json!(["a", "b"]), json!(["b", "a"])),
            json!(["b", "a"])
        );
        // A shared item the configuration wants later waits for its turn, so
        // live-only items before it come first.
        assert_eq!(
            merge(json!(["a", "x", "b"]), json!(["b", "a"])),
            json!(["x", "b", "a"])
        );
        assert_eq!(
            merge(json!(["a", "x", "b"]), json!(["b", "c"])),
            json!(["a", "x", "b", "c"])
        );
        assert_eq!(
            merge(json!(["a", "b", "c"]), json!(["c", "b", "a"])),
            json!(["c", "b", "a"])
        );
        assert_eq!(
            merge(json!(["b", "a"]), json!(["a", "y", "b"])),
            json!(["a", "y", "b"])
        );
        // A keyless live item is kept where it was.
        let maps = list(obj(vec![("name", Schema::Scalar)]), keys(&["name"]));
        let l = json!([{"x": 1}, {"name": "a", "v": 1}]);
        let r = json!([{"name": "a", "w": 2}, {"name": "b"}]);
        assert_eq!(
            merge_values(Some(&l), Some(&r), &maps).unwrap(),
            json!([{"x": 1}, {"name": "a", "v": 1, "w": 2}, {"name": "b"}])
        );
    }

    #[test]
    fn garbage_in_live_objects_does_not_panic() {
        let schema = deployment();
        let weird_live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "managedFields": [{"manager": 1}], "finalizers": "oops"},
            "spec": {"template": {"spec": {"containers": [{"image": "x"}, null, 3, {"name": "a"}, {"name": "a"}]}}}
        });
        let out = apply(
            Some(&weird_live),
            &nginx(1),
            "m",
            true,
            &schema,
            Reset::Status,
            "apps/v1",
            None,
            T1,
        )
        .unwrap();
        assert_eq!(out["spec"]["replicas"], 1);
        let mut new = weird_live.clone();
        new["spec"] = json!([]);
        update_managed_fields(
            Some(&weird_live),
            &mut new,
            "m",
            &schema,
            "apps/v1",
            None,
            "not a time",
        );
        update_managed_fields(
            None,
            &mut json!("scalar"),
            "m",
            &schema,
            "apps/v1",
            None,
            T1,
        );
    }
}
