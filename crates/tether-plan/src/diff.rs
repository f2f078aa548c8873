//! Compare a desired object with its live counterpart without the noise that
//! the API server adds.
//!
//! The rule that everything here serves: an object that tether has just
//! applied with server-side apply must compare equal to what it applied.
//! So the comparison is driven by the desired object: only fields it sets are
//! looked at (defaults, status, managedFields, labels other tools add are all
//! invisible), and values the server rewrites (`1` → `"1"`, `0.5` CPU →
//! `"500m"`, omitted zero values, Secret `stringData` folded into `data`)
//! compare equal to what was written.
//!
//! The one exception to "only desired's fields": list elements. A container,
//! env var or port that exists live but not in Git is drift (someone edited
//! the object), so an extra element counts as a change.

use serde_json::{Map, Number, Value};
use similar::TextDiff;
use tether_model::{COMPARE_ANNOTATION, IgnoreDifference, ObjectRef, to_yaml};

/// How to compare one object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompareOptions {
    /// Ignore rules. Rules for other objects may be passed too: [`compare`]
    /// keeps only those that match the desired object (see [`rules_for`]).
    pub ignore: Vec<IgnoreDifference>,
    /// Hide the values under `data` and `stringData` in the diff and the
    /// changes. Core `Secret`s are always redacted, whatever this says, so a
    /// caller cannot leak one by forgetting the flag; set it for other kinds
    /// that carry secrets.
    pub redact: bool,
}

/// One field that differs.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    /// Where: `spec.replicas`, `spec.template.spec.containers[name=web].image`,
    /// `metadata.labels["app.kubernetes.io/name"]`, `spec.ports[port=80]`, `spec.rules[0]`.
    pub path: String,
    /// The value Git wants; None when Git does not have it (an extra list element live).
    pub desired: Option<Value>,
    /// The value in the cluster; None when the field is missing there.
    pub live: Option<Value>,
}

/// The outcome of [`compare`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    pub equal: bool,
    pub changes: Vec<FieldChange>,
    /// Unified diff (`--- live`, `+++ desired`) of the fields that matter; empty when equal.
    pub diff: String,
}

impl Comparison {
    fn same() -> Self {
        Comparison {
            equal: true,
            changes: Vec::new(),
            diff: String::new(),
        }
    }
}

/// The rules that apply to `obj`: same group and kind (`*` matches any), and
/// name and namespace when the rule sets them.
pub fn rules_for(rules: &[IgnoreDifference], obj: &ObjectRef) -> Vec<IgnoreDifference> {
    rules
        .iter()
        .filter(|r| rule_matches(r, obj))
        .cloned()
        .collect()
}

fn rule_matches(rule: &IgnoreDifference, obj: &ObjectRef) -> bool {
    let matches = |want: &str, have: &str| want == "*" || want == have;
    let optional = |want: &Option<String>, have: &str| {
        want.as_deref()
            .is_none_or(|w| w.is_empty() || matches(w, have))
    };
    matches(&rule.group, &obj.group)
        && matches(&rule.kind, &obj.kind)
        && optional(&rule.name, &obj.name)
        && optional(&rule.namespace, &obj.namespace)
}

/// Whether the desired object opts out of comparison (`tether.dev/compare: ignore`).
pub fn compare_ignored(desired: &Value) -> bool {
    desired
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(COMPARE_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("ignore"))
}

/// Compare `desired` (as rendered and decorated) with `live` (as read from the
/// cluster). Pass `Value::Null` as `live` for an object that does not exist:
/// every field is then a change.
pub fn compare(desired: &Value, live: &Value, opts: &CompareOptions) -> Comparison {
    if compare_ignored(desired) {
        return Comparison::same();
    }
    let secret = is_core_secret(desired);
    let redact = opts.redact || secret;
    let rules: Vec<&IgnoreDifference> = match ObjectRef::of(desired) {
        Some(r) => opts.ignore.iter().filter(|x| rule_matches(x, &r)).collect(),
        None => opts.ignore.iter().collect(),
    };

    let mut want = normalise(desired, secret);
    let mut have = live.clone();
    // Read managedFields before anything is removed from the live object.
    let managers: Vec<&str> = rules
        .iter()
        .flat_map(|r| r.managed_fields_managers.iter().map(String::as_str))
        .collect();
    let owned = owned_by(live, &managers);
    for pointer in rules.iter().flat_map(|r| &r.json_pointers) {
        remove_pointer(&mut want, pointer);
        remove_pointer(&mut have, pointer);
    }
    for tree in &owned {
        drop_owned(tree, Some(&mut want), Some(&mut have));
    }

    let mut walker = Walker::default();
    let mut projected = walker.walk_top(&want, &have, redact);

    let mut redactor = Redactor::default();
    if redact {
        redact_top(&mut want, &mut redactor);
        redact_top(&mut projected, &mut redactor);
    }
    let changes: Vec<FieldChange> = walker
        .changes
        .into_iter()
        .map(|c| {
            let mut hide = |v: Option<Value>| match v {
                Some(v) if c.sensitive => Some(redactor.redact(&v)),
                v => v,
            };
            FieldChange {
                desired: hide(c.desired),
                live: hide(c.live),
                path: c.path,
            }
        })
        .collect();
    if changes.is_empty() {
        return Comparison::same();
    }
    Comparison {
        equal: false,
        changes,
        diff: unified(&to_yaml(&projected), &to_yaml(&want)),
    }
}

/// The diff shown for an object about to be created: all of it, as it will be
/// compared later (no status, metadata trimmed, secrets redacted).
pub(crate) fn creation_diff(desired: &Value, opts: &CompareOptions) -> String {
    let secret = is_core_secret(desired);
    let mut want = normalise(desired, secret);
    if opts.redact || secret {
        redact_top(&mut want, &mut Redactor::default());
    }
    unified("", &to_yaml(&want))
}

fn unified(live: &str, desired: &str) -> String {
    TextDiff::from_lines(live, desired)
        .unified_diff()
        .context_radius(3)
        .header("live", "desired")
        .to_string()
}

fn is_core_secret(obj: &Value) -> bool {
    obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && obj.get("kind").and_then(Value::as_str) == Some("Secret")
}

