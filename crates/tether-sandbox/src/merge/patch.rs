//! The three PATCH bodies other than server-side apply, applied as
//! kube-apiserver applies them: RFC 6902 JSON patch
//! (`application/json-patch+json`), RFC 7386 JSON merge patch
//! (`application/merge-patch+json`) and strategic merge patch
//! (`application/strategic-merge-patch+json`).
//!
//! The real server uses `gopkg.in/evanphx/json-patch.v4` for the first two and
//! `k8s.io/apimachinery/pkg/util/strategicpatch` for the third. Clients rely on
//! how those libraries actually behave, not on what the RFCs or the
//! strategic-merge-patch design documents say, so where the two differ this
//! module follows the libraries and the comments say where.

use std::fmt;
use std::mem;

use serde_json::{Map, Value};

use crate::schema::Schema;

type Object = Map<String, Value>;

/// Why a patch could not be applied.
#[derive(Debug)]
pub enum PatchError {
    /// The patch body is not valid for its type (bad JSON shape, not an array for
    /// JSON patch, bad op, bad pointer syntax, bad directive). The real server
    /// answers 400 BadRequest.
    Malformed(String),
    /// The patch could not be applied to this object (JSON patch `test` failed,
    /// path missing for remove/replace, index out of range, list shapes that do
    /// not merge). The real server answers 422 Unprocessable Entity.
    Conflict(String),
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchError::Malformed(message) | PatchError::Conflict(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for PatchError {}

fn malformed(message: impl Into<String>) -> PatchError {
    PatchError::Malformed(message.into())
}

fn conflict(message: impl Into<String>) -> PatchError {
    PatchError::Conflict(message.into())
}

/// JSON equality with numbers compared by value: the Go side decodes both `1`
/// and `1.0` to numbers that compare equal, and merge keys such as
/// `containerPort` must match however the client spelled them.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return x == y;
            }
            if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                return x == y;
            }
            matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if x == y)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Removes every object member whose value is `null`, at any depth, including
/// inside arrays; `null` array elements stay. Both libraries do this to values
/// they insert where nothing was before.
fn discard_nulls(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, discard_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(discard_nulls).collect()),
        other => other,
    }
}

// ---------------------------------------------------------------------------
// RFC 6902 JSON patch
// ---------------------------------------------------------------------------

/// kube-apiserver rejects longer JSON patches before applying anything.
const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

struct Pointer<'a> {
    text: &'a str,
    tokens: Vec<String>,
}

struct Operation<'a> {
    kind: OpKind,
    path: Pointer<'a>,
    from: Option<Pointer<'a>>,
    value: Option<&'a Value>,
}

/// RFC 6902 JSON patch (`application/json-patch+json`): add, remove, replace,
/// move, copy, test; JSON pointers with `~0`/`~1` escapes; `-` appends.
///
/// Like evanphx/json-patch v4 (which the real server uses): negative array
/// indices count from the end, a `test` against `null` also passes when the
/// member is absent, and the empty (root) pointer is refused as a missing path.
/// Every operation is checked for shape before any is applied, so a malformed
/// operation late in the patch is reported as [`PatchError::Malformed`] even
/// when an earlier one would fail against the object.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(raw_ops) = patch else {
        return Err(malformed("a JSON patch must be a JSON array of operations"));
    };
    if raw_ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(malformed(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            raw_ops.len()
        )));
    }
    let ops = raw_ops
        .iter()
        .enumerate()
        .map(|(index, op)| parse_operation(index, op))
        .collect::<Result<Vec<_>, _>>()?;
    let mut doc = target.clone();
    for op in &ops {
        apply_operation(&mut doc, op)?;
    }
    Ok(doc)
}

fn parse_operation(index: usize, raw: &Value) -> Result<Operation<'_>, PatchError> {
    let Value::Object(fields) = raw else {
        return Err(malformed(format!(
            "JSON patch operation {index} is not a JSON object"
        )));
    };
    let kind = match fields.get("op") {
        Some(Value::String(op)) => match op.as_str() {
            "add" => OpKind::Add,
            "remove" => OpKind::Remove,
            "replace" => OpKind::Replace,
            "move" => OpKind::Move,
            "copy" => OpKind::Copy,
            "test" => OpKind::Test,
            other => return Err(malformed(format!("Unexpected kind: {other}"))),
        },
        _ => return Err(malformed("Unexpected kind: unknown")),
    };
    let pointer_field = |name: &str| -> Result<Pointer<'_>, PatchError> {
        match fields.get(name) {
            Some(Value::String(text)) => parse_pointer(text),
            _ => Err(malformed(format!(
                "JSON patch operation {index} is missing its \"{name}\" string: missing value"
            ))),
        }
    };
    let path = pointer_field("path")?;
    let from = match kind {
        OpKind::Move | OpKind::Copy => Some(pointer_field("from")?),
        _ => None,
    };
    let value = fields.get("value");
    // evanphx v4 would quietly use null here; RFC 6902 requires the member and
    // no real client omits it.
    if value.is_none() && matches!(kind, OpKind::Add | OpKind::Replace | OpKind::Test) {
        return Err(malformed(format!(
            "JSON patch operation {index} is missing its \"value\": missing value"
        )));
    }
    Ok(Operation {
        kind,
        path,
        from,
        value,
    })
}