/// The desired object as it will be compared: no status, metadata reduced to
/// what identifies it plus the labels and annotations Git sets (the rest of
/// metadata is the server's or other controllers'), and for a Secret the
/// write-only `stringData` folded into `data` the way the API server does.
fn normalise(desired: &Value, secret: bool) -> Value {
    let Value::Object(fields) = desired else {
        return desired.clone();
    };
    let mut out = Map::new();
    for (k, v) in fields {
        match k.as_str() {
            "status" => {}
            "metadata" => {
                let meta = match v {
                    Value::Object(m) => Value::Object(
                        m.iter()
                            .filter(|(k, _)| {
                                matches!(
                                    k.as_str(),
                                    "name" | "namespace" | "labels" | "annotations"
                                )
                            })
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    ),
                    other => other.clone(),
                };
                out.insert(k.clone(), meta);
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    // A stringData that is not a map is dropped all the same: the server never returns one.
    if secret && let Some(Value::Object(entries)) = out.shift_remove("stringData") {
        let data = out
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        let data = data.as_object_mut().expect("made an object above");
        // stringData wins over data for the same key, as on the server.
        for (k, v) in entries {
            let text = match v {
                Value::String(s) => s,
                Value::Null => continue,
                other => other.to_string(),
            };
            data.insert(k, Value::String(base64(text.as_bytes())));
        }
    }
    Value::Object(out)
}

/// Standard base64 with padding: how the API server prints Secret data.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

// ---- ignore rules: JSON pointers ----

/// Remove what an RFC 6901 pointer names; a pointer that names nothing is a no-op.
fn remove_pointer(doc: &mut Value, pointer: &str) {
    let Some(rest) = pointer.strip_prefix('/') else {
        return;
    };
    let tokens: Vec<String> = rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut cur = doc;
    for token in parents {
        let next = match cur {
            Value::Object(m) => m.get_mut(token.as_str()),
            Value::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match cur {
        Value::Object(m) => {
            m.shift_remove(last.as_str());
        }
        Value::Array(a) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

// ---- ignore rules: managedFields ----

/// One node of a FieldsV1 set: what a field manager owns at this point.
#[derive(Debug, Default)]
struct Owned {
    /// `{}`: the whole value is owned.
    whole: bool,
    /// `.`: the element or map itself (its existence) is owned.
    dot: bool,
    /// `f:<name>`
    fields: Vec<(String, Owned)>,
    /// `k:{"name":"web"}`: a list element picked by its key fields.
    keyed: Vec<(Map<String, Value>, Owned)>,
    /// `v:"x"`: an element of a list of scalars.
    values: Vec<Value>,
}

impl Owned {
    fn parse(fields_v1: &Value) -> Owned {
        let mut node = Owned::default();
        let Some(entries) = fields_v1.as_object() else {
            return node;
        };
        node.whole = entries.is_empty();
        for (k, child) in entries {
            if k == "." {
                node.dot = true;
            } else if let Some(name) = k.strip_prefix("f:") {
                node.fields.push((name.to_string(), Owned::parse(child)));
            } else if let Some(key) = k.strip_prefix("k:")
                && let Ok(Value::Object(key)) = serde_json::from_str(key)
            {
                node.keyed.push((key, Owned::parse(child)));
            } else if let Some(value) = k.strip_prefix("v:")
                && let Ok(value) = serde_json::from_str(value)
            {
                node.values.push(value);
            }
            // `i:<n>` (a position in an atomic list) names no stable field; skip it.
        }
        node
    }
}

/// The FieldsV1 trees of the live object's managedFields entries whose manager is listed.
fn owned_by(live: &Value, managers: &[&str]) -> Vec<Owned> {
    if managers.is_empty() {
        return Vec::new();
    }
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|entry| {
            entry
                .get("manager")
                .and_then(Value::as_str)
                .is_some_and(|m| managers.contains(&m))
        })
        .filter_map(|entry| entry.get("fieldsV1"))
        .map(Owned::parse)
        .collect()
}

/// Remove what another manager owns from both sides, so it cannot differ.
fn drop_owned(node: &Owned, mut want: Option<&mut Value>, mut have: Option<&mut Value>) {
    fn field<'v>(v: Option<&'v mut Value>, name: &str) -> Option<&'v mut Value> {
        match v {
            Some(Value::Object(m)) => m.get_mut(name),
            _ => None,
        }
    }
    fn list(v: Option<&mut Value>) -> Option<&mut Vec<Value>> {
        match v {
            Some(Value::Array(a)) => Some(a),
            _ => None,
        }
    }
    for (name, child) in &node.fields {
        if child.whole {
            for side in [want.as_deref_mut(), have.as_deref_mut()] {
                if let Some(Value::Object(m)) = side {
                    m.shift_remove(name.as_str());
                }
            }
        } else {
            drop_owned(
                child,
                field(want.as_deref_mut(), name),
                field(have.as_deref_mut(), name),
            );
        }
    }
    for (key, child) in &node.keyed {
        let find = |items: &Vec<Value>| items.iter().position(|item| key_matches(item, key));
        let want_at = list(want.as_deref_mut()).and_then(|a| find(a));
        let have_at = list(have.as_deref_mut()).and_then(|a| find(a));
        if child.whole {
            if let (Some(a), Some(i)) = (list(want.as_deref_mut()), want_at) {
                a.remove(i);
            }
            if let (Some(a), Some(i)) = (list(have.as_deref_mut()), have_at) {
                a.remove(i);
            }
            continue;
        }
        if child.dot && want_at.is_none() {
            // Their element, not in Git: not an extra element to report.
            if let (Some(a), Some(i)) = (list(have.as_deref_mut()), have_at) {
                a.remove(i);
            }
            continue;
        }
        let w = list(want.as_deref_mut())
            .zip(want_at)
            .map(|(a, i)| &mut a[i]);
        let h = list(have.as_deref_mut())
            .zip(have_at)
            .map(|(a, i)| &mut a[i]);
        drop_owned(child, w, h);
    }
    for value in &node.values {
        for side in [want.as_deref_mut(), have.as_deref_mut()] {
            if let Some(Value::Array(a)) = side {
                a.retain(|item| !scalar_eq(item, value, false));
            }
        }
    }
}

fn key_matches(item: &Value, key: &Map<String, Value>) -> bool {
    key.iter().all(|(k, v)| {
        item.get(k)
            .is_some_and(|have| key_text(have).is_some() && key_text(have) == key_text(v))
    })
}

// ---- the walk ----

/// What the walk knows about where it is.
#[derive(Clone, Copy, Debug, Default)]
struct Ctx {
    /// Under `resources`, `limits`, `hard`…: strings are Kubernetes quantities.
    quantity: bool,
    /// Under Secret `data`/`stringData`: values must be redacted.
    sensitive: bool,
    /// Under `data`/`binaryData`/`stringData`: user payload, never quantities.
    opaque: bool,
}

/// Maps whose values are quantities (`resources.limits`, ResourceQuota
/// `spec.hard`, LimitRange `limits[].max`…). Scoped this tightly because
/// quantity equality (`"1.0"` = `"1"`) would hide real changes anywhere else.
const QUANTITY_PARENTS: &[&str] = &[
    "resources",
    "limits",
    "requests",
    "hard",
    "capacity",
    "overhead",
    "allocatable",
    "max",
    "min",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
];

impl Ctx {
    fn enter(self, key: &str, child: &Value) -> Ctx {
        let quantity = !self.opaque
            && (self.quantity
                || key == "sizeLimit"
                || (child.is_object() && QUANTITY_PARENTS.contains(&key)));
        Ctx { quantity, ..self }
    }
}

struct Change {
    path: String,
    desired: Option<Value>,
    live: Option<Value>,
    sensitive: bool,
}

/// Walks desired and live together, recording changes and building the live
/// object projected onto desired's shape (what the diff shows on the live
/// side). Where the two are equal the projection takes desired's value, so
/// equal-but-differently-spelt values (`1` and `"1"`) make no diff lines.
#[derive(Default)]
struct Walker {
    changes: Vec<Change>,
}

impl Walker {
    fn change(&mut self, path: &str, ctx: Ctx, desired: Option<&Value>, live: Option<&Value>) {
        self.changes.push(Change {
            path: path.to_string(),
            desired: desired.cloned(),
            live: live.cloned(),
            sensitive: ctx.sensitive,
        });
    }

    fn walk_top(&mut self, want: &Value, have: &Value, redact: bool) -> Value {
        let Value::Object(fields) = want else {
            return self
                .walk("", want, Some(have), Ctx::default())
                .unwrap_or(Value::Null);
        };
        let empty = Map::new();
        let have = have.as_object().unwrap_or(&empty);
        let mut out = Map::new();
        for (k, v) in fields {
            // Identity, not content: the live object is the same object, and
            // may have been read at another version.
            if k == "apiVersion" || k == "kind" {
                out.insert(k.clone(), v.clone());
                continue;
            }
            let payload = matches!(k.as_str(), "data" | "stringData" | "binaryData");
            let ctx = Ctx {
                quantity: false,
                sensitive: redact && (k == "data" || k == "stringData"),
                opaque: payload,
            };
            if let Some(p) = self.walk(&join_key("", k), v, have.get(k), ctx) {
                out.insert(k.clone(), p);
            }
        }
        Value::Object(out)
    }

    fn walk(&mut self, path: &str, want: &Value, have: Option<&Value>, ctx: Ctx) -> Option<Value> {
        let have = have.filter(|v| !v.is_null());
        match (want, have) {
            // Git says "unset" (Helm renders plenty of these): nothing to hold the cluster to.
            (Value::Null, _) => Some(Value::Null),
            (_, None) => {
                if is_zero(want) {
                    // The server's Go types omit zero values, so absent is what it stores.
                    Some(want.clone())
                } else {
                    self.change(path, ctx, Some(want), None);
                    None
                }
            }
            (Value::Object(w), Some(Value::Object(h))) => {
                let mut out = Map::new();
                for (k, v) in w {
                    let child = ctx.enter(k, v);
                    if let Some(p) = self.walk(&join_key(path, k), v, h.get(k), child) {
                        out.insert(k.clone(), p);
                    }
                }
                Some(Value::Object(out))
            }
            (Value::Array(w), Some(Value::Array(h))) => Some(self.walk_list(path, w, h, ctx)),
            (w, Some(h)) if !is_container(w) && !is_container(h) => {
                if scalar_eq(w, h, ctx.quantity) {
                    Some(w.clone())
                } else {
                    self.change(path, ctx, Some(w), Some(h));
                    Some(h.clone())
                }
            }
            (w, Some(h)) => {
                self.change(path, ctx, Some(w), Some(h));
                Some(h.clone())
            }
        }
    }

    fn walk_list(&mut self, path: &str, want: &[Value], have: &[Value], ctx: Ctx) -> Value {
        if want.is_empty() || !want.iter().all(Value::is_object) {
            // Lists of scalars are atomic in Kubernetes (args, command): the
            // whole list is the value, order included.
            if want.len() == have.len() && want.iter().zip(have).all(|(w, h)| deep_eq(w, h, ctx)) {
                return Value::Array(want.to_vec());
            }
            self.change(
                path,
                ctx,
                Some(&Value::Array(want.to_vec())),
                Some(&Value::Array(have.to_vec())),
            );
            return Value::Array(have.to_vec());
        }
        match ListKey::pick(want) {
            Some(key) => self.walk_keyed(path, want, have, key, ctx),
            None => self.walk_indexed(path, want, have, ctx),
        }
    }

    fn walk_keyed(
        &mut self,
        path: &str,
        want: &[Value],
        have: &[Value],
        key: &ListKey,
        ctx: Ctx,
    ) -> Value {
        let mut used = vec![false; have.len()];
        let mut out = Vec::with_capacity(want.len());
        for w in want {
            let id = key.id(w);
            let at = format!("{path}[{}]", key.label(w));
            let found =
                (0..have.len()).find(|&i| !used[i] && id.is_some() && key.id(&have[i]) == id);
            match found {
                Some(i) => {
                    used[i] = true;
                    if let Some(p) = self.walk(&at, w, Some(&have[i]), ctx) {
                        out.push(p);
                    }
                }
                None => self.change(&at, ctx, Some(w), None),
            }
        }
        for (i, h) in have.iter().enumerate() {
            if !used[i] {
                let label = if key.id(h).is_some() {
                    key.label(h)
                } else {
                    i.to_string()
                };
                self.change(&format!("{path}[{label}]"), ctx, None, Some(h));
                out.push(h.clone());
            }
        }
        Value::Array(out)
    }

    fn walk_indexed(&mut self, path: &str, want: &[Value], have: &[Value], ctx: Ctx) -> Value {
        let mut out = Vec::with_capacity(want.len().max(have.len()));
        for i in 0..want.len().max(have.len()) {
            let at = format!("{path}[{i}]");
            match (want.get(i), have.get(i)) {
                (Some(w), Some(h)) => {
                    if let Some(p) = self.walk(&at, w, Some(h), ctx) {
                        out.push(p);
                    }
                }
                (Some(w), None) => self.change(&at, ctx, Some(w), None),
                (None, Some(h)) => {
                    self.change(&at, ctx, None, Some(h));
                    out.push(h.clone());
                }
                (None, None) => unreachable!("i is below one of the lengths"),
            }
        }
        Value::Array(out)
    }
}

/// How elements of a list of objects are matched between desired and live:
/// the strategic-merge keys of the built-in kinds, tried in order. A key is
/// used only when every desired element has it and no two share it;
/// otherwise elements are matched by position.
struct ListKey {
    field: &'static str,
    /// The key includes `protocol`, which the server defaults to TCP.
    with_protocol: bool,
}

const LIST_KEYS: &[ListKey] = &[
    ListKey {
        field: "name",
        with_protocol: false,
    },
    ListKey {
        field: "containerPort",
        with_protocol: true,
    },
    ListKey {
        field: "port",
        with_protocol: true,
    },
    ListKey {
        field: "mountPath",
        with_protocol: false,
    },
    ListKey {
        field: "devicePath",
        with_protocol: false,
    },
    ListKey {
        field: "ip",
        with_protocol: false,
    },
    ListKey {
        field: "type",
        with_protocol: false,
    },
    ListKey {
        field: "key",
        with_protocol: false,
    },
];

impl ListKey {
    fn pick(want: &[Value]) -> Option<&'static ListKey> {
        LIST_KEYS.iter().find(|key| {
            let mut ids = Vec::with_capacity(want.len());
            for w in want {
                match key.id(w) {
                    Some(id) if !ids.contains(&id) => ids.push(id),
                    _ => return false,
                }
            }
            true
        })
    }

    fn id(&self, item: &Value) -> Option<(String, String)> {
        let primary = key_text(item.get(self.field)?)?;
        let protocol = if self.with_protocol {
            item.get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP")
                .to_string()
        } else {
            String::new()
        };
        Some((primary, protocol))
    }

    /// `name=web`, `containerPort=53,protocol=UDP` (TCP is the default, so it is left out).
    fn label(&self, item: &Value) -> String {
        let Some((primary, protocol)) = self.id(item) else {
            return String::new();
        };
        if self.with_protocol && protocol != "TCP" {
            format!("{}={primary},protocol={protocol}", self.field)
        } else {
            format!("{}={primary}", self.field)
        }
    }
}

/// A list key's value as text, so that port `80` and `"80"` match.
fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `spec.replicas`, or `metadata.labels["app.kubernetes.io/name"]` when the key
/// would be ambiguous in a dotted path.
fn join_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (plain, path.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}[{}]", Value::String(key.to_string())),
    }
}

fn is_container(v: &Value) -> bool {
    v.is_object() || v.is_array()
}

/// Values a Go `omitempty` field drops: when desired holds one of these and
/// live has nothing, the server stored exactly what was applied.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero),
    }
}

/// Equality for values inside atomic lists: structural, with [`scalar_eq`] at the leaves.
fn deep_eq(a: &Value, b: &Value, ctx: Ctx) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_eq(v, w, ctx.enter(k, v))))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| deep_eq(v, w, ctx))
        }
        _ => !is_container(a) && !is_container(b) && scalar_eq(a, b, ctx.quantity),
    }
}

/// Scalars are equal when they are the same JSON value, the same number
/// (`1` and `1.0`), a number and a string with the same text (`1` and `"1"`:
/// int-or-string fields and quantities come back as strings), or, where
/// quantities live, the same quantity (`0.5` and `"500m"`, `"1Gi"` and `"1024Mi"`).
fn scalar_eq(a: &Value, b: &Value, quantity: bool) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_eq(x, y),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            let text = n.to_string();
            text == *s || (quantity && quantity_eq(&text, s))
        }
        (Value::String(x), Value::String(y)) => quantity && quantity_eq(x, y),
        _ => false,
    }
}

fn numbers_eq(x: &Number, y: &Number) -> bool {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(x), int(y)) {
        (Some(a), Some(b)) => a == b,
        _ => x.as_f64().is_some_and(|a| y.as_f64() == Some(a)),
    }
}

// ---- quantities ----

/// A Kubernetes quantity (`500m`, `1.5Gi`, `1e3`) in a canonical form:
/// value = ± m · 2^e2 · 5^e5 with m coprime to 10, so equal values have equal
/// forms and nothing can overflow however the value was written.
#[derive(Debug, PartialEq, Eq)]
struct Quantity {
    negative: bool,
    m: u128,
    e2: i32,
    e5: i32,
}