fn parse_pointer(text: &str) -> Result<Pointer<'_>, PatchError> {
    if text.is_empty() {
        return Ok(Pointer {
            text,
            tokens: Vec::new(),
        });
    }
    let Some(rest) = text.strip_prefix('/') else {
        return Err(malformed(format!(
            "invalid JSON pointer {text:?}: it must be empty or start with '/'"
        )));
    };
    let tokens = rest
        .split('/')
        .map(|token| {
            unescape_token(token).ok_or_else(|| {
                malformed(format!(
                    "invalid JSON pointer {text:?}: '~' must be followed by '0' or '1'"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Pointer { text, tokens })
}

/// RFC 6901 unescaping in one left-to-right pass, so `~01` is `~1`, not `/`.
fn unescape_token(token: &str) -> Option<String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// evanphx wraps "not there" errors in `ErrMissing`, whose text ends the message.
fn missing(message: String) -> PatchError {
    conflict(format!("{message}: missing value"))
}

/// The object or array holding the last token of `tokens`, and that token.
/// Like evanphx, a `null` on the way counts as missing, and the root pointer
/// has no container.
fn find_container<'d, 't>(
    doc: &'d mut Value,
    tokens: &'t [String],
) -> Option<(&'d mut Value, &'t str)> {
    let (last, parents) = tokens.split_last()?;
    let mut current = doc;
    for token in parents {
        current = match current {
            Value::Object(fields) => fields.get_mut(token.as_str()).filter(|v| !v.is_null())?,
            Value::Array(items) => {
                let index = existing_index(token, items.len()).ok()?;
                items.get_mut(index)?
            }
            _ => return None,
        };
    }
    matches!(current, Value::Object(_) | Value::Array(_)).then_some((current, last.as_str()))
}

fn parse_index(token: &str) -> Result<i64, String> {
    token
        .parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {token:?}: invalid syntax"))
}

fn invalid_index(index: i64) -> String {
    format!("Unable to access invalid index: {index}: invalid index referenced")
}

/// An index of an existing element; negative counts from the end.
fn existing_index(token: &str, len: usize) -> Result<usize, String> {
    let index = parse_index(token)?;
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let resolved = if index < 0 {
        index.checked_add(len)
    } else {
        Some(index)
    };
    match resolved {
        Some(i) if (0..len).contains(&i) => usize::try_from(i).map_err(|_| invalid_index(index)),
        _ => Err(invalid_index(index)),
    }
}

/// A position to insert at: `-` or `len` append, negative counts from the end
/// of the list as it will be.
fn insert_index(token: &str, len: usize) -> Result<usize, String> {
    if token == "-" {
        return Ok(len);
    }
    let index = parse_index(token)?;
    let size = i64::try_from(len).unwrap_or(i64::MAX).saturating_add(1);
    let resolved = if index < 0 {
        index.checked_add(size)
    } else {
        Some(index)
    };
    match resolved {
        Some(i) if (0..size).contains(&i) => usize::try_from(i).map_err(|_| invalid_index(index)),
        _ => Err(invalid_index(index)),
    }
}

fn container_get<'v>(container: &'v Value, key: &str) -> Result<&'v Value, String> {
    match container {
        Value::Object(fields) => fields
            .get(key)
            .ok_or_else(|| format!("unable to get nonexistent key: {key}: missing value")),
        Value::Array(items) => {
            let index = existing_index(key, items.len())?;
            items
                .get(index)
                .ok_or_else(|| format!("Unable to access invalid index: {key}"))
        }
        _ => Err("invalid state detected".to_owned()),
    }
}

fn container_add(container: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(fields) => {
            fields.insert(key.to_owned(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = insert_index(key, items.len())
                .map_err(|e| format!("value was not a proper array index: '{key}': {e}"))?;
            items.insert(index, value);
            Ok(())
        }
        _ => Err("invalid state detected".to_owned()),
    }
}

fn container_set(container: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(fields) => {
            fields.insert(key.to_owned(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = existing_index(key, items.len())?;
            match items.get_mut(index) {
                Some(slot) => {
                    *slot = value;
                    Ok(())
                }
                None => Err(format!("Unable to access invalid index: {key}")),
            }
        }
        _ => Err("invalid state detected".to_owned()),
    }
}

fn container_remove(container: &mut Value, key: &str) -> Result<Value, String> {
    match container {
        Value::Object(fields) => fields
            .shift_remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: missing value")),
        Value::Array(items) => {
            let index = existing_index(key, items.len())?;
            Ok(items.remove(index))
        }
        _ => Err("invalid state detected".to_owned()),
    }
}

fn apply_operation(doc: &mut Value, op: &Operation<'_>) -> Result<(), PatchError> {
    let path = op.path.text;
    let value = || op.value.cloned().unwrap_or(Value::Null);
    match op.kind {
        OpKind::Add => {
            let (container, key) = find_container(doc, &op.path.tokens).ok_or_else(|| {
                missing(format!(
                    "add operation does not apply: doc is missing path: \"{path}\""
                ))
            })?;
            container_add(container, key, value())
                .map_err(|e| conflict(format!("error in add for path: '{path}': {e}")))
        }
        OpKind::Remove => {
            let (container, key) = find_container(doc, &op.path.tokens).ok_or_else(|| {
                missing(format!(
                    "remove operation does not apply: doc is missing path: \"{path}\""
                ))
            })?;
            container_remove(container, key)
                .map(drop)
                .map_err(|e| conflict(format!("error in remove for path: '{path}': {e}")))
        }
        OpKind::Replace => {
            let (container, key) = find_container(doc, &op.path.tokens).ok_or_else(|| {
                missing(format!(
                    "replace operation does not apply: doc is missing path: {path}"
                ))
            })?;
            if container_get(container, key).is_err() {
                return Err(missing(format!(
                    "replace operation does not apply: doc is missing key: {path}"
                )));
            }
            container_set(container, key, value())
                .map_err(|e| conflict(format!("error in replace for path: '{path}': {e}")))
        }
        OpKind::Move | OpKind::Copy => {
            let verb = if op.kind == OpKind::Move {
                "move"
            } else {
                "copy"
            };
            let Some(from) = &op.from else {
                return Err(malformed(format!(
                    "{verb} operation is missing its \"from\": missing value"
                )));
            };
            let (container, key) = find_container(doc, &from.tokens).ok_or_else(|| {
                missing(format!(
                    "{verb} operation does not apply: doc is missing from path: {}",
                    from.text
                ))
            })?;
            let moved = if op.kind == OpKind::Move {
                container_get(container, key)
                    .map_err(|e| conflict(format!("error in move for path: '{key}': {e}")))?;
                container_remove(container, key)
                    .map_err(|e| conflict(format!("error in move for path: '{key}': {e}")))?
            } else {
                container_get(container, key)
                    .map_err(|e| conflict(format!("error in copy for from: '{}': {e}", from.text)))?
                    .clone()
            };
            // Moving a value into its own child finds no destination here, which
            // is the error RFC 6902 asks for.
            let (container, key) = find_container(doc, &op.path.tokens).ok_or_else(|| {
                missing(format!(
                    "{verb} operation does not apply: doc is missing destination path: {path}"
                ))
            })?;
            container_add(container, key, moved)
                .map_err(|e| conflict(format!("error in {verb} for path: '{path}': {e}")))
        }
        OpKind::Test => {
            let (container, key) = find_container(doc, &op.path.tokens).ok_or_else(|| {
                missing(format!(
                    "test operation does not apply: is missing path: {path}"
                ))
            })?;
            // evanphx reads an absent member as null, so `"value": null` passes.
            let actual = match &*container {
                Value::Object(fields) => fields.get(key).unwrap_or(&Value::Null),
                other => container_get(other, key)
                    .map_err(|e| conflict(format!("error in test for path: '{path}': {e}")))?,
            };
            if json_eq(actual, op.value.unwrap_or(&Value::Null)) {
                Ok(())
            } else {
                Err(conflict(format!(
                    "testing value {path} failed: test failed"
                )))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// RFC 7386 JSON merge patch
// ---------------------------------------------------------------------------

/// RFC 7386 JSON merge patch (`application/merge-patch+json`): `null` deletes,
/// objects merge, everything else replaces.
///
/// As in evanphx/json-patch v4: a value put where there was nothing (or
/// `null`, or a non-object) has its `null` members dropped at every depth,
/// arrays included, while a value replacing an object is stored as sent.
/// A patch that is not an object or array (the server refuses those) simply
/// replaces the target, as the RFC says.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            let mut doc = target.clone();
            merge_objects(&mut doc, patch);
            Value::Object(doc)
        }
        (_, Value::Object(_) | Value::Array(_)) => discard_nulls(patch.clone()),
        _ => patch.clone(),
    }
}

fn merge_objects(doc: &mut Object, patch: &Object) {
    for (key, value) in patch {
        if value.is_null() {
            doc.shift_remove(key);
            continue;
        }
        match (doc.get_mut(key), value) {
            (Some(Value::Object(current)), Value::Object(patch)) => merge_objects(current, patch),
            (Some(current @ Value::Object(_)), _) => *current = value.clone(),
            (Some(current), _) => *current = discard_nulls(value.clone()),
            (None, _) => {
                doc.insert(key.clone(), discard_nulls(value.clone()));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Strategic merge patch
// ---------------------------------------------------------------------------

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";

const ERR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";

/// Strategic merge patch (`application/strategic-merge-patch+json`) for
/// built-in kinds, guided by the schema's patch merge keys and strategies.
///
/// This mirrors `strategicpatch.StrategicMergeMapPatch` as the server calls it,
/// including where it surprises:
/// - patch items that match nothing in a merging list go *before* the live
///   items they do not follow (adding a container to `[a]` gives `[new, a]`);
///   only `$setElementOrder` or the patch's own order moves them;
/// - `{"$patch": "delete"}` on a map leaves an empty map, not an absent key;
/// - a value carrying `$patch` put where nothing was is dropped, whatever the
///   directive says.
///
/// No directive (`$patch`, `$retainKeys`, `$setElementOrder/…`,
/// `$deleteFromPrimitiveList/…`) is left in the result, and `null` members of
/// values taken from the patch are dropped, as decoding into the typed object
/// would. Under [`Schema::Deduced`] every list is replaced and objects merge
/// key by key, which is JSON merge patch with directives understood.
pub fn strategic_merge_patch(
    target: &Value,
    patch: &Value,
    schema: &Schema,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(malformed(
            "invalid JSON document: a strategic merge patch must be a JSON object",
        ));
    };
    let original = match target {
        Value::Object(fields) => fields.clone(),
        _ => Object::new(),
    };
    merge_map(original, patch.clone(), schema).map(Value::Object)
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE_MARKER
        || key == RETAIN_KEYS_DIRECTIVE
        || key.starts_with(SET_ELEMENT_ORDER_PREFIX)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
}

/// A value taken from the patch as it stands: nulls dropped, maps carrying
/// `$patch` dropped (`None` when the value itself is one), other directive
/// keys stripped.
fn clean(value: Value) -> Option<Value> {
    match value {
        Value::Object(fields) => {
            if fields.get(DIRECTIVE_MARKER).is_some_and(|d| !d.is_null()) {
                return None;
            }
            Some(Value::Object(clean_map(fields)))
        }
        Value::Array(items) => Some(Value::Array(clean_list(items))),
        other => Some(other),
    }
}

fn clean_map(fields: Object) -> Object {
    fields
        .into_iter()
        .filter(|(key, value)| !value.is_null() && !is_directive_key(key))
        .filter_map(|(key, value)| clean(value).map(|value| (key, value)))
        .collect()
}

fn clean_list(items: Vec<Value>) -> Vec<Value> {
    items.into_iter().filter_map(clean).collect()
}

fn no_merge_key(item: &Value, merge_key: &str) -> String {
    format!("map: {item} does not contain declared merge key: {merge_key}")
}

fn bad_patch_type(directive: &Value, fields: &Object) -> PatchError {
    let directive = match directive {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    malformed(format!(
        "unknown patch type: {directive} in map: {}",
        Value::Object(fields.clone())
    ))
}

/// The field name after `prefix/`.
fn extract_key(key: &str, prefix: &str, error: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((head, field)) if head == prefix => Ok(field.to_owned()),
        _ => Err(malformed(format!("{error}: {key}"))),
    }
}

/// What a list field's schema says about strategic merging.
struct ListMeta<'s> {
    items: &'s Schema,
    /// The patch strategy includes `merge`.
    merge: bool,
    /// The declared merge key, whatever the strategy (as `GetPatchMergeKey`).
    merge_key: Option<&'s str>,
}

fn list_meta<'s>(schema: &'s Schema, field: &str) -> ListMeta<'s> {
    let field_schema = schema.field(field);
    let merge = field_schema
        .patch_strategy()
        .is_some_and(|s| s.split(',').any(|part| part.trim() == MERGE_DIRECTIVE));
    let merge_key = match field_schema {
        Schema::Array(array) => array.patch_merge_key.as_deref(),
        _ => None,
    };
    ListMeta {
        items: field_schema.items(),
        merge,
        merge_key,
    }
}

/// The Go dynamic type a decoded JSON value has; the merge only recurses when
/// live and patch values share one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum GoType {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

fn go_type(value: &Value) -> GoType {
    match value {
        Value::Null => GoType::Nil,
        Value::Bool(_) => GoType::Bool,
        Value::Number(n) if n.is_i64() || n.is_u64() => GoType::Int,
        Value::Number(_) => GoType::Float,
        Value::String(_) => GoType::String,
        Value::Array(_) => GoType::Slice,
        Value::Object(_) => GoType::Map,
    }
}

fn merge_map(
    mut original: Object,
    mut patch: Object,
    schema: &Schema,
) -> Result<Object, PatchError> {
    if let Some(directive) = patch.shift_remove(DIRECTIVE_MARKER) {
        return match directive.as_str() {
            Some(REPLACE_DIRECTIVE) => Ok(clean_map(patch)),
            Some(DELETE_DIRECTIVE) => Ok(Object::new()),
            _ => Err(bad_patch_type(&directive, &patch)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_order(&mut original, &mut patch, schema)?;

    for (key, patch_value) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            let field = extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX, ERR_PRIMITIVE_LIST)?;
            (field, true)
        } else {
            (key, false)
        };
        if patch_value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let Some(current) = original.get_mut(&key) else {
            if !is_delete_list && let Some(value) = clean(patch_value) {
                original.insert(key, value);
            }
            continue;
        };
        if go_type(current) != go_type(&patch_value) {
            if is_delete_list {
                continue;
            }
            match clean(patch_value) {
                Some(value) => *current = value,
                None => {
                    original.shift_remove(&key);
                }
            }
            continue;
        }
        match (current, patch_value) {
            (Value::Object(current), Value::Object(patch_fields)) => {
                let live = mem::take(current);
                *current = merge_map(live, patch_fields, schema.field(&key))?;
            }
            (Value::Array(current), Value::Array(patch_items)) => {
                let meta = list_meta(schema, &key);
                let live = mem::take(current);
                // A deletion list applies whatever the field's strategy.
                *current = if meta.merge || is_delete_list {
                    merge_slice(live, patch_items, &meta, is_delete_list)?.items
                } else {
                    clean_list(patch_items)
                };
            }
            (current, scalar) => *current = scalar,
        }
    }
    Ok(original)
}

/// `$retainKeys`: live keys not listed are cleared, and every key the patch
/// sets must be listed.
fn apply_retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(malformed(ERR_RETAIN_KEYS));
    };
    let listed = |key: &str| retain.iter().any(|r| r.as_str() == Some(key));
    for (key, value) in patch.iter() {
        if value.is_null()
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || key.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !listed(key) {
            return Err(malformed(format!(
                "{ERR_RETAIN_KEYS}: {key} is set by the patch but not listed in $retainKeys"
            )));
        }
    }
    original.retain(|key, _| listed(key));
    Ok(())
}

/// `$setElementOrder/<field>`: merges the field's patch list (if any) and
/// orders the result by the directive, then by the live list.
fn apply_set_element_order(
    original: &mut Object,
    patch: &mut Object,
    schema: &Schema,
) -> Result<(), PatchError> {
    let directive_keys: Vec<String> = patch
        .keys()
        .filter(|key| key.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for directive_key in directive_keys {
        let Some(order) = patch.shift_remove(&directive_key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(malformed(format!(
                "{ERR_SET_ELEMENT_ORDER}: {directive_key} is not a list"
            )));
        };
        let field = extract_key(
            &directive_key,
            SET_ELEMENT_ORDER_PREFIX,
            ERR_SET_ELEMENT_ORDER,
        )?;
        let live = match original.get(&field) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => {
                return Err(conflict(format!(
                    "$setElementOrder/{field} applies to a list, but the object has {other}"
                )));
            }
        };
        let patched = match patch.get(&field) {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => {
                return Err(malformed(format!(
                    "{ERR_SET_ELEMENT_ORDER}: {field} must be a list alongside {directive_key}, got {other}"
                )));
            }
        };
        let meta = list_meta(schema, &field);
        validate_set_element_order(patched.as_deref().unwrap_or(&[]), &order, meta.merge_key)?;
        element_kind(live.iter().flatten().chain(patched.iter().flatten()))?;

        let (merged, live_order) = match (live, patched) {
            (None, None) => continue,
            (Some(live), None) => (live.clone(), live),
            (None, Some(patched)) => (clean_list(patched), Vec::new()),
            (Some(live), Some(patched)) if meta.merge => {
                let merged = merge_slice(live, patched, &meta, false)?;
                (merged.items, merged.live_view)
            }
            (Some(live), Some(patched)) => (clean_list(patched), live),
        };
        let (in_order, server_only) = partition(merged, &order, meta.merge_key)?;
        let ordered = normalize_order(in_order, server_only, &order, &live_order, meta.merge_key);
        original.insert(field.clone(), Value::Array(ordered));
        patch.shift_remove(&field);
    }
    Ok(())
}

/// The patch list's items (deletions and directives aside) must appear in the
/// `$setElementOrder` list, in the same relative order.
fn validate_set_element_order(
    patch_list: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
) -> Result<(), PatchError> {
    if patch_list.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut non_delete = Vec::with_capacity(patch_list.len());
    for item in patch_list {
        if merge_key.is_some() {
            let Value::Object(fields) = item else {
                return Err(malformed(format!(
                    "{ERR_SET_ELEMENT_ORDER}: expected a map in the patch list, got {item}"
                )));
            };
            if fields.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE) {
                continue;
            }
        }
        non_delete.push(item);
    }
    let (mut patch_index, mut order_index) = (0, 0);
    while let (Some(item), Some(wanted)) = (non_delete.get(patch_index), order.get(order_index)) {
        if item.get(DIRECTIVE_MARKER).is_some() {
            patch_index += 1;
            continue;
        }
        if merge_key_value_equal(item, wanted, merge_key)? {
            patch_index += 1;
        }
        order_index += 1;
    }
    if patch_index < non_delete.len() {
        return Err(malformed(format!(
            "the order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER_PREFIX} list:\n{}",
            Value::Array(patch_list.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}

fn merge_key_value_equal(
    left: &Value,
    right: &Value,
    merge_key: Option<&str>,
) -> Result<bool, PatchError> {
    let Some(key) = merge_key else {
        return Ok(json_eq(left, right));
    };
    let value_of = |item: &Value| -> Result<Value, PatchError> {
        match item {
            Value::Object(fields) => fields
                .get(key)
                .cloned()
                .ok_or_else(|| malformed(no_merge_key(item, key))),
            other => Err(malformed(format!("expected a map, but received {other}"))),
        }
    };
    Ok(json_eq(&value_of(left)?, &value_of(right)?))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

fn value_kind(value: &Value) -> ValueKind {
    match value {
        Value::Null => ValueKind::Null,
        Value::Bool(_) => ValueKind::Bool,
        Value::Number(_) => ValueKind::Number,
        Value::String(_) => ValueKind::String,
        Value::Array(_) => ValueKind::Array,
        Value::Object(_) => ValueKind::Object,
    }
}

/// The one kind shared by all elements of the lists being merged, `None` when
/// there are none.
fn element_kind<'v>(
    mut items: impl Iterator<Item = &'v Value>,
) -> Result<Option<ValueKind>, PatchError> {
    let Some(first) = items.next() else {
        return Ok(None);
    };
    let kind = value_kind(first);
    if kind == ValueKind::Array {
        return Err(conflict("lists of lists are not supported"));
    }
    if items.any(|item| value_kind(item) != kind) {
        return Err(conflict("list element types are not identical"));
    }
    Ok(Some(kind))
}

struct MergedList {
    items: Vec<Value>,
    /// The live list as the Go caller's slice still sees it afterwards. Deleting
    /// entries shifts the shared backing array left in place and the first
    /// appended items land in the freed tail, so `$setElementOrder` orders
    /// server-only items against this view, not the list as it was.
    live_view: Vec<Value>,
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: &ListMeta<'_>,
    is_delete_list: bool,
) -> Result<MergedList, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(MergedList {
            items: original,
            live_view: Vec::new(),
        });
    }
    if element_kind(original.iter().chain(&patch))? != Some(ValueKind::Object) {
        if is_delete_list {
            let items = original
                .iter()
                .filter(|item| !patch.iter().any(|gone| json_eq(item, gone)))
                .cloned()
                .collect();
            return Ok(MergedList {
                items,
                live_view: original,
            });
        }
        let mut union: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for item in original.iter().chain(&patch) {
            if !union.iter().any(|seen| json_eq(seen, item)) {
                union.push(item.clone());
            }
        }
        let (from_patch, server_only) = partition(union, &patch, None)?;
        let items = normalize_order(from_patch, server_only, &patch, &original, None);
        return Ok(MergedList {
            items,
            live_view: original,
        });
    }

    let Some(merge_key) = meta.merge_key else {
        return Err(conflict("cannot merge lists of maps without a merge key"));
    };
    let live_len = original.len();
    let mut kept = original;
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE_MARKER) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let Some(gone) = item.get(merge_key) else {
                    return Err(malformed(no_merge_key(&item, merge_key)));
                };
                kept.retain(|live| !live.get(merge_key).is_some_and(|v| json_eq(v, gone)));
            }
            // Later `$patch` items are still pruned, as in Go.
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => {
                return Err(malformed(
                    "merging lists cannot yet be specified in the patch",
                ));
            }
            _ => {
                let fields = item.as_object().cloned().unwrap_or_default();
                return Err(bad_patch_type(directive, &fields));
            }
        }
    }

    let after_deletions = kept.clone();
    let (mut merged, patch_items) = if replace {
        (clean_list(plain), Vec::new())
    } else {
        (kept, plain)
    };
    let server_order = merged.clone();
    let mut appended = Vec::new();
    for item in &patch_items {
        let Some(wanted) = item.get(merge_key) else {
            return Err(malformed(no_merge_key(item, merge_key)));
        };
        let found = merged
            .iter()
            .position(|live| live.get(merge_key).is_some_and(|v| json_eq(v, wanted)));
        match found {
            Some(index) => {
                let live = mem::take(&mut merged[index]);
                merged[index] = match (live, item) {
                    (Value::Object(live), Value::Object(fields)) => {
                        Value::Object(merge_map(live, fields.clone(), meta.items)?)
                    }
                    (live, _) => live,
                };
            }
            None => {
                appended.push(item.clone());
                if let Some(item) = clean(item.clone()) {
                    merged.push(item);
                }
            }
        }
    }
    let (from_patch, server_only) = partition(merged, &patch_items, Some(merge_key))?;
    let items = normalize_order(
        from_patch,
        server_only,
        &patch_items,
        &server_order,
        Some(merge_key),
    );
    let mut live_view = after_deletions;
    if !replace {
        let freed = live_len.saturating_sub(live_view.len());
        live_view.extend(appended.into_iter().take(freed));
    }
    Ok(MergedList { items, live_view })
}

/// Splits `items` into those present in `by` and the rest, keeping order.
fn partition(
    items: Vec<Value>,
    by: &[Value],
    merge_key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for item in items {
        let present = match merge_key {
            None => by.iter().any(|b| json_eq(b, &item)),
            Some(key) => {
                let Some(value) = item.get(key) else {
                    return Err(conflict(no_merge_key(&item, key)));
                };
                let mut found = false;
                for candidate in by {
                    let Value::Object(fields) = candidate else {
                        return Err(malformed(format!(
                            "expected a map with merge key {key}, but received {candidate}"
                        )));
                    };
                    if fields.get(key).is_some_and(|v| json_eq(v, value)) {
                        found = true;
                        break;
                    }
                }
                found
            }
        };
        if present {
            inside.push(item);
        } else {
            outside.push(item);
        }
    }
    Ok((inside, outside))
}

/// Where `item` first appears in `list`, by merge key value (a missing key
/// matching a missing key, as Go's nil == nil) or by value.
fn position_in(list: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    match merge_key {
        None => list.iter().position(|candidate| json_eq(candidate, item)),
        Some(key) => {
            let wanted = item.get(key);
            list.iter()
                .position(|candidate| match (candidate.get(key), wanted) {
                    (Some(a), Some(b)) => json_eq(a, b),
                    (None, None) => true,
                    _ => false,
                })
        }
    }
}

/// `normalizeElementOrder`: patch items sorted by `patch_order`, server-only
/// items by `server_order`, then interleaved. A server-only item goes first
/// only when the live order puts it before the next patch item; a patch item
/// the live list does not know wins every comparison, which is why new items
/// land at the front.
fn normalize_order(
    mut from_patch: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    from_patch.sort_by_key(|item| position_in(patch_order, item, merge_key).unwrap_or(usize::MAX));
    server_only
        .sort_by_key(|item| position_in(server_order, item, merge_key).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(from_patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = from_patch.into_iter().peekable();
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        let left_first = matches!(
            (position_in(server_order, l, merge_key), position_in(server_order, r, merge_key)),
            (Some(li), Some(ri)) if li < ri
        );
        let next = if left_first {
            left.next()
        } else {
            right.next()
        };
        out.extend(next);
    }
    out.extend(left);
    out.extend(right);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::schema::{ArraySchema, ListType, ObjectSchema};

    // ----- schemas -----

    fn scalar() -> Schema {
        Schema::Scalar
    }

    fn object(fields: Vec<(&str, Schema)>) -> Schema {
        Schema::Object(ObjectSchema {
            fields: fields
                .into_iter()
                .map(|(name, schema)| (name.to_owned(), Arc::new(schema)))
                .collect::<BTreeMap<_, _>>(),
            ..ObjectSchema::default()
        })
    }

    fn string_map() -> Schema {
        Schema::Object(ObjectSchema {
            additional: Some(Arc::new(Schema::Scalar)),
            ..ObjectSchema::default()
        })
    }

    fn keyed_list(key: &str, strategy: &str, items: Schema) -> Schema {
        Schema::Array(ArraySchema {
            items: Arc::new(items),
            list_type: ListType::Map(vec![key.to_owned()]),
            patch_strategy: Some(strategy.to_owned()),
            patch_merge_key: Some(key.to_owned()),
        })
    }

    fn merge_list(key: &str, items: Schema) -> Schema {
        keyed_list(key, "merge", items)
    }

    fn primitive_merge_list() -> Schema {
        Schema::Array(ArraySchema {
            items: Arc::new(Schema::Scalar),
            list_type: ListType::Set,
            patch_strategy: Some("merge".to_owned()),
            patch_merge_key: None,
        })
    }

    fn atomic_list(items: Schema) -> Schema {
        Schema::Array(ArraySchema {
            items: Arc::new(items),
            ..ArraySchema::default()
        })
    }

    /// The parts of a Pod that matter for strategic merging.
    fn pod_schema() -> Schema {
        let env_var = object(vec![("name", scalar()), ("value", scalar())]);
        let port = object(vec![
            ("containerPort", scalar()),
            ("protocol", scalar()),
            ("name", scalar()),
        ]);
        let container = object(vec![
            ("name", scalar()),
            ("image", scalar()),
            ("args", atomic_list(scalar())),
            ("env", merge_list("name", env_var)),
            ("ports", merge_list("containerPort", port)),
        ]);
        let volume = object(vec![
            ("name", scalar()),
            ("emptyDir", object(vec![("medium", scalar())])),
            ("configMap", object(vec![("name", scalar())])),
        ]);
        let toleration = object(vec![
            ("key", scalar()),
            ("operator", scalar()),
            ("effect", scalar()),
        ]);
        let metadata = object(vec![
            ("name", scalar()),
            ("labels", string_map()),
            ("annotations", string_map()),
            ("finalizers", primitive_merge_list()),
        ]);
        let spec = object(vec![
            ("containers", merge_list("name", container.clone())),
            ("initContainers", merge_list("name", container)),
            ("volumes", keyed_list("name", "merge,retainKeys", volume)),
            ("tolerations", atomic_list(toleration)),
            ("nodeSelector", string_map()),
            ("securityContext", object(vec![("runAsUser", scalar())])),
        ]);
        object(vec![
            ("apiVersion", scalar()),
            ("kind", scalar()),
            ("metadata", metadata),
            ("spec", spec),
        ])
    }

    /// apimachinery's test `MergeItem`, one level deep.
    fn merge_item_schema() -> Schema {
        let item = object(vec![
            ("name", scalar()),
            ("value", scalar()),
            ("other", scalar()),
            ("nonMergingList", atomic_list(scalar())),
        ]);
        object(vec![
            ("mergingList", merge_list("name", item.clone())),
            ("nonMergingList", atomic_list(item)),
            ("mergingIntList", primitive_merge_list()),
            ("nonMergingIntList", atomic_list(scalar())),
            ("simpleMap", string_map()),
        ])
    }

    fn smp(target: Value, patch: Value) -> Value {
        let out = strategic_merge_patch(&target, &patch, &pod_schema()).expect("patch applies");
        assert_no_directives(&out);
        out
    }

    fn smp_items(target: Value, patch: Value) -> Value {
        let out =
            strategic_merge_patch(&target, &patch, &merge_item_schema()).expect("patch applies");
        assert_no_directives(&out);
        out
    }

    fn assert_no_directives(value: &Value) {
        match value {
            Value::Object(fields) => {
                for (key, value) in fields {
                    assert!(!is_directive_key(key), "directive {key} left in output");
                    assert_no_directives(value);
                }
            }
            Value::Array(items) => items.iter().for_each(assert_no_directives),
            _ => {}
        }
    }

    fn pod(containers: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": containers}})
    }

    fn is_malformed(result: Result<Value, PatchError>) -> String {
        match result {
            Err(PatchError::Malformed(message)) => message,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    fn is_conflict(result: Result<Value, PatchError>) -> String {
        match result {
            Err(PatchError::Conflict(message)) => message,
            other => panic!("expected Conflict, got {other:?}"),
        }
    }

    // ----- JSON patch: RFC 6902 appendix A -----

    fn jp(target: Value, patch: Value) -> Result<Value, PatchError> {
        json_patch(&target, &patch)
    }

    #[test]
    fn rfc6902_a1_add_object_member() {
        let out = jp(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux"}]),
        );
        assert_eq!(out.unwrap(), json!({"baz": "qux", "foo": "bar"}));
    }

    #[test]
    fn rfc6902_a2_add_array_element() {
        let out = jp(
            json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
        );
        assert_eq!(out.unwrap(), json!({"foo": ["bar", "qux", "baz"]}));
    }

    #[test]
    fn rfc6902_a3_remove_object_member() {
        let out = jp(
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "remove", "path": "/baz"}]),
        );
        assert_eq!(out.unwrap(), json!({"foo": "bar"}));
    }

    #[test]
    fn rfc6902_a4_remove_array_element() {
        let out = jp(
            json!({"foo": ["bar", "qux", "baz"]}),
            json!([{"op": "remove", "path": "/foo/1"}]),
        );
        assert_eq!(out.unwrap(), json!({"foo": ["bar", "baz"]}));
    }

    #[test]
    fn rfc6902_a5_replace_value() {
        let out = jp(
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
        );
        assert_eq!(out.unwrap(), json!({"baz": "boo", "foo": "bar"}));
    }

    #[test]
    fn rfc6902_a6_move_value() {
        let out = jp(
            json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
        );
        assert_eq!(
            out.unwrap(),
            json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}})
        );
    }

    #[test]
    fn rfc6902_a7_move_array_element() {
        let out = jp(
            json!({"foo": ["all", "grass", "cows", "eat"]}),
            json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
        );
        assert_eq!(
            out.unwrap(),
            json!({"foo": ["all", "cows", "eat", "grass"]})
        );
    }

    #[test]
    fn rfc6902_a8_test_success() {
        let doc = json!({"baz": "qux", "foo": ["a", 2, "c"]});
        let out = jp(
            doc.clone(),
            json!([
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2}
            ]),
        );
        assert_eq!(out.unwrap(), doc);
    }

    #[test]
    fn rfc6902_a9_test_failure_is_conflict() {
        let message = is_conflict(jp(
            json!({"baz": "qux"}),
            json!([{"op": "test", "path": "/baz", "value": "bar"}]),
        ));
        assert_eq!(message, "testing value /baz failed: test failed");
    }

    #[test]
    fn rfc6902_a10_add_nested_member_object() {
        let out = jp(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
        );
        assert_eq!(
            out.unwrap(),
            json!({"foo": "bar", "child": {"grandchild": {}}})
        );
    }

    #[test]
    fn rfc6902_a11_ignores_unrecognized_members() {
        let out = jp(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]),
        );
        assert_eq!(out.unwrap(), json!({"foo": "bar", "baz": "qux"}));
    }

    #[test]
    fn rfc6902_a12_add_to_nonexistent_target() {
        let message = is_conflict(jp(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]),
        ));
        assert_eq!(
            message,
            "add operation does not apply: doc is missing path: \"/baz/bat\": missing value"
        );
    }

    #[test]
    fn rfc6902_a13_invalid_operation_is_malformed() {
        let message = is_malformed(jp(
            json!({"foo": "bar"}),
            json!([{"op": "frobnicate", "path": "/foo"}]),
        ));
        assert_eq!(message, "Unexpected kind: frobnicate");
    }

    #[test]
    fn rfc6902_a14_escape_ordering() {
        let doc = json!({"/": 9, "~1": 10});
        let out = jp(
            doc.clone(),
            json!([{"op": "test", "path": "/~01", "value": 10}]),
        );
        assert_eq!(out.unwrap(), doc);
    }

    #[test]
    fn rfc6902_a15_string_is_not_number() {
        is_conflict(jp(
            json!({"/": 9, "~1": 10}),
            json!([{"op": "test", "path": "/~01", "value": "10"}]),
        ));
    }

    #[test]
    fn rfc6902_a16_add_array_value_with_dash() {
        let out = jp(
            json!({"foo": ["bar"]}),
            json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
        );
        assert_eq!(out.unwrap(), json!({"foo": ["bar", ["abc", "def"]]}));
    }

    // ----- JSON patch: beyond the appendix -----

    #[test]
    fn json_patch_copy() {
        let out = jp(
            json!({"spec": {"a": {"x": 1}}}),
            json!([{"op": "copy", "from": "/spec/a", "path": "/spec/b"}]),
        );
        assert_eq!(
            out.unwrap(),
            json!({"spec": {"a": {"x": 1}, "b": {"x": 1}}})
        );
    }

    #[test]
    fn json_patch_escaped_annotation_key() {
        let out = jp(
            json!({"metadata": {"annotations": {}}}),
            json!([{"op": "add", "path": "/metadata/annotations/example.com~1a~0b", "value": "v"}]),
        );
        assert_eq!(
            out.unwrap(),
            json!({"metadata": {"annotations": {"example.com/a~b": "v"}}})
        );
    }

    #[test]
    fn json_patch_appends_container_with_dash() {
        let out = jp(
            pod(json!([{"name": "a"}])),
            json!([{"op": "add", "path": "/spec/containers/-", "value": {"name": "b"}}]),
        );
        assert_eq!(out.unwrap(), pod(json!([{"name": "a"}, {"name": "b"}])));
    }

    #[test]
    fn json_patch_index_equal_to_length_appends_and_beyond_fails() {
        let out = jp(
            json!({"l": [1]}),
            json!([{"op": "add", "path": "/l/1", "value": 2}]),
        );
        assert_eq!(out.unwrap(), json!({"l": [1, 2]}));
        let message = is_conflict(jp(
            json!({"l": [1]}),
            json!([{"op": "add", "path": "/l/3", "value": 2}]),
        ));
        assert!(
            message.contains("Unable to access invalid index: 3"),
            "{message}"
        );
    }

    #[test]
    fn json_patch_negative_indices_count_from_the_end() {
        let out = jp(
            json!({"l": [1, 2, 3]}),
            json!([
                {"op": "remove", "path": "/l/-1"},
                {"op": "add", "path": "/l/-1", "value": 9}
            ]),
        );
        assert_eq!(out.unwrap(), json!({"l": [1, 2, 9]}));
    }

    #[test]
    fn json_patch_replace_missing_key_is_conflict() {
        let message = is_conflict(jp(
            json!({"spec": {}}),
            json!([{"op": "replace", "path": "/spec/foo", "value": 1}]),
        ));
        assert_eq!(
            message,
            "replace operation does not apply: doc is missing key: /spec/foo: missing value"
        );
    }

    #[test]
    fn json_patch_remove_missing_is_conflict() {
        let message = is_conflict(jp(json!({"a": 1}), json!([{"op": "remove", "path": "/b"}])));
        assert_eq!(
            message,
            "error in remove for path: '/b': Unable to remove nonexistent key: b: missing value"
        );
        is_conflict(jp(
            json!({"a": [1]}),
            json!([{"op": "remove", "path": "/a/1"}]),
        ));
        is_conflict(jp(
            json!({"a": [1]}),
            json!([{"op": "remove", "path": "/a/x"}]),
        ));
    }

    #[test]
    fn json_patch_move_into_own_child_fails() {
        is_conflict(jp(
            json!({"a": {"b": 1}}),
            json!([{"op": "move", "from": "/a", "path": "/a/c"}]),
        ));
    }

    #[test]
    fn json_patch_failure_keeps_no_partial_result() {
        let target = json!({"a": 1});
        let result = json_patch(
            &target,
            &json!([
                {"op": "add", "path": "/b", "value": 2},
                {"op": "test", "path": "/a", "value": 5}
            ]),
        );
        is_conflict(result);
        assert_eq!(target, json!({"a": 1}));
    }

    #[test]
    fn json_patch_test_quirks_of_the_real_server() {
        // An absent member tests equal to null; numbers compare by value.
        let doc = json!({"a": 1});
        let out = jp(
            doc.clone(),
            json!([
                {"op": "test", "path": "/missing", "value": null},
                {"op": "test", "path": "/a", "value": 1.0}
            ]),
        );
        assert_eq!(out.unwrap(), doc);
    }

    #[test]
    fn json_patch_root_pointer_is_refused() {
        is_conflict(jp(
            json!({"a": 1}),
            json!([{"op": "replace", "path": "", "value": {}}]),
        ));
    }

    #[test]
    fn json_patch_malformed_bodies() {
        is_malformed(jp(json!({}), json!({"op": "add"})));
        is_malformed(jp(json!({}), json!(["add"])));
        is_malformed(jp(json!({}), json!([{"path": "/a", "value": 1}])));
        is_malformed(jp(json!({}), json!([{"op": "add", "value": 1}])));
        is_malformed(jp(
            json!({}),
            json!([{"op": "add", "path": "a", "value": 1}]),
        ));
        is_malformed(jp(
            json!({}),
            json!([{"op": "add", "path": "/a~2", "value": 1}]),
        ));
        is_malformed(jp(json!({}), json!([{"op": "add", "path": "/a"}])));
        is_malformed(jp(json!({}), json!([{"op": "move", "path": "/a"}])));
        // Shape is checked before anything applies.
        is_malformed(jp(
            json!({}),
            json!([{"op": "remove", "path": "/nope"}, {"op": "bogus", "path": "/a"}]),
        ));
        let too_many = Value::Array(vec![
            json!({"op": "test", "path": "/a", "value": 1});
            10_001
        ]);
        let message = is_malformed(json_patch(&json!({"a": 1}), &too_many));
        assert_eq!(
            message,
            "The allowed maximum operations in a JSON patch is 10000, got 10001"
        );
    }

    // ----- JSON merge patch: RFC 7386 appendix A -----

    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(merge_patch(&target, &patch), expected, "{target} + {patch}");
        }
    }

    #[test]
    fn merge_patch_deletes_label_and_keeps_others() {
        let out = merge_patch(
            &json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": [1]}}),
            &json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
        );
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"x": [1]}})
        );
    }

    #[test]
    fn merge_patch_null_pruning_follows_evanphx() {
        // New values lose null members even inside arrays...
        let out = merge_patch(&json!({}), &json!({"a": [{"b": null, "c": 1}, null]}));
        assert_eq!(out, json!({"a": [{"c": 1}, null]}));
        // ...but a value replacing an object is stored as sent.
        let out = merge_patch(&json!({"a": {"x": 1}}), &json!({"a": [{"b": null}]}));
        assert_eq!(out, json!({"a": [{"b": null}]}));
    }

    // ----- strategic merge patch: the common cases -----

    #[test]
    fn smp_changes_container_image_by_name() {
        let out = smp(
            pod(json!([
                {"name": "app", "image": "app:1", "args": ["x"]},
                {"name": "sidecar", "image": "proxy:1"}
            ])),
            json!({"spec": {"containers": [{"name": "app", "image": "app:2"}]}}),
        );
        assert_eq!(
            out,
            pod(json!([
                {"name": "app", "image": "app:2", "args": ["x"]},
                {"name": "sidecar", "image": "proxy:1"}
            ]))
        );
    }

    #[test]
    fn smp_adding_env_var_keeps_the_others_and_goes_first() {
        let out = smp(
            pod(json!([{"name": "app", "env": [
                {"name": "A", "value": "1"},
                {"name": "B", "value": "2"}
            ]}])),
            json!({"spec": {"containers": [{"name": "app", "env": [{"name": "C", "value": "3"}]}]}}),
        );
        // The real server puts unmatched patch items before the live ones.
        assert_eq!(
            out,
            pod(json!([{"name": "app", "env": [
                {"name": "C", "value": "3"},
                {"name": "A", "value": "1"},
                {"name": "B", "value": "2"}
            ]}]))
        );
    }

    #[test]
    fn smp_adding_container_prepends_like_kubectl_patch_docs() {
        // kubernetes.io "Update API Objects in Place Using kubectl patch" shows
        // the redis container first after this patch.
        let out = smp(
            pod(json!([{"name": "patch-demo-ctr", "image": "nginx"}])),
            json!({"spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}}),
        );
        assert_eq!(
            out,
            pod(json!([
                {"name": "patch-demo-ctr-2", "image": "redis"},
                {"name": "patch-demo-ctr", "image": "nginx"}
            ]))
        );
    }

    #[test]
    fn smp_merges_by_numeric_merge_key() {
        let out = smp(
            pod(json!([{"name": "app", "ports": [
                {"containerPort": 80, "protocol": "TCP"},
                {"containerPort": 8080, "protocol": "TCP"}
            ]}])),
            json!({"spec": {"containers": [{"name": "app", "ports": [
                {"containerPort": 8080.0, "name": "admin"},
                {"containerPort": 443}
            ]}]}}),
        );
        assert_eq!(
            out,
            pod(json!([{"name": "app", "ports": [
                {"containerPort": 80, "protocol": "TCP"},
                // Matched by value; the patch's spelling is kept, as Go's
                // int64 and float64 are different types.
                {"containerPort": 8080.0, "protocol": "TCP", "name": "admin"},
                {"containerPort": 443}
            ]}]))
        );
    }

    #[test]
    fn smp_patch_delete_removes_container() {
        let out = smp(
            pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
            json!({"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}),
        );
        assert_eq!(out, pod(json!([{"name": "a"}, {"name": "c"}])));
    }

    #[test]
    fn smp_patch_delete_removes_every_duplicate() {
        let out = smp_items(
            json!({"mergingList": [
                {"name": "1"}, {"name": "1"}, {"name": "2", "value": "a"}, {"name": "3"}, {"name": "3"}
            ]}),
            json!({"mergingList": [
                {"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}
            ]}),
        );
        assert_eq!(out, json!({"mergingList": [{"name": "2", "value": "a"}]}));
    }

    #[test]
    fn smp_patch_replace_replaces_whole_list() {
        let out = smp(
            pod(json!([{"name": "a", "image": "a"}, {"name": "b"}])),
            json!({"spec": {"containers": [
                {"name": "c", "image": "c", "args": null},
                {"$patch": "replace"}
            ]}}),
        );
        assert_eq!(out, pod(json!([{"name": "c", "image": "c"}])));

        let out = smp(
            pod(json!([{"name": "a"}])),
            json!({"spec": {"containers": [{"$patch": "replace"}]}}),
        );
        assert_eq!(out, pod(json!([])));
    }

    #[test]
    fn smp_map_directives() {
        let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let out = smp(
            target.clone(),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3", "d": null}}}),
        );
        assert_eq!(out, json!({"metadata": {"labels": {"c": "3"}}}));
        // As in apimachinery, deleting a map leaves it empty.
        let out = smp(
            target,
            json!({"metadata": {"labels": {"$patch": "delete"}}}),
        );
        assert_eq!(out, json!({"metadata": {"labels": {}}}));
    }

    #[test]
    fn smp_null_deletes_label() {
        let out = smp(
            json!({"metadata": {"name": "p", "labels": {"app": "web", "tier": "fe"}}}),
            json!({"metadata": {"labels": {"tier": null, "absent": null, "new": "x"}}}),
        );
        assert_eq!(
            out,
            json!({"metadata": {"name": "p", "labels": {"app": "web", "new": "x"}}})
        );
    }

    #[test]
    fn smp_replaces_list_without_merge_strategy() {
        let out = smp(
            json!({"spec": {"tolerations": [
                {"key": "a", "operator": "Exists"},
                {"key": "b", "operator": "Exists"}
            ]}}),
            json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists", "effect": null}]}}),
        );
        assert_eq!(
            out,
            json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}})
        );
    }

    #[test]
    fn smp_primitive_merge_list_is_an_ordered_union() {
        let target = json!({"metadata": {"finalizers": ["a", "b"]}});
        let out = smp(
            target.clone(),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
        );
        assert_eq!(out, json!({"metadata": {"finalizers": ["a", "b", "c"]}}));
        let out = smp(target, json!({"metadata": {"finalizers": ["c", "c"]}}));
        assert_eq!(out, json!({"metadata": {"finalizers": ["c", "a", "b"]}}));
    }

    #[test]
    fn smp_delete_from_primitive_list() {
        let out = smp(
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zzz"]}}),
        );
        assert_eq!(out, json!({"metadata": {"finalizers": ["a", "c"]}}));
        // Nothing to delete from: the list is not created.
        let out = smp(
            json!({"metadata": {"name": "p"}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
        );
        assert_eq!(out, json!({"metadata": {"name": "p"}}));
        // It works on lists without the merge strategy too, as in apimachinery.
        let out = smp_items(
            json!({"nonMergingIntList": [1, 2, 3]}),
            json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]}),
        );
        assert_eq!(out, json!({"nonMergingIntList": [1, 3]}));
    }

    #[test]
    fn smp_set_element_order_reorders_and_is_stripped() {
        let out = smp(
            pod(json!([{"name": "b", "image": "b"}, {"name": "a", "image": "a"}])),
            json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}]}}),
        );
        assert_eq!(
            out,
            pod(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]))
        );
    }

    #[test]
    fn smp_set_element_order_with_additions_as_kubectl_apply_sends() {
        // apimachinery "merge lists of maps" (three-way result).
        let out = smp_items(
            json!({"mergingList": [
                {"name": "1", "other": "a"},
                {"name": "2", "value": "2", "other": "b"}
            ]}),
            json!({
                "$setElementOrder/mergingList": [
                    {"name": "4"}, {"name": "1"}, {"name": "2"}, {"name": "3"}
                ],
                "mergingList": [{"name": "4", "value": "4"}, {"name": "3", "value": "3"}]
            }),
        );
        assert_eq!(
            out,
            json!({"mergingList": [
                {"name": "4", "value": "4"},
                {"name": "1", "other": "a"},
                {"name": "2", "value": "2", "other": "b"},
                {"name": "3", "value": "3"}
            ]})
        );
    }

    #[test]
    fn smp_set_element_order_with_add_and_delete_keeps_server_item_in_place() {
        // apimachinery "add map and delete map from merging list": the result
        // depends on Go reusing the live slice's storage after the deletion.
        let out = smp_items(
            json!({"mergingList": [
                {"name": "1"}, {"name": "2", "other": "b"}, {"name": "4", "other": "c"}
            ]}),
            json!({
                "$setElementOrder/mergingList": [{"name": "2"}, {"name": "3"}],
                "mergingList": [{"name": "3"}, {"name": "1", "$patch": "delete"}]
            }),
        );
        assert_eq!(
            out,
            json!({"mergingList": [
                {"name": "2", "other": "b"}, {"name": "4", "other": "c"}, {"name": "3"}
            ]})
        );
    }

    #[test]
    fn smp_set_element_order_and_delete_list_on_primitives() {
        // apimachinery "add and delete items in lists of scalars" (two-way).
        let out = smp_items(
            json!({"mergingIntList": [1, 2, 3]}),
            json!({
                "$setElementOrder/mergingIntList": [1, 2, 4],
                "$deleteFromPrimitiveList/mergingIntList": [3],
                "mergingIntList": [4]
            }),
        );
        assert_eq!(out, json!({"mergingIntList": [1, 2, 4]}));
        // "delete items in lists of scalars" (three-way): server-only 4 stays.
        let out = smp_items(
            json!({"mergingIntList": [1, 2, 3, 4]}),
            json!({
                "$setElementOrder/mergingIntList": [1, 2],
                "$deleteFromPrimitiveList/mergingIntList": [3]
            }),
        );
        assert_eq!(out, json!({"mergingIntList": [1, 2, 4]}));
    }

    #[test]
    fn smp_order_follows_patch_then_live_list() {
        // apimachinery "preserve the order from the patch in a merging list 2".
        let out = smp_items(
            json!({"mergingList": [{"name": "1"}, {"name": "2", "value": "b"}, {"name": "3"}]}),
            json!({"mergingList": [{"name": "3", "value": "c"}, {"name": "1", "value": "a"}]}),
        );
        assert_eq!(
            out,
            json!({"mergingList": [
                {"name": "2", "value": "b"},
                {"name": "3", "value": "c"},
                {"name": "1", "value": "a"}
            ]})
        );
        // The design proposal's example: live B C A, patch A' B' D.
        let out = smp_items(
            json!({"mergingList": [{"name": "B"}, {"name": "C"}, {"name": "A"}]}),
            json!({"mergingList": [
                {"name": "A", "value": "'"}, {"name": "B", "value": "'"}, {"name": "D"}
            ]}),
        );
        assert_eq!(
            out,
            json!({"mergingList": [
                {"name": "C"}, {"name": "A", "value": "'"}, {"name": "B", "value": "'"}, {"name": "D"}
            ]})
        );
    }

    #[test]
    fn smp_retain_keys_switches_volume_source() {
        let out = smp(
            json!({"spec": {"volumes": [
                {"name": "data", "emptyDir": {"medium": "Memory"}},
                {"name": "other", "emptyDir": {}}
            ]}}),
            json!({"spec": {"volumes": [{
                "name": "data",
                "$retainKeys": ["configMap", "name"],
                "configMap": {"name": "cm"}
            }]}}),
        );
        assert_eq!(
            out,
            json!({"spec": {"volumes": [
                {"name": "data", "configMap": {"name": "cm"}},
                {"name": "other", "emptyDir": {}}
            ]}})
        );
    }

    #[test]
    fn smp_new_values_are_cleaned() {
        // apimachinery "nested patch merge with empty list", plus nulls and a
        // map carrying a directive where nothing was.
        let out = smp(
            json!({"metadata": {"name": "hi"}, "spec": {}}),
            json!({"spec": {
                "initContainers": [
                    {"name": "hello", "image": null, "env": [{"name": "E", "value": null}]},
                    {"$patch": "delete", "name": "doesntexist"}
                ],
                "securityContext": {"$patch": "replace", "runAsUser": 1},
                "nodeSelector": {"$retainKeys": ["a"], "a": "b", "$setElementOrder/x": []}
            }}),
        );
        assert_eq!(
            out,
            json!({"metadata": {"name": "hi"}, "spec": {
                "initContainers": [{"name": "hello", "env": [{"name": "E"}]}],
                "nodeSelector": {"a": "b"}
            }})
        );
    }

    #[test]
    fn smp_new_container_with_nested_directives_is_cleaned() {
        let out = smp(
            pod(json!([{"name": "a"}])),
            json!({"spec": {"containers": [{
                "name": "b",
                "image": null,
                "env": [{"name": "X", "$patch": "delete"}, {"name": "Y", "value": "y"}],
                "$setElementOrder/env": [{"name": "Y"}]
            }]}}),
        );
        assert_eq!(
            out,
            pod(json!([{"name": "b", "env": [{"name": "Y", "value": "y"}]}, {"name": "a"}]))
        );
    }

    #[test]
    fn smp_type_change_replaces_and_drops_directive_values() {
        let out = smp(
            json!({"metadata": {"name": "p", "labels": "oops"}}),
            json!({"metadata": {"labels": {"a": "1", "b": null}}}),
        );
        assert_eq!(
            out,
            json!({"metadata": {"name": "p", "labels": {"a": "1"}}})
        );
        let out = smp(
            json!({"metadata": {"name": "p", "labels": "oops"}}),
            json!({"metadata": {"labels": {"$patch": "delete"}}}),
        );
        assert_eq!(out, json!({"metadata": {"name": "p"}}));
    }

    #[test]
    fn smp_top_level_replace() {
        let out = smp(
            json!({"metadata": {"name": "p"}, "spec": {"a": 1}}),
            json!({"$patch": "replace", "metadata": {"name": "q"}}),
        );
        assert_eq!(out, json!({"metadata": {"name": "q"}}));
    }

    #[test]
    fn smp_deduced_schema_is_merge_patch_with_directives_understood() {
        let out = strategic_merge_patch(
            &json!({"spec": {"list": [{"name": "a"}, {"name": "b"}], "keep": 1, "drop": 2}}),
            &json!({"spec": {
                "list": [{"name": "c", "x": null}],
                "drop": null,
                "added": {"$patch": "delete"},
                "nested": {"k": "v", "n": null}
            }}),
            &Schema::Deduced,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"spec": {"list": [{"name": "c"}], "keep": 1, "nested": {"k": "v"}}})
        );
    }

    // ----- strategic merge patch: errors -----

    #[test]
    fn smp_rejects_non_object_patch() {
        let message = is_malformed(strategic_merge_patch(&json!({}), &json!([]), &pod_schema()));
        assert!(message.starts_with("invalid JSON document"), "{message}");
    }

    #[test]
    fn smp_rejects_unknown_patch_directive() {
        let message = is_malformed(strategic_merge_patch(
            &json!({"metadata": {"labels": {}}}),
            &json!({"metadata": {"labels": {"$patch": "bogus"}}}),
            &pod_schema(),
        ));
        assert!(
            message.starts_with("unknown patch type: bogus in map:"),
            "{message}"
        );
        is_malformed(strategic_merge_patch(
            &pod(json!([{"name": "a"}])),
            &json!({"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}),
            &pod_schema(),
        ));
    }

    #[test]
    fn smp_rejects_list_item_without_merge_key() {
        let message = is_malformed(strategic_merge_patch(
            &pod(json!([{"name": "a"}])),
            &json!({"spec": {"containers": [{"image": "x"}]}}),
            &pod_schema(),
        ));
        assert!(
            message.contains("does not contain declared merge key: name"),
            "{message}"
        );
        is_malformed(strategic_merge_patch(
            &pod(json!([{"name": "a"}])),
            &json!({"spec": {"containers": [{"$patch": "delete"}]}}),
            &pod_schema(),
        ));
    }

    #[test]
    fn smp_rejects_bad_directives() {
        let schema = merge_item_schema();
        // An item in the patch list that $setElementOrder puts elsewhere.
        let message = is_malformed(strategic_merge_patch(
            &json!({"mergingList": [{"name": "1"}, {"name": "3"}, {"name": "2"}]}),
            &json!({
                "$setElementOrder/mergingList": [{"name": "1"}, {"name": "2"}, {"name": "3"}],
                "mergingList": [{"name": "3", "value": "3"}, {"name": "1", "value": "1"}]
            }),
            &schema,
        ));
        assert!(message.contains("doesn't match"), "{message}");
        // A key the patch sets but $retainKeys does not list.
        let message = is_malformed(strategic_merge_patch(
            &json!({"simpleMap": {"a": "1"}}),
            &json!({"simpleMap": {"$retainKeys": ["a"], "b": "2"}}),
            &schema,
        ));
        assert!(
            message.starts_with("invalid patch format of retainKeys"),
            "{message}"
        );
        is_malformed(strategic_merge_patch(
            &json!({"simpleMap": {"a": "1"}}),
            &json!({"simpleMap": {"$retainKeys": "a"}}),
            &schema,
        ));
        // A parallel list whose prefix is not followed by '/'.
        is_malformed(strategic_merge_patch(
            &json!({"mergingIntList": [1]}),
            &json!({"$deleteFromPrimitiveListmergingIntList": [1]}),
            &schema,
        ));
        is_malformed(strategic_merge_patch(
            &json!({"mergingIntList": [1]}),
            &json!({"$setElementOrder/mergingIntList": 1}),
            &schema,
        ));
    }

    #[test]
    fn smp_conflicts_with_unmergeable_live_lists() {
        let schema = merge_item_schema();
        let message = is_conflict(strategic_merge_patch(
            &json!({"mergingIntList": [[1]]}),
            &json!({"mergingIntList": [[2]]}),
            &schema,
        ));
        assert_eq!(message, "lists of lists are not supported");
        is_conflict(strategic_merge_patch(
            &json!({"mergingIntList": [1]}),
            &json!({"mergingIntList": ["two"]}),
            &schema,
        ));
        // A live item without the merge key cannot be placed.
        is_conflict(strategic_merge_patch(
            &json!({"mergingList": [{"value": "orphan"}]}),
            &json!({"mergingList": [{"name": "1"}]}),
            &schema,
        ));
    }
}