fn quantity_eq(a: &str, b: &str) -> bool {
    matches!((parse_quantity(a), parse_quantity(b)), (Some(x), Some(y)) if x == y)
}

fn parse_quantity(s: &str) -> Option<Quantity> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') || int.len() + frac.len() > 30 {
        return None;
    }
    let mut m: u128 = format!("{int}{frac}").parse().ok()?;
    let mut exp10 = -(frac.len() as i32);
    let mut exp2 = 0;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        other => {
            let exponent = other.strip_prefix(['e', 'E'])?;
            let exponent: i32 = exponent.parse().ok()?;
            if exponent.abs() > 1000 {
                return None;
            }
            exp10 += exponent;
        }
    }
    if m == 0 {
        return Some(Quantity {
            negative: false,
            m: 0,
            e2: 0,
            e5: 0,
        });
    }
    let (mut e2, mut e5) = (exp2 + exp10, exp10);
    while m.is_multiple_of(2) {
        m /= 2;
        e2 += 1;
    }
    while m.is_multiple_of(5) {
        m /= 5;
        e5 += 1;
    }
    Some(Quantity {
        negative,
        m,
        e2,
        e5,
    })
}

// ---- redaction ----

/// Replaces secret values with `<redacted:N>`, N numbering distinct values in
/// the order first seen. The same redactor serves both sides of one object,
/// so a changed value gets a new marker and an unchanged one keeps its own,
/// and the diff shows which keys changed without showing any value.
#[derive(Default)]
struct Redactor {
    seen: Vec<Value>,
}

impl Redactor {
    fn redact(&mut self, v: &Value) -> Value {
        match v {
            Value::Null => Value::Null,
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), self.redact(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(|v| self.redact(v)).collect()),
            scalar => {
                let n = match self.seen.iter().position(|s| s == scalar) {
                    Some(i) => i + 1,
                    None => {
                        self.seen.push(scalar.clone());
                        self.seen.len()
                    }
                };
                Value::String(format!("<redacted:{n}>"))
            }
        }
    }
}

fn redact_top(obj: &mut Value, redactor: &mut Redactor) {
    if let Value::Object(m) = obj {
        for key in ["data", "stringData"] {
            if let Some(v) = m.get_mut(key) {
                *v = redactor.redact(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmp(desired: &Value, live: &Value) -> Comparison {
        compare(desired, live, &CompareOptions::default())
    }

    fn paths(c: &Comparison) -> Vec<&str> {
        c.changes.iter().map(|c| c.path.as_str()).collect()
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "demo",
                "labels": {"app": "web", "tether.dev/app": "argo.demo"},
                "annotations": {"tether.dev/tracking": "argo/demo:repo@path"}
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "env": [{"name": "MODE", "value": "prod"}, {"name": "WORKERS", "value": "4"}],
                            "resources": {"limits": {"cpu": 0.5, "memory": "1024Mi"}}
                        }],
                        "hostNetwork": false,
                        "nodeSelector": null
                    }
                }
            }
        })
    }

    /// What the API server returns after a server-side apply of [`deployment`].
    fn applied_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "demo",
                "uid": "0f6b-1c",
                "resourceVersion": "1234",
                "generation": 1,
                "creationTimestamp": "2025-01-01T00:00:00Z",
                "labels": {"app": "web", "tether.dev/app": "argo.demo"},
                "annotations": {
                    "deployment.kubernetes.io/revision": "1",
                    "tether.dev/tracking": "argo/demo:repo@path"
                },
                "managedFields": [{
                    "manager": "tether", "operation": "Apply", "apiVersion": "apps/v1",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}
                }]
            },
            "spec": {
                "replicas": 2,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "web",
                            "image": "nginx:1.27",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "MODE", "value": "prod"}, {"name": "WORKERS", "value": "4"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"
                        }],
                        "dnsPolicy": "ClusterFirst",
                        "restartPolicy": "Always",
                        "schedulerName": "default-scheduler",
                        "securityContext": {},
                        "terminationGracePeriodSeconds": 30
                    }
                }
            },
            "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2}
        })
    }

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "demo"}, "data": data})
    }

    fn hpa_managed(live: &mut Value, manager: &str, fields: Value) {
        live["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"manager": manager, "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": fields}));
    }

    #[test]
    fn freshly_applied_object_compares_equal() {
        let c = cmp(&deployment(), &applied_deployment());
        assert_eq!(c.changes, vec![], "{}", c.diff);
        assert!(c.equal);
        assert_eq!(c.diff, "");
    }

    #[test]
    fn identical_objects_compare_equal() {
        let c = cmp(&deployment(), &deployment());
        assert!(c.equal);
        assert!(c.changes.is_empty());
    }

    #[test]
    fn scalar_change_is_reported_with_both_values() {
        let mut live = applied_deployment();
        live["spec"]["replicas"] = json!(5);
        let c = cmp(&deployment(), &live);
        assert!(!c.equal);
        assert_eq!(
            c.changes,
            vec![FieldChange {
                path: "spec.replicas".into(),
                desired: Some(json!(2)),
                live: Some(json!(5)),
            }]
        );
    }

    #[test]
    fn container_field_path_names_the_container() {
        let mut live = applied_deployment();
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.25");
        let c = cmp(&deployment(), &live);
        assert_eq!(paths(&c), ["spec.template.spec.containers[name=web].image"]);
        assert_eq!(c.changes[0].live, Some(json!("nginx:1.25")));
    }

    #[test]
    fn live_labels_and_annotations_from_others_are_ignored() {
        let mut live = applied_deployment();
        live["metadata"]["labels"]["team"] = json!("x");
        live["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = json!("now");
        live["metadata"]["finalizers"] = json!(["example.com/keep"]);
        live["metadata"]["ownerReferences"] = json!([{"kind": "X", "name": "y"}]);
        assert!(cmp(&deployment(), &live).equal);
    }

    #[test]
    fn changed_or_missing_label_is_a_change_with_a_quoted_key() {
        let mut live = applied_deployment();
        live["metadata"]["labels"]["app"] = json!("other");
        live["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .shift_remove("tether.dev/app");
        let c = cmp(&deployment(), &live);
        assert_eq!(
            paths(&c),
            ["metadata.labels.app", "metadata.labels[\"tether.dev/app\"]"]
        );
        assert_eq!(c.changes[1].live, None);
        assert_eq!(c.changes[1].desired, Some(json!("argo.demo")));
    }

    #[test]
    fn desired_metadata_beyond_labels_and_annotations_is_not_compared() {
        let mut desired = deployment();
        desired["metadata"]["finalizers"] = json!(["mine"]);
        desired["metadata"]["resourceVersion"] = json!("1");
        assert!(cmp(&desired, &applied_deployment()).equal);
    }

    #[test]
    fn status_is_ignored_even_when_desired_has_one() {
        let mut desired = deployment();
        desired["status"] = json!({"replicas": 99});
        assert!(cmp(&desired, &applied_deployment()).equal);
    }

    #[test]
    fn containers_match_by_name_not_position() {
        let mut desired = deployment();
        let sidecar = json!({"name": "log", "image": "busybox"});
        desired["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(sidecar.clone());
        let mut live = applied_deployment();
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .insert(0, sidecar);
        assert!(cmp(&desired, &live).equal);
    }

    #[test]
    fn extra_env_var_in_live_is_a_change() {
        let mut live = applied_deployment();
        live["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "DEBUG", "value": "1"}));
        let c = cmp(&deployment(), &live);
        assert_eq!(
            paths(&c),
            ["spec.template.spec.containers[name=web].env[name=DEBUG]"]
        );
        assert_eq!(c.changes[0].desired, None);
        assert_eq!(
            c.changes[0].live,
            Some(json!({"name": "DEBUG", "value": "1"}))
        );
        assert!(
            c.diff.contains("-          value: '1'") || c.diff.contains("-          value: \"1\""),
            "{}",
            c.diff
        );
    }

    #[test]
    fn missing_env_var_in_live_is_a_change() {
        let mut live = applied_deployment();
        live["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .remove(0);
        let c = cmp(&deployment(), &live);
        assert_eq!(
            paths(&c),
            ["spec.template.spec.containers[name=web].env[name=MODE]"]
        );
        assert_eq!(c.changes[0].live, None);
        assert_eq!(
            c.changes[0].desired,
            Some(json!({"name": "MODE", "value": "prod"}))
        );
    }

    #[test]
    fn extra_container_is_a_change() {
        let mut live = applied_deployment();
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "debug", "image": "busybox"}));
        let c = cmp(&deployment(), &live);
        assert_eq!(paths(&c), ["spec.template.spec.containers[name=debug]"]);
    }

    #[test]
    fn container_ports_match_by_port_and_defaulted_protocol() {
        let desired = json!({"spec": {"ports": [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53}]}});
        let live = json!({"spec": {"ports": [{"containerPort": 53, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}]}});
        assert!(cmp(&desired, &live).equal);
        let live = json!({"spec": {"ports": [{"containerPort": 53, "protocol": "TCP"}]}});
        let c = cmp(&desired, &live);
        assert_eq!(paths(&c), ["spec.ports[containerPort=53,protocol=UDP]"]);
    }

    #[test]
    fn service_ports_match_by_port_and_detect_target_changes() {
        let desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 443, "targetPort": 8443}, {"port": 80, "targetPort": 8080}]}});
        let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"clusterIP": "10.0.0.1", "type": "ClusterIP", "ports": [
                {"port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"port": 443, "targetPort": 9443, "protocol": "TCP"}]}});
        let c = cmp(&desired, &live);
        assert_eq!(paths(&c), ["spec.ports[port=443].targetPort"]);
        assert_eq!(c.changes[0].live, Some(json!(9443)));
    }

    #[test]
    fn duplicate_names_fall_back_to_mount_path() {
        // One volume mounted twice: `name` is not unique, `mountPath` is.
        let desired = json!({"volumeMounts": [
            {"name": "cfg", "mountPath": "/a", "subPath": "a"},
            {"name": "cfg", "mountPath": "/b", "subPath": "b"}]});
        let live = json!({"volumeMounts": [
            {"name": "cfg", "mountPath": "/b", "subPath": "b"},
            {"name": "cfg", "mountPath": "/a", "subPath": "x"}]});
        let c = cmp(&desired, &live);
        assert_eq!(paths(&c), ["volumeMounts[mountPath=/a].subPath"]);
    }

    #[test]
    fn lists_without_keys_compare_by_position() {
        let desired = json!({"spec": {"rules": [{"host": "a"}, {"host": "b"}]}});
        let live = json!({"spec": {"rules": [{"host": "a"}, {"host": "c"}, {"host": "d"}]}});
        let c = cmp(&desired, &live);
        assert_eq!(paths(&c), ["spec.rules[1].host", "spec.rules[2]"]);
        assert_eq!(c.changes[1].desired, None);
        let live = json!({"spec": {"rules": [{"host": "a"}]}});
        let c = cmp(&desired, &live);
        assert_eq!(paths(&c), ["spec.rules[1]"]);
        assert_eq!(c.changes[0].live, None);
    }

    #[test]
    fn element_without_the_key_in_live_is_extra() {
        let desired = json!({"items": [{"name": "a"}]});
        let live = json!({"items": [{"name": "a"}, {"other": 1}]});
        let c = cmp(&desired, &live);
        assert_eq!(paths(&c), ["items[1]"]);
    }

    #[test]
    fn scalar_lists_compare_whole_and_in_order() {
        let desired = json!({"args": ["--a", "--b"]});
        assert!(cmp(&desired, &json!({"args": ["--a", "--b"]})).equal);
        let c = cmp(&desired, &json!({"args": ["--b", "--a"]}));
        assert_eq!(paths(&c), ["args"]);
        assert_eq!(c.changes[0].desired, Some(json!(["--a", "--b"])));
        assert_eq!(c.changes[0].live, Some(json!(["--b", "--a"])));
        assert!(!cmp(&desired, &json!({"args": ["--a"]})).equal);
        assert!(!cmp(&json!({"args": []}), &json!({"args": ["--a"]})).equal);
    }

    #[test]
    fn numbers_and_strings_with_the_same_text_are_equal() {
        assert!(cmp(&json!({"a": 1}), &json!({"a": "1"})).equal);
        assert!(cmp(&json!({"a": "8080"}), &json!({"a": 8080})).equal);
        assert!(cmp(&json!({"a": 1}), &json!({"a": 1.0})).equal);
        assert!(!cmp(&json!({"a": 1}), &json!({"a": "2"})).equal);
        assert!(!cmp(&json!({"a": 1}), &json!({"a": 2})).equal);
        assert!(!cmp(&json!({"a": true}), &json!({"a": "true"})).equal);
        // Large integers are compared exactly, not through f64.
        assert!(
            !cmp(
                &json!({"a": 9_007_199_254_740_993_u64}),
                &json!({"a": 9_007_199_254_740_992_u64})
            )
            .equal
        );
    }

    #[test]
    fn quantities_compare_by_value_where_quantities_live() {
        for (want, have) in [
            (json!(0.5), json!("500m")),
            (json!("1000m"), json!("1")),
            (json!("1024Mi"), json!("1Gi")),
            (json!("0.5Gi"), json!("512Mi")),
            (json!("1k"), json!("1000")),
            (json!("1e3"), json!("1k")),
            (json!(2), json!("2")),
        ] {
            let d = json!({"resources": {"limits": {"cpu": want}}});
            let l = json!({"resources": {"limits": {"cpu": have}}});
            assert!(cmp(&d, &l).equal, "{want} vs {have}");
        }
        let d = json!({"spec": {"hard": {"requests.storage": "1Ti"}}});
        let l = json!({"spec": {"hard": {"requests.storage": "1024Gi"}}});
        assert!(cmp(&d, &l).equal);
        let d = json!({"emptyDir": {"sizeLimit": "1Gi"}});
        let l = json!({"emptyDir": {"sizeLimit": "1024Mi"}});
        assert!(cmp(&d, &l).equal);
    }

    #[test]
    fn different_quantities_are_a_change() {
        let d = json!({"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}});
        let l = json!({"resources": {"requests": {"cpu": "600m", "memory": "1G"}}});
        let c = cmp(&d, &l);
        assert_eq!(
            paths(&c),
            ["resources.requests.cpu", "resources.requests.memory"]
        );
    }

    #[test]
    fn quantity_equality_does_not_leak_into_other_fields() {
        // "1.0" and "1" are different strings in a ConfigMap, even under a key
        // that elsewhere holds quantities.
        let d = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"version": "1.0", "limits": "1k"}});
        let l = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"version": "1", "limits": "1000"}});
        assert_eq!(paths(&cmp(&d, &l)), ["data.version", "data.limits"]);
        assert!(
            !cmp(
                &json!({"spec": {"version": "1.0"}}),
                &json!({"spec": {"version": "1"}})
            )
            .equal
        );
    }

    #[test]
    fn quantity_parser() {
        let q = |s: &str| parse_quantity(s);
        assert_eq!(q("500m"), q("0.5"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1Ei"), q("1152921504606846976"));
        assert_eq!(q("1E"), q("1e18"));
        assert_eq!(q("-1"), q("-1000m"));
        assert_ne!(q("-1"), q("1"));
        assert_eq!(q("0"), q("-0m"));
        assert_eq!(q("+2"), q("2"));
        assert_eq!(q("1n"), q("0.000000001"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_ne!(q("1G"), q("1Gi"));
        for bad in [
            "", "abc", "1x", "1.2.3", ".", "1e", "--1", "1 Gi", "1e99999",
        ] {
            assert_eq!(q(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn desired_null_matches_anything() {
        assert!(cmp(&json!({"a": null}), &json!({})).equal);
        assert!(cmp(&json!({"a": null}), &json!({"a": {"x": 1}})).equal);
    }

    #[test]
    fn desired_zero_values_match_absent_live_fields() {
        let d = json!({"spec": {"f": false, "n": 0, "s": "", "m": {}, "l": [], "nested": {"x": false}}});
        assert!(cmp(&d, &json!({"spec": {}})).equal);
        assert!(cmp(&d, &json!({"spec": {"f": null}})).equal);
        // But a zero is not the same as a non-zero value.
        let c = cmp(&d, &json!({"spec": {"f": true, "n": 3}}));
        assert_eq!(paths(&c), ["spec.f", "spec.n"]);
    }

    #[test]
    fn missing_subtree_is_one_change() {
        let d = json!({"spec": {"strategy": {"type": "Recreate"}}});
        let c = cmp(&d, &json!({"spec": {}}));
        assert_eq!(paths(&c), ["spec.strategy"]);
        assert_eq!(c.changes[0].desired, Some(json!({"type": "Recreate"})));
        assert_eq!(c.changes[0].live, None);
    }

    #[test]
    fn shape_mismatch_is_a_change() {
        let c = cmp(&json!({"a": {"b": 1}}), &json!({"a": "x"}));
        assert_eq!(paths(&c), ["a"]);
        let c = cmp(&json!({"a": [1]}), &json!({"a": {"b": 1}}));
        assert_eq!(paths(&c), ["a"]);
        let c = cmp(&json!({"a": 1}), &json!({"a": [1]}));
        assert_eq!(paths(&c), ["a"]);
    }

    #[test]
    fn missing_live_object_makes_every_field_a_change() {
        let c = cmp(&deployment(), &Value::Null);
        assert!(!c.equal);
        assert_eq!(paths(&c), ["metadata", "spec"]);
    }

    #[test]
    fn compare_annotation_ignores_the_object() {
        let mut d = deployment();
        d["metadata"]["annotations"][COMPARE_ANNOTATION] = json!("ignore");
        assert!(compare_ignored(&d));
        let c = cmp(&d, &json!({"spec": {"replicas": 9}}));
        assert!(c.equal && c.changes.is_empty() && c.diff.is_empty());
        d["metadata"]["annotations"][COMPARE_ANNOTATION] = json!(" Ignore ");
        assert!(compare_ignored(&d));
        d["metadata"]["annotations"][COMPARE_ANNOTATION] = json!("strict");
        assert!(!compare_ignored(&d));
        assert!(!compare_ignored(&deployment()));
    }

    fn ignore(kind: &str, pointers: &[&str], managers: &[&str]) -> IgnoreDifference {
        IgnoreDifference {
            group: "apps".into(),
            kind: kind.into(),
            json_pointers: pointers.iter().map(|s| s.to_string()).collect(),
            managed_fields_managers: managers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn json_pointer_ignores_a_field_on_both_sides() {
        let mut live = applied_deployment();
        live["spec"]["replicas"] = json!(7);
        let opts = CompareOptions {
            ignore: vec![ignore("Deployment", &["/spec/replicas"], &[])],
            redact: false,
        };
        let c = compare(&deployment(), &live, &opts);
        assert!(c.equal, "{:?}", c.changes);
        // The ignored field is out of the diff, so another change does not drag it in.
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("x");
        let c = compare(&deployment(), &live, &opts);
        assert_eq!(paths(&c), ["spec.template.spec.containers[name=web].image"]);
        assert!(!c.diff.contains("replicas"), "{}", c.diff);
    }

    #[test]
    fn json_pointer_with_escapes_and_indices() {
        let mut live = applied_deployment();
        live["metadata"]["annotations"]["tether.dev/tracking"] = json!("other");
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("x");
        let opts = CompareOptions {
            ignore: vec![ignore(
                "Deployment",
                &[
                    "/metadata/annotations/tether.dev~1tracking",
                    "/spec/template/spec/containers/0/image",
                ],
                &[],
            )],
            redact: false,
        };
        assert!(compare(&deployment(), &live, &opts).equal);
    }

    #[test]
    fn pointers_that_name_nothing_are_harmless() {
        let mut v = json!({"a": [1, 2], "b": {"c": 1}});
        for p in ["", "a", "/x/y", "/a/9", "/a/x", "/b/c/d"] {
            remove_pointer(&mut v, p);
        }
        assert_eq!(v, json!({"a": [1, 2], "b": {"c": 1}}));
        remove_pointer(&mut v, "/a/0");
        assert_eq!(v, json!({"a": [2], "b": {"c": 1}}));
    }

    #[test]
    fn rules_for_other_objects_do_not_apply() {
        let mut live = applied_deployment();
        live["spec"]["replicas"] = json!(7);
        let mut other_name = ignore("Deployment", &["/spec/replicas"], &[]);
        other_name.name = Some("api".into());
        let rules = vec![
            ignore("StatefulSet", &["/spec/replicas"], &[]),
            other_name,
            IgnoreDifference {
                group: "".into(),
                ..ignore("Deployment", &["/spec/replicas"], &[])
            },
        ];
        let c = compare(
            &deployment(),
            &live,
            &CompareOptions {
                ignore: rules,
                redact: false,
            },
        );
        assert_eq!(paths(&c), ["spec.replicas"]);
    }

    #[test]
    fn rules_for_matches_group_kind_name_namespace() {
        let web = ObjectRef::new("apps", "Deployment", "demo", "web");
        let mut named = ignore("Deployment", &[], &[]);
        named.name = Some("web".into());
        named.namespace = Some("demo".into());
        let mut elsewhere = named.clone();
        elsewhere.namespace = Some("prod".into());
        let wildcard = IgnoreDifference {
            group: "*".into(),
            kind: "*".into(),
            ..Default::default()
        };
        let core = IgnoreDifference {
            group: "".into(),
            kind: "Deployment".into(),
            ..Default::default()
        };
        let rules = vec![
            named.clone(),
            elsewhere,
            wildcard.clone(),
            core,
            ignore("StatefulSet", &[], &[]),
        ];
        assert_eq!(rules_for(&rules, &web), vec![named, wildcard]);
    }

    #[test]
    fn managed_fields_of_listed_managers_are_ignored() {
        let mut live = applied_deployment();
        live["spec"]["replicas"] = json!(6);
        hpa_managed(
            &mut live,
            "hpa-controller",
            json!({"f:spec": {"f:replicas": {}}}),
        );
        let opts = CompareOptions {
            ignore: vec![ignore("Deployment", &[], &["hpa-controller"])],
            redact: false,
        };
        assert!(compare(&deployment(), &live, &opts).equal);
        // Another manager owning the field is not a reason to ignore it.
        let opts = CompareOptions {
            ignore: vec![ignore("Deployment", &[], &["vpa"])],
            redact: false,
        };
        assert_eq!(
            paths(&compare(&deployment(), &live, &opts)),
            ["spec.replicas"]
        );
    }

    #[test]
    fn managed_list_elements_of_listed_managers_are_ignored() {
        let mut live = applied_deployment();
        let containers = live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap();
        containers.push(json!({"name": "istio-proxy", "image": "proxy"}));
        containers[0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "INJECTED", "value": "1"}));
        hpa_managed(
            &mut live,
            "injector",
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"istio-proxy\"}": {".": {}, "f:name": {}, "f:image": {}},
                "k:{\"name\":\"web\"}": {"f:env": {"k:{\"name\":\"INJECTED\"}": {".": {}, "f:name": {}, "f:value": {}}}}
            }}}}}),
        );
        let opts = CompareOptions {
            ignore: vec![ignore("Deployment", &[], &["injector"])],
            redact: false,
        };
        let c = compare(&deployment(), &live, &opts);
        assert!(c.equal, "{:?}", c.changes);
        // Our own container's fields are still compared.
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("evil");
        let c = compare(&deployment(), &live, &opts);
        assert_eq!(paths(&c), ["spec.template.spec.containers[name=web].image"]);
    }

    #[test]
    fn managed_co_owned_element_is_still_compared() {
        // The other manager owns the element's existence ("."), but Git has the
        // element too: its other fields still count.
        let mut live = applied_deployment();
        live["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("dev");
        hpa_managed(
            &mut live,
            "kubectl-edit",
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:env": {"k:{\"name\":\"MODE\"}": {".": {}}}}}}}}}),
        );
        let opts = CompareOptions {
            ignore: vec![ignore("Deployment", &[], &["kubectl-edit"])],
            redact: false,
        };
        let c = compare(&deployment(), &live, &opts);
        assert_eq!(
            paths(&c),
            ["spec.template.spec.containers[name=web].env[name=MODE].value"]
        );
    }

    #[test]
    fn managed_set_values_and_labels_are_ignored() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"owner": "git"}},
            "spec": {"finalizerish": ["a", "b"]}});
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"owner": "someone"}, "managedFields": [{
                "manager": "other", "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:owner": {}}},
                    "f:spec": {"f:finalizerish": {"v:\"c\"": {}}}}}]},
            "spec": {"finalizerish": ["a", "b", "c"]}});
        let opts = CompareOptions {
            ignore: vec![ignore("Deployment", &[], &["other"])],
            redact: false,
        };
        assert!(compare(&desired, &live, &opts).equal);
        assert!(!cmp(&desired, &live).equal);
    }

    #[test]
    fn fields_v1_parsing() {
        let tree = Owned::parse(&json!({
            "f:spec": {".": {}, "f:replicas": {}, "f:list": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}}, "v:\"x\"": {}, "i:0": {}}},
            "k:not-json": {}
        }));
        assert!(!tree.whole && tree.keyed.is_empty());
        let (name, spec) = &tree.fields[0];
        assert_eq!(name, "spec");
        assert!(spec.dot && !spec.whole);
        assert!(spec.fields[0].1.whole);
        let list = &spec.fields[1].1;
        assert_eq!(
            list.keyed[0].0,
            json!({"port": 80, "protocol": "TCP"})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(list.values, vec![json!("x")]);
        assert!(key_matches(
            &json!({"port": "80", "protocol": "TCP", "x": 1}),
            &list.keyed[0].0
        ));
        assert!(!key_matches(&json!({"port": 80}), &list.keyed[0].0));
    }

    #[test]
    fn diff_shows_only_what_matters() {
        let mut live = applied_deployment();
        live["spec"]["replicas"] = json!(3);
        let c = cmp(&deployment(), &live);
        assert!(c.diff.starts_with("--- live\n+++ desired\n"), "{}", c.diff);
        assert!(c.diff.contains("\n-  replicas: 3\n"), "{}", c.diff);
        assert!(c.diff.contains("\n+  replicas: 2\n"), "{}", c.diff);
        for noise in [
            "managedFields",
            "resourceVersion",
            "status",
            "revisionHistoryLimit",
            "terminationMessagePath",
            "500m",
            "1Gi",
        ] {
            assert!(!c.diff.contains(noise), "{noise} in\n{}", c.diff);
        }
        // Three lines of context: the hunk does not reach the containers.
        assert!(!c.diff.contains("image"), "{}", c.diff);
        let changed: Vec<&str> = c
            .diff
            .lines()
            .filter(|l| l.starts_with(['-', '+']))
            .collect();
        assert_eq!(changed.len(), 4, "{}", c.diff);
    }

    fn secret_values_hidden(c: &Comparison, plaintext: &[&str]) {
        let changes = format!("{:?}", c.changes);
        for p in plaintext {
            assert!(!c.diff.contains(p), "{p} in diff:\n{}", c.diff);
            assert!(!changes.contains(p), "{p} in changes: {changes}");
        }
    }

    #[test]
    fn secret_values_are_redacted_and_show_which_keys_changed() {
        let desired = secret(json!({"user": "YWRtaW4=", "password": "c2VjcmV0MQ=="}));
        let mut live =
            secret(json!({"user": "YWRtaW4=", "password": "b2xkcGFzcw==", "token": "dG9rZW4="}));
        live["type"] = json!("Opaque");
        let c = cmp(&desired, &live);
        assert_eq!(paths(&c), ["data.password"]);
        secret_values_hidden(
            &c,
            &["YWRtaW4=", "c2VjcmV0MQ==", "b2xkcGFzcw==", "dG9rZW4="],
        );
        assert_eq!(c.changes[0].desired, Some(json!("<redacted:2>")));
        assert_eq!(c.changes[0].live, Some(json!("<redacted:3>")));
        assert!(c.diff.contains("-  password: <redacted:3>"), "{}", c.diff);
        assert!(c.diff.contains("+  password: <redacted:2>"), "{}", c.diff);
        // The unchanged key keeps one marker on both sides: a context line.
        assert!(c.diff.contains("\n   user: <redacted:1>"), "{}", c.diff);
    }

    #[test]
    fn secret_with_missing_data_redacts_the_whole_map() {
        let desired = secret(json!({"password": "c2VjcmV0"}));
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "demo"}});
        let c = cmp(&desired, &live);
        assert_eq!(paths(&c), ["data"]);
        assert_eq!(
            c.changes[0].desired,
            Some(json!({"password": "<redacted:1>"}))
        );
        secret_values_hidden(&c, &["c2VjcmV0"]);
    }

    #[test]
    fn secret_string_data_compares_with_live_data() {
        let mut desired = secret(json!({"a": "YQ=="}));
        desired["stringData"] = json!({"password": "hunter2", "a": "override"});
        // The server folds stringData into data and never returns stringData.
        let live = secret(json!({"a": base64(b"override"), "password": base64(b"hunter2")}));
        assert!(cmp(&desired, &live).equal);
        let live = secret(json!({"a": base64(b"override"), "password": base64(b"hunter3")}));
        let c = cmp(&desired, &live);
        assert_eq!(paths(&c), ["data.password"]);
        secret_values_hidden(
            &c,
            &[
                "hunter2",
                "hunter3",
                &base64(b"hunter2"),
                &base64(b"hunter3"),
            ],
        );
    }

    #[test]
    fn secret_creation_diff_is_redacted() {
        let mut desired = secret(json!({"k": "c2VjcmV0"}));
        desired["stringData"] = json!({"p": "plain"});
        let d = creation_diff(&desired, &CompareOptions::default());
        assert!(d.contains("+  k: <redacted:1>"), "{d}");
        assert!(d.contains("+  p: <redacted:2>"), "{d}");
        assert!(
            !d.contains("c2VjcmV0") && !d.contains("plain") && !d.contains(&base64(b"plain")),
            "{d}"
        );
    }

    #[test]
    fn redaction_applies_to_core_secrets_or_on_request() {
        let mut cr = secret(json!({"k": "dmFsdWU="}));
        cr["apiVersion"] = json!("example.com/v1");
        let live = {
            let mut l = cr.clone();
            l["data"]["k"] = json!("b3RoZXI=");
            l
        };
        let plain = cmp(&cr, &live);
        assert!(plain.diff.contains("dmFsdWU="), "{}", plain.diff);
        let hidden = compare(
            &cr,
            &live,
            &CompareOptions {
                ignore: vec![],
                redact: true,
            },
        );
        secret_values_hidden(&hidden, &["dmFsdWU=", "b3RoZXI="]);
        assert_eq!(hidden.changes[0].path, "data.k");
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xfb, 0xff, 0xfe]), "+//+");
    }

    #[test]
    fn path_keys_are_quoted_when_ambiguous() {
        assert_eq!(join_key("", "spec"), "spec");
        assert_eq!(join_key("spec", "replicas"), "spec.replicas");
        assert_eq!(join_key("m", "a.b/c"), "m[\"a.b/c\"]");
        assert_eq!(join_key("m", "with space"), "m[\"with space\"]");
        assert_eq!(join_key("m", "q\"uote"), "m[\"q\\\"uote\"]");
        assert_eq!(join_key("m", ""), "m[\"\"]");
    }

    #[test]
    fn zero_values() {
        for z in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
            json!({"a": {"b": 0}}),
        ] {
            assert!(is_zero(&z), "{z}");
        }
        for nz in [
            json!(true),
            json!(1),
            json!("x"),
            json!([0]),
            json!({"a": 1}),
        ] {
            assert!(!is_zero(&nz), "{nz}");
        }
    }

    #[test]
    fn nested_lists_inside_keyed_elements() {
        let desired = json!({"containers": [{"name": "a", "command": ["sh", "-c"], "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]});
        let live = json!({"containers": [{"name": "a", "command": ["sh", "-c"], "volumeMounts": [{"name": "v", "mountPath": "/w"}]}]});
        let c = cmp(&desired, &live);
        assert_eq!(
            paths(&c),
            ["containers[name=a].volumeMounts[name=v].mountPath"]
        );
    }

    #[test]
    fn lists_of_objects_mixed_with_scalars_compare_whole() {
        let d = json!({"x": [{"a": 1}, "s"]});
        assert!(cmp(&d, &json!({"x": [{"a": "1"}, "s"]})).equal);
        assert!(!cmp(&d, &json!({"x": [{"a": 1, "b": 2}, "s"]})).equal);
    }
}
