//! Decoding of `application/vnd.kubernetes.protobuf` request bodies into JSON.
//!
//! kubectl 1.33 and later send the objects of its typed clients (`kubectl create namespace`,
//! `create deployment`, `create secret`, ...) as protobuf. The sandbox keeps objects as JSON, so
//! [`decode`] turns such a body into the JSON form of the same Go value, which the API server
//! would accept as it is; responses stay JSON, which every client accepts.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` envelope: `typeMeta` (apiVersion,
//! kind), `raw` (the object's message) and `contentEncoding`/`contentType`. The message is read
//! with a small protobuf wire decoder driven by [`crate::protobuf_table`], which lists every
//! message's fields (generated from the `k8s-pb` crate, see `scripts/gen-protobuf-table.py`).
//! A few apimachinery messages have a JSON form of their own, reproduced here as Go's
//! `MarshalJSON` writes it: `Time`, `MicroTime`, `Duration`, `Quantity`, `IntOrString`,
//! `RawExtension`, `FieldsV1`, the CRD schema's `JSON` and `JSONSchemaPropsOr*` unions, and the
//! string-list messages (`Verbs`, `ExtraValue`).
//!
//! Kubernetes' messages are proto2: a field that is on the wire is emitted even when it holds a
//! zero value (`replicas: 0` must survive), a field that is not is left out. Go writes every
//! non-pointer field, so bodies from kubectl carry `"generateName": ""`, `"restartPolicy": ""`,
//! `"nodePort": 0`, `"paused": false` and the like where kubectl's JSON would have omitted them.
//! The Go server reads such zeros as "unset" (it cannot tell them apart), so code that fills in
//! defaults must do the same for these fields; which fields are Go pointers (where a zero is a
//! real value) is not in the protobuf schema, so the decoder cannot drop them itself.
//!
//! The decoder never panics: every read is bounds-checked, nesting is limited to
//! [`MAX_DEPTH`] messages, and malformed input (truncated, wrong wire types, unknown kinds) is an
//! `Err` with a message fit for a 400 response. Unknown field numbers are skipped, as Go does.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use crate::protobuf_table::MESSAGES;

/// One protobuf message of the table.
#[derive(Debug)]
pub struct Message {
    /// The k8s-pb module path and the type name, e.g. `api.apps.v1.Deployment`.
    pub name: &'static str,
    /// Sorted by tag.
    pub fields: &'static [Field],
}

/// One field of a [`Message`].
#[derive(Debug)]
pub struct Field {
    pub tag: u32,
    /// The JSON name; unused for `Inline` fields.
    pub json: &'static str,
    pub ty: Ty,
    pub card: Card,
}

/// The type of a field, or of a map's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Str,
    /// Base64 in JSON, as Go writes `[]byte`.
    Bytes,
    Bool,
    I32,
    I64,
    F64,
    /// A message, by its table name.
    Msg(&'static str),
}

/// How often a field occurs and how it appears in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Card {
    /// `optional`: a single value.
    One,
    /// `repeated`: a JSON array.
    Rep,
    /// `map<string, ty>`: a JSON object.
    Map,
    /// A Go struct embedded with `json:",inline"`: a message whose fields are written into the
    /// parent object (`Volume.volumeSource`, `Probe.handler`, ...).
    Inline,
}

/// Builds a [`Field`]; keeps the generated table at one short line per field.
pub const fn f(tag: u32, json: &'static str, ty: Ty, card: Card) -> Field {
    Field {
        tag,
        json,
        ty,
        card,
    }
}

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// How deeply messages may nest. Real objects stay far below (a CRD schema nests two messages
/// per level); the limit keeps hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 100;

/// Decodes a `application/vnd.kubernetes.protobuf` body (the "k8s\0" magic + runtime.Unknown
/// envelope) into the object's JSON form, with apiVersion and kind from the envelope's TypeMeta.
pub fn decode(body: &[u8]) -> Result<serde_json::Value, String> {
    decode_envelope(body, 0, ("", ""))
}

/// [`decode`] for a body sent to an endpoint of `(api_version, kind)`: an empty
/// TypeMeta takes the endpoint's, as the real server decodes with its
/// group/version/kind as the default (`gvkWithDefaults`).
pub fn decode_for(body: &[u8], api_version: &str, kind: &str) -> Result<Value, String> {
    decode_envelope(body, 0, (api_version, kind))
}

fn decode_envelope(body: &[u8], depth: usize, defaults: (&str, &str)) -> Result<Value, String> {
    let Some(envelope) = body.strip_prefix(MAGIC) else {
        return Err("not a Kubernetes protobuf body: the \"k8s\\0\" prefix is missing".into());
    };
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut encoding = String::new();
    let mut r = Reader::new(envelope);
    while !r.is_empty() {
        match r.field()? {
            (1, Wire::Len(type_meta)) => {
                let mut t = Reader::new(type_meta);
                while !t.is_empty() {
                    match t.field()? {
                        (1, Wire::Len(v)) => api_version = lossy(v),
                        (2, Wire::Len(v)) => kind = lossy(v),
                        (tag @ (1 | 2), _) => return Err(wire_error("TypeMeta", tag)),
                        (_, w) => t.skip(w, depth)?,
                    }
                }
            }
            (2, Wire::Len(v)) => raw = v,
            (3, Wire::Len(v)) => encoding = lossy(v),
            (4, Wire::Len(_)) => {}
            (tag @ 1..=4, _) => return Err(wire_error("runtime.Unknown", tag)),
            (_, w) => r.skip(w, depth)?,
        }
    }
    if !encoding.is_empty() {
        return Err(format!(
            "protobuf body with contentEncoding {encoding:?} is not supported"
        ));
    }
    if kind.is_empty() {
        kind = defaults.1.to_string();
    }
    if api_version.is_empty() {
        api_version = defaults.0.to_string();
    }
    if kind.is_empty() {
        return Err("protobuf body has no kind in its TypeMeta".into());
    }
    let message = message_for(&api_version, &kind)?;
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version));
    out.insert("kind".into(), Value::String(kind));
    match decode_message(message, raw, depth + 1)? {
        Value::Object(fields) => out.extend(fields),
        _ => return Err(format!("{} is not an object kind", message.name)),
    }
    Ok(Value::Object(out))
}

/// Kinds of meta.k8s.io/v1 that Kubernetes registers in every group version (`DeleteOptions`
/// sent to `apps/v1`, ...).
const META_KINDS: &[&str] = &[
    "CreateOptions",
    "DeleteOptions",
    "GetOptions",
    "ListOptions",
    "PartialObjectMetadata",
    "PartialObjectMetadataList",
    "PatchOptions",
    "Status",
    "UpdateOptions",
    "WatchEvent",
];

/// The message of a kind: apiVersion `apps/v1` and kind `Deployment` is `api.apps.v1.Deployment`.
/// The k8s-pb package is the group's first label, except for the groups below.
fn message_for(api_version: &str, kind: &str) -> Result<&'static Message, String> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let unknown = || {
        format!("no protobuf schema for kind {kind:?} in {api_version:?}; send it as JSON instead")
    };
    if !word(version) || !word(kind) {
        return Err(unknown());
    }
    let package = match group {
        "" => "api.core".to_string(),
        "apiextensions.k8s.io" => "apiextensions_apiserver.pkg.apis.apiextensions".to_string(),
        "apiregistration.k8s.io" => "kube_aggregator.pkg.apis.apiregistration".to_string(),
        "internal.apiserver.k8s.io" => "api.apiserverinternal".to_string(),
        "meta.k8s.io" => "apimachinery.pkg.apis.meta".to_string(),
        _ => match group.split('.').next() {
            Some(label) if word(label) => format!("api.{label}"),
            _ => return Err(unknown()),
        },
    };
    let found = message(&format!("{package}.{version}.{kind}")).or_else(|| {
        META_KINDS
            .contains(&kind)
            .then(|| message(&format!("apimachinery.pkg.apis.meta.v1.{kind}")))
            .flatten()
    });
    match found {
        // A well-known helper type (Time, Quantity, ...) is a message but never a kind.
        Some(m) if well_known(m.name).is_none() => Ok(m),
        _ => Err(unknown()),
    }
}

/// A message of the table by exact name.
fn message(name: &str) -> Option<&'static Message> {
    MESSAGES
        .binary_search_by(|m| m.name.cmp(name))
        .ok()
        .and_then(|i| MESSAGES.get(i))
}

/// The messages whose JSON form is not an object of their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WellKnown {
    /// RFC 3339 in seconds, UTC; empty or Go's zero time is null.
    Time,
    /// RFC 3339 with six fractional digits.
    MicroTime,
    /// Go's `time.Duration` string ("1h0m0s").
    Duration,
    /// The canonical string.
    Quantity,
    /// A JSON number or string.
    IntOrString,
    /// Embedded JSON bytes, written as they are (or a nested protobuf object).
    RawExtension,
    /// Embedded JSON bytes (`FieldsV1`, the CRD schema's `JSON`).
    RawJson,
    /// A Go `[]string` type (`Verbs`, `ExtraValue`): an array.
    StringList,
    /// A schema, or an array of schemas.
    SchemaOrArray,
    /// A schema, or a bool.
    SchemaOrBool,
    /// A schema, or an array of strings.
    SchemaOrStringArray,
}

fn well_known(name: &str) -> Option<WellKnown> {
    let (package, short) = name.rsplit_once('.')?;
    let apiextensions = package.starts_with("apiextensions_apiserver.");
    Some(match (package, short) {
        ("apimachinery.pkg.apis.meta.v1", "Time") => WellKnown::Time,
        ("apimachinery.pkg.apis.meta.v1", "MicroTime") => WellKnown::MicroTime,
        ("apimachinery.pkg.apis.meta.v1", "Duration") => WellKnown::Duration,
        ("apimachinery.pkg.apis.meta.v1", "FieldsV1") => WellKnown::RawJson,
        ("apimachinery.pkg.apis.meta.v1", "Verbs") => WellKnown::StringList,
        ("apimachinery.pkg.api.resource", "Quantity") => WellKnown::Quantity,
        ("apimachinery.pkg.util.intstr", "IntOrString") => WellKnown::IntOrString,
        ("apimachinery.pkg.runtime", "RawExtension") => WellKnown::RawExtension,
        (_, "ExtraValue") if package.starts_with("api.") => WellKnown::StringList,
        (_, "JSON") if apiextensions => WellKnown::RawJson,
        (_, "JSONSchemaPropsOrArray") if apiextensions => WellKnown::SchemaOrArray,
        (_, "JSONSchemaPropsOrBool") if apiextensions => WellKnown::SchemaOrBool,
        (_, "JSONSchemaPropsOrStringArray") if apiextensions => WellKnown::SchemaOrStringArray,
        _ => return None,
    })
}

fn decode_message(message: &'static Message, bytes: &[u8], depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "protobuf body nests more than {MAX_DEPTH} messages deep"
        ));
    }
    if let Some(wk) = well_known(message.name) {
        return decode_well_known(wk, message, bytes, depth);
    }
    let slots = decode_fields(message, bytes, depth)?;
    let mut out = Map::new();
    for (field, slot) in message.fields.iter().zip(slots) {
        match (field.card, slot) {
            (_, None) => {}
            (Card::Inline, Some(Value::Object(inner))) => out.extend(inner),
            (Card::Inline, Some(_)) => {
                return Err(format!("{}: inline field is not an object", message.name));
            }
            (_, Some(v)) => {
                out.insert(field.json.into(), v);
            }
        }
    }
    Ok(Value::Object(out))
}

/// What has been read of one field so far.
enum Acc<'a> {
    Empty,
    Scalar(Value),
    /// The occurrences of a singular message field. Protobuf merges repeated occurrences, which
    /// is the same as decoding their concatenation.
    Parts(Vec<&'a [u8]>),
    List(Vec<Value>),
    /// Go writes map keys sorted; a later duplicate key wins, as in Go.
    Map(BTreeMap<String, Value>),
}

/// The fields of `message` in table order, each decoded to its JSON value (None when absent).
fn decode_fields(
    message: &'static Message,
    bytes: &[u8],
    depth: usize,
) -> Result<Vec<Option<Value>>, String> {
    let mut accs: Vec<Acc> = message.fields.iter().map(|_| Acc::Empty).collect();
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let (tag, wire) = r.field()?;
        let Ok(i) = message.fields.binary_search_by_key(&tag, |f| f.tag) else {
            r.skip(wire, depth)?;
            continue;
        };
        let (Some(field), Some(acc)) = (message.fields.get(i), accs.get_mut(i)) else {
            continue;
        };
        let what = || format!("{}.{}", message.name, field.json);
        match (field.card, field.ty) {
            (Card::One | Card::Inline, Ty::Msg(_)) => {
                let Wire::Len(part) = wire else {
                    return Err(format!("{}: wire type does not match", what()));
                };
                match acc {
                    Acc::Parts(parts) => parts.push(part),
                    _ => *acc = Acc::Parts(vec![part]),
                }
            }
            (Card::One | Card::Inline, ty) => *acc = Acc::Scalar(scalar(ty, wire, &what)?),
            (Card::Rep, ty) => {
                if !matches!(acc, Acc::List(_)) {
                    *acc = Acc::List(Vec::new());
                }
                let Acc::List(list) = acc else { continue };
                match (ty, wire) {
                    (Ty::Msg(name), Wire::Len(b)) => {
                        list.push(decode_message(lookup(name)?, b, depth + 1)?);
                    }
                    // Packed repeated numbers: one length-delimited run of values.
                    (Ty::Bool | Ty::I32 | Ty::I64 | Ty::F64, Wire::Len(b)) => {
                        let mut packed = Reader::new(b);
                        while !packed.is_empty() {
                            let element = match ty {
                                Ty::F64 => Wire::Fixed64(packed.fixed64()?),
                                _ => Wire::Varint(packed.varint()?),
                            };
                            list.push(scalar(ty, element, &what)?);
                        }
                    }
                    (ty, wire) => list.push(scalar(ty, wire, &what)?),
                }
            }
            (Card::Map, ty) => {
                let Wire::Len(entry) = wire else {
                    return Err(format!("{}: wire type does not match", what()));
                };
                let (key, value) = map_entry(ty, entry, depth, &what)?;
                if !matches!(acc, Acc::Map(_)) {
                    *acc = Acc::Map(BTreeMap::new());
                }
                if let Acc::Map(map) = acc {
                    map.insert(key, value);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(accs.len());
    for (field, acc) in message.fields.iter().zip(accs) {
        out.push(match acc {
            Acc::Empty => None,
            Acc::Scalar(v) => Some(v),
            Acc::Parts(parts) => {
                let Ty::Msg(name) = field.ty else {
                    return Err(format!("{}.{}: not a message", message.name, field.json));
                };
                Some(decode_message(lookup(name)?, &parts.concat(), depth + 1)?)
            }
            Acc::List(list) => Some(Value::Array(list)),
            Acc::Map(map) => Some(Value::Object(map.into_iter().collect())),
        });
    }
    Ok(out)
}

/// One `map<string, ty>` entry: key 1, value 2. Missing parts are zero values, as in Go.
fn map_entry(
    ty: Ty,
    entry: &[u8],
    depth: usize,
    what: &dyn Fn() -> String,
) -> Result<(String, Value), String> {
    let mut key = String::new();
    let mut value = None;
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut r = Reader::new(entry);
    while !r.is_empty() {
        match (r.field()?, ty) {
            ((1, Wire::Len(k)), _) => key = lossy(k),
            ((1, _), _) => return Err(format!("{}: map key is not a string", what())),
            ((2, Wire::Len(b)), Ty::Msg(_)) => parts.push(b),
            ((2, wire), Ty::Msg(_)) => {
                return Err(format!(
                    "{}: wire type {} does not match",
                    what(),
                    wire.id()
                ));
            }
            ((2, wire), ty) => value = Some(scalar(ty, wire, what)?),
            ((_, wire), _) => r.skip(wire, depth)?,
        }
    }
    let value = match (value, ty) {
        (_, Ty::Msg(name)) => decode_message(lookup(name)?, &parts.concat(), depth + 1)?,
        (Some(v), _) => v,
        (None, Ty::Str | Ty::Bytes) => Value::String(String::new()),
        (None, Ty::Bool) => Value::Bool(false),
        (None, Ty::I32 | Ty::I64 | Ty::F64) => Value::from(0),
    };
    Ok((key, value))
}

fn lookup(name: &str) -> Result<&'static Message, String> {
    message(name).ok_or_else(|| format!("protobuf table has no message {name}"))
}

/// A scalar field's JSON value.
fn scalar(ty: Ty, wire: Wire, what: &dyn Fn() -> String) -> Result<Value, String> {
    Ok(match (ty, wire) {
        (Ty::Str, Wire::Len(b)) => Value::String(lossy(b)),
        (Ty::Bytes, Wire::Len(b)) => Value::String(base64(b)),
        (Ty::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        // Go's generated code truncates a varint to the field's width; so does `as`.
        (Ty::I32, Wire::Varint(v)) => Value::from(v as i32),
        (Ty::I64, Wire::Varint(v)) => Value::from(v as i64),
        (Ty::F64, Wire::Fixed64(v)) => float(f64::from_bits(v))
            .ok_or_else(|| format!("{}: {} is not a JSON number", what(), f64::from_bits(v)))?,
        (_, wire) => {
            return Err(format!(
                "{}: wire type {} does not match the field's type",
                what(),
                wire.id()
            ));
        }
    })
}

/// A float as Go's encoding/json writes it: integral values without a fraction.
fn float(v: f64) -> Option<Value> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.fract() == 0.0 && v.abs() < EXACT {
        return Some(Value::from(v as i64));
    }
    Number::from_f64(v).map(Value::Number)
}

fn decode_well_known(
    wk: WellKnown,
    message: &'static Message,
    bytes: &[u8],
    depth: usize,
) -> Result<Value, String> {
    match wk {
        WellKnown::Time | WellKnown::MicroTime => {
            // Go decodes an empty message to the zero time, which it writes as null.
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            let (mut seconds, mut nanos) = (0i64, 0i64);
            let mut r = Reader::new(bytes);
            while !r.is_empty() {
                match r.field()? {
                    (1, Wire::Varint(v)) => seconds = v as i64,
                    (2, Wire::Varint(v)) => nanos = i64::from(v as i32),
                    (tag @ (1 | 2), _) => return Err(wire_error(message.name, tag)),
                    (_, w) => r.skip(w, depth)?,
                }
            }
            // time.Unix(seconds, nanos) carries nanos outside 0..1e9 into the seconds.
            let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
            let out_of_range = || format!("{}: time out of range", message.name);
            if wk == WellKnown::Time {
                // metav1.Time's JSON has whole seconds: the fraction is cut off, not rounded.
                let secs =
                    i64::try_from(total.div_euclid(1_000_000_000)).map_err(|_| out_of_range())?;
                return rfc3339(secs, None);
            }
            // MicroTime's JSON has six fractional digits, also cut off.
            let micros = total.div_euclid(1_000);
            let secs = i64::try_from(micros.div_euclid(1_000_000)).map_err(|_| out_of_range())?;
            let frac = u32::try_from(micros.rem_euclid(1_000_000)).unwrap_or(0);
            rfc3339(secs, Some(frac))
        }
        WellKnown::Duration => {
            let mut nanos = 0i64;
            let mut r = Reader::new(bytes);
            while !r.is_empty() {
                match r.field()? {
                    (1, Wire::Varint(v)) => nanos = v as i64,
                    (1, _) => return Err(wire_error(message.name, 1)),
                    (_, w) => r.skip(w, depth)?,
                }
            }
            Ok(Value::String(go_duration(nanos)))
        }
        WellKnown::Quantity => {
            // An empty Quantity is Go's zero Quantity, written "0".
            let mut s = "0".to_string();
            let mut r = Reader::new(bytes);
            while !r.is_empty() {
                match r.field()? {
                    (1, Wire::Len(v)) => s = lossy(v),
                    (1, _) => return Err(wire_error(message.name, 1)),
                    (_, w) => r.skip(w, depth)?,
                }
            }
            Ok(Value::String(s))
        }
        WellKnown::IntOrString => {
            let (mut kind, mut int, mut string) = (0u64, 0i32, String::new());
            let mut r = Reader::new(bytes);
            while !r.is_empty() {
                match r.field()? {
                    (1, Wire::Varint(v)) => kind = v,
                    (2, Wire::Varint(v)) => int = v as i32,
                    (3, Wire::Len(v)) => string = lossy(v),
                    (tag @ 1..=3, _) => return Err(wire_error(message.name, tag)),
                    (_, w) => r.skip(w, depth)?,
                }
            }
            match kind {
                0 => Ok(Value::from(int)),
                1 => Ok(Value::String(string)),
                other => Err(format!("IntOrString has unknown type {other}")),
            }
        }
        WellKnown::RawExtension | WellKnown::RawJson => {
            let mut raw: &[u8] = &[];
            let mut r = Reader::new(bytes);
            while !r.is_empty() {
                match r.field()? {
                    (1, Wire::Len(v)) => raw = v,
                    (1, _) => return Err(wire_error(message.name, 1)),
                    (_, w) => r.skip(w, depth)?,
                }
            }
            if raw.is_empty() {
                return Ok(Value::Null);
            }
            match serde_json::from_slice(raw) {
                Ok(v) => Ok(v),
                // A protobuf client may embed an object as protobuf too.
                Err(_) if wk == WellKnown::RawExtension && raw.starts_with(MAGIC) => {
                    decode_envelope(raw, depth, ("", ""))
                }
                Err(e) => Err(format!(
                    "{}: embedded object is not JSON: {e}",
                    message.name
                )),
            }
        }
        WellKnown::StringList => {
            let mut items = Vec::new();
            let mut r = Reader::new(bytes);
            while !r.is_empty() {
                match r.field()? {
                    (1, Wire::Len(v)) => items.push(Value::String(lossy(v))),
                    (1, _) => return Err(wire_error(message.name, 1)),
                    (_, w) => r.skip(w, depth)?,
                }
            }
            // A nil Go slice is null.
            Ok(if items.is_empty() {
                Value::Null
            } else {
                Value::Array(items)
            })
        }
        WellKnown::SchemaOrArray | WellKnown::SchemaOrBool | WellKnown::SchemaOrStringArray => {
            // The unions' MarshalJSON, field by field. SchemaOrBool: 1 allows, 2 schema; the
            // others: 1 schema, 2 the array.
            let slots = decode_fields(message, bytes, depth)?;
            let by_tag = |tag: u32| {
                message
                    .fields
                    .iter()
                    .zip(&slots)
                    .find(|(f, _)| f.tag == tag)
                    .and_then(|(_, v)| v.clone())
            };
            Ok(match wk {
                WellKnown::SchemaOrBool => match by_tag(2) {
                    Some(schema) => schema,
                    None => by_tag(1).unwrap_or(Value::Bool(false)),
                },
                _ => match (by_tag(2), by_tag(1)) {
                    (Some(Value::Array(a)), _) if !a.is_empty() => Value::Array(a),
                    (_, Some(schema)) => schema,
                    _ => Value::Null,
                },
            })
        }
    }
}

/// Go's zero `time.Time` (January 1, year 1) in Unix seconds: written as null.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// `seconds` as RFC 3339 in UTC, with six fractional digits when `micros` is given.
fn rfc3339(seconds: i64, micros: Option<u32>) -> Result<Value, String> {
    if seconds == GO_ZERO_TIME && micros.unwrap_or(0) == 0 {
        return Ok(Value::Null);
    }
    // Years 0000..=9999, the range RFC 3339 can write.
    if !(-62_167_219_200..=253_402_300_799).contains(&seconds) {
        return Err(format!(
            "time {seconds}s since 1970 is outside years 0-9999"
        ));
    }
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3_600, rem / 60 % 60, rem % 60);
    let frac = micros.map(|us| format!(".{us:06}")).unwrap_or_default();
    Ok(Value::String(format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{frac}Z"
    )))
}

/// `time.Duration.String()`: "1h0m0s", "1m30s", "1.5s", "100ms", "0s".
fn go_duration(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    // The fraction of v / 10^prec without trailing zeros, and the integer part.
    let split = |v: u64, prec: usize| {
        let p = 10u64.pow(prec as u32);
        let frac = v % p;
        let text = if frac == 0 {
            String::new()
        } else {
            format!(".{frac:0prec$}").trim_end_matches('0').to_string()
        };
        (v / p, text)
    };
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (int, frac) = split(u, prec);
        return format!("{sign}{int}{frac}{unit}");
    }
    let (secs, frac) = split(u, 9);
    let (h, m, s) = (secs / 3_600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}{frac}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}{frac}s")
    } else {
        format!("{sign}{s}{frac}s")
    }
}

/// Standard base64 with padding, as Go's encoding/json writes `[]byte`.
fn base64(data: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, data)
}

/// Go converts protobuf strings without checking UTF-8 and its JSON encoder replaces invalid
/// bytes with U+FFFD; so does this.
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn wire_error(message: &str, tag: u32) -> String {
    format!("{message}: field {tag} has the wrong wire type")
}

/// One field's value as it is on the wire.
#[derive(Clone, Copy, Debug)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32,
    /// A deprecated group: skipped by [`Reader::skip`], never a known field.
    StartGroup(u32),
}

impl Wire<'_> {
    fn id(&self) -> u8 {
        match self {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Len(_) => 2,
            Wire::StartGroup(_) => 3,
            Wire::Fixed32 => 5,
        }
    }
}

/// A bounds-checked cursor over protobuf bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let Some((head, rest)) = self.buf.split_at_checked(n) else {
            return Err("protobuf body is truncated".into());
        };
        self.buf = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for i in 0..10 {
            let [b, rest @ ..] = self.buf else {
                return Err("protobuf body is truncated".into());
            };
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("protobuf varint is longer than 10 bytes".into())
    }

    fn fixed64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "truncated")?))
    }

    /// The next field: its number and value.
    fn field(&mut self) -> Result<(u32, Wire<'a>), String> {
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3)
            .ok()
            .filter(|&t| t > 0)
            .ok_or_else(|| format!("invalid protobuf field number {}", key >> 3))?;
        if key & 7 == 4 {
            return Err(format!("unexpected end of protobuf group {tag}"));
        }
        Ok((tag, self.value(key)?))
    }

    /// Skips an unknown field whose value `field` has read; a group is read to its end.
    fn skip(&mut self, wire: Wire<'a>, depth: usize) -> Result<(), String> {
        let Wire::StartGroup(group) = wire else {
            return Ok(());
        };
        if depth > MAX_DEPTH {
            return Err(format!(
                "protobuf body nests more than {MAX_DEPTH} messages deep"
            ));
        }
        loop {
            let key = self.varint()?;
            let tag = u32::try_from(key >> 3).unwrap_or(0);
            if key & 7 == 4 {
                return if tag == group {
                    Ok(())
                } else {
                    Err(format!("protobuf group {group} ends with group {tag}"))
                };
            }
            let value = self.value(key)?;
            self.skip(value, depth + 1)?;
        }
    }

    /// The value of a field whose key has been read.
    fn value(&mut self, key: u64) -> Result<Wire<'a>, String> {
        Ok(match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(self.fixed64()?),
            2 => {
                let n = usize::try_from(self.varint()?)
                    .map_err(|_| "protobuf length out of range".to_string())?;
                Wire::Len(self.take(n)?)
            }
            3 => Wire::StartGroup(u32::try_from(key >> 3).unwrap_or(0)),
            5 => {
                // No Kubernetes field is a 32-bit fixed type; an unknown one is skipped.
                self.take(4)?;
                Wire::Fixed32
            }
            w => return Err(format!("invalid protobuf wire type {w}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A tiny protobuf encoder for building bodies by hand.
    #[derive(Clone, Default)]
    struct Pb(Vec<u8>);

    fn push_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    impl Pb {
        fn new() -> Self {
            Pb::default()
        }
        fn key(mut self, tag: u32, wire: u8) -> Self {
            push_varint(&mut self.0, u64::from(tag) << 3 | u64::from(wire));
            self
        }
        fn varint(self, tag: u32, v: u64) -> Self {
            let mut s = self.key(tag, 0);
            push_varint(&mut s.0, v);
            s
        }
        /// int32 and int64 alike: negative numbers are ten-byte two's complement.
        fn int(self, tag: u32, v: i64) -> Self {
            self.varint(tag, v as u64)
        }
        fn bytes(self, tag: u32, b: &[u8]) -> Self {
            let mut s = self.key(tag, 2);
            push_varint(&mut s.0, b.len() as u64);
            s.0.extend_from_slice(b);
            s
        }
        fn str(self, tag: u32, v: &str) -> Self {
            self.bytes(tag, v.as_bytes())
        }
        fn msg(self, tag: u32, m: Pb) -> Self {
            self.bytes(tag, &m.0)
        }
        fn fixed32(self, tag: u32, v: u32) -> Self {
            let mut s = self.key(tag, 5);
            s.0.extend_from_slice(&v.to_le_bytes());
            s
        }
        fn double(self, tag: u32, v: f64) -> Self {
            let mut s = self.key(tag, 1);
            s.0.extend_from_slice(&v.to_le_bytes());
            s
        }
        /// A `map<string, string>` entry.
        fn entry(self, tag: u32, k: &str, v: &str) -> Self {
            self.msg(tag, Pb::new().str(1, k).str(2, v))
        }
    }

    /// The envelope kubectl writes: magic, TypeMeta, raw, and empty encoding and content type.
    fn body(api_version: &str, kind: &str, object: Pb) -> Vec<u8> {
        let envelope = Pb::new()
            .msg(1, Pb::new().str(1, api_version).str(2, kind))
            .msg(2, object)
            .str(3, "")
            .str(4, "");
        [MAGIC, &envelope.0].concat()
    }

    fn meta(name: &str) -> Pb {
        Pb::new().str(1, name)
    }

    /// IntOrString: type 0 with intVal, or type 1 with strVal.
    fn int_or_string_int(v: i32) -> Pb {
        Pb::new().int(1, 0).int(2, i64::from(v))
    }
    fn int_or_string_str(v: &str) -> Pb {
        Pb::new().int(1, 1).str(3, v)
    }

    #[test]
    fn namespace() {
        let ns = Pb::new()
            .msg(1, meta("team-a").entry(11, "env", "dev"))
            .msg(2, Pb::new().str(1, "kubernetes"));
        assert_eq!(
            decode(&body("v1", "Namespace", ns)).unwrap(),
            json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "team-a", "labels": {"env": "dev"}},
                "spec": {"finalizers": ["kubernetes"]},
            })
        );
    }

    #[test]
    fn config_map_data_binary_data_and_present_false() {
        let cm = Pb::new()
            .msg(1, meta("cfg").str(3, "default"))
            // Out of order on the wire; Go writes map keys sorted.
            .entry(2, "b", "2")
            .entry(2, "a", "1")
            .msg(3, Pb::new().str(1, "bin").bytes(2, &[0xff, 0x00, 0x01]))
            .varint(4, 0);
        let v = decode(&body("v1", "ConfigMap", cm)).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cfg", "namespace": "default"},
                "data": {"a": "1", "b": "2"},
                "binaryData": {"bin": "/wAB"},
                "immutable": false,
            })
        );
        assert_eq!(v["data"].to_string(), r#"{"a":"1","b":"2"}"#);
    }

    #[test]
    fn secret_bytes_are_base64() {
        let secret = Pb::new()
            .msg(1, meta("s"))
            .msg(2, Pb::new().str(1, "k").bytes(2, b"v"))
            .msg(2, Pb::new().str(1, "two").bytes(2, b"ab"))
            .msg(2, Pb::new().str(1, "three").bytes(2, b"abc"))
            .msg(2, Pb::new().str(1, "empty"))
            .str(3, "Opaque")
            .entry(4, "plain", "text")
            .varint(5, 1);
        assert_eq!(
            decode(&body("v1", "Secret", secret)).unwrap(),
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s"},
                "data": {"empty": "", "k": "dg==", "three": "YWJj", "two": "YWI="},
                "type": "Opaque",
                "stringData": {"plain": "text"},
                "immutable": true,
            })
        );
    }

    #[test]
    fn deployment_with_zero_replicas_inline_fields_and_unknown_fields() {
        let container = Pb::new()
            .str(1, "web")
            .str(2, "nginx:1.27")
            .str(4, "--port=80")
            .msg(6, Pb::new().int(3, 80).str(4, "TCP"))
            // env: valueFrom.secretKeyRef, whose name is an inline LocalObjectReference.
            .msg(
                7,
                Pb::new().str(1, "TOKEN").msg(
                    3,
                    Pb::new().msg(
                        4,
                        Pb::new().msg(1, Pb::new().str(1, "creds")).str(2, "token"),
                    ),
                ),
            )
            .msg(
                8,
                Pb::new().msg(1, Pb::new().str(1, "cpu").msg(2, Pb::new().str(1, "500m"))),
            )
            // livenessProbe: the inline ProbeHandler's httpGet with a named port.
            .msg(
                10,
                Pb::new()
                    .msg(
                        1,
                        Pb::new().msg(
                            2,
                            Pb::new()
                                .str(1, "/healthz")
                                .msg(2, int_or_string_str("http")),
                        ),
                    )
                    .int(4, 10),
            )
            // Unknown fields of every wire type, a group included, are skipped.
            .varint(900, 7)
            .double(901, 1.5)
            .str(902, "ignored")
            .fixed32(903, 7)
            .key(904, 3)
            .varint(1, 1)
            .key(905, 3)
            .key(905, 4)
            .key(904, 4);
        let pod_spec = Pb::new()
            // volumes: the inline VolumeSource's configMap, whose name is inline too.
            .msg(
                1,
                Pb::new().str(1, "cfg").msg(
                    2,
                    Pb::new().msg(19, Pb::new().msg(1, Pb::new().str(1, "cfg")).int(3, 420)),
                ),
            )
            .msg(2, container)
            .msg(14, Pb::new().int(2, 0).int(4, 1000).int(4, 2000));
        let spec = Pb::new()
            .int(1, 0)
            .msg(2, Pb::new().entry(1, "app", "web"))
            .msg(
                3,
                Pb::new()
                    .msg(1, Pb::new().entry(11, "app", "web"))
                    .msg(2, pod_spec),
            )
            .msg(
                4,
                Pb::new().str(1, "RollingUpdate").msg(
                    2,
                    Pb::new()
                        .msg(1, int_or_string_int(0))
                        .msg(2, int_or_string_str("25%")),
                ),
            );
        let deploy = Pb::new().msg(1, meta("web")).msg(2, spec);
        assert_eq!(
            decode(&body("apps/v1", "Deployment", deploy)).unwrap(),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "volumes": [{"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}}],
                            "containers": [{
                                "name": "web",
                                "image": "nginx:1.27",
                                "args": ["--port=80"],
                                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}],
                                "resources": {"limits": {"cpu": "500m"}},
                                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
                            }],
                            "securityContext": {"runAsUser": 0, "supplementalGroups": [1000, 2000]},
                        },
                    },
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
                },
            })
        );
    }

    #[test]
    fn packed_repeated_numbers() {
        // supplementalGroups as one packed run: 1000, 2000, -1.
        let mut run = Vec::new();
        for v in [1000i64, 2000, -1] {
            push_varint(&mut run, v as u64);
        }
        let pod = Pb::new()
            .msg(1, meta("p"))
            .msg(2, Pb::new().msg(14, Pb::new().bytes(4, &run)));
        let v = decode(&body("v1", "Pod", pod)).unwrap();
        assert_eq!(
            v["spec"]["securityContext"]["supplementalGroups"],
            json!([1000, 2000, -1])
        );
    }

    #[test]
    fn service_target_ports() {
        let service = Pb::new().msg(1, meta("svc")).msg(
            2,
            Pb::new()
                .msg(
                    1,
                    Pb::new()
                        .str(1, "http")
                        .int(3, 80)
                        .msg(4, int_or_string_int(8080)),
                )
                .msg(
                    1,
                    Pb::new()
                        .str(1, "https")
                        .int(3, 443)
                        .msg(4, int_or_string_str("https")),
                )
                // An empty IntOrString is the int 0, as in Go.
                .msg(1, Pb::new().str(1, "zero").int(3, 1).msg(4, Pb::new()))
                .str(4, "ClusterIP"),
        );
        let v = decode(&body("v1", "Service", service)).unwrap();
        assert_eq!(
            v["spec"]["ports"],
            json!([
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": "https"},
                {"name": "zero", "port": 1, "targetPort": 0},
            ])
        );
        let bad = Pb::new().msg(1, meta("svc")).msg(
            2,
            Pb::new().msg(1, Pb::new().int(3, 80).msg(4, Pb::new().int(1, 7))),
        );
        let err = decode(&body("v1", "Service", bad)).unwrap_err();
        assert!(err.contains("IntOrString"), "{err}");
    }

    #[test]
    fn quantities() {
        let quota = Pb::new().msg(1, meta("q")).msg(
            2,
            Pb::new()
                .msg(1, Pb::new().str(1, "cpu").msg(2, Pb::new().str(1, "1500m")))
                .msg(
                    1,
                    Pb::new().str(1, "memory").msg(2, Pb::new().str(1, "2Gi")),
                )
                // A map entry without a value, and an empty Quantity: Go's zero Quantity.
                .msg(1, Pb::new().str(1, "pods")),
        );
        let v = decode(&body("v1", "ResourceQuota", quota)).unwrap();
        assert_eq!(
            v["spec"]["hard"],
            json!({"cpu": "1500m", "memory": "2Gi", "pods": "0"})
        );
    }

    #[test]
    fn times() {
        // 2024-02-29T13:14:15Z, with nanoseconds that metav1.Time's JSON cuts off.
        let created = Pb::new().int(1, 1_709_212_455).int(2, 999_999_999);
        // Nanoseconds past a second carry over, as in Go's time.Unix.
        let deleted = Pb::new().int(1, 0).int(2, -1);
        let ns = Pb::new().msg(1, meta("t").msg(8, created).msg(9, deleted));
        let v = decode(&body("v1", "Namespace", ns)).unwrap();
        assert_eq!(v["metadata"]["creationTimestamp"], "2024-02-29T13:14:15Z");
        assert_eq!(v["metadata"]["deletionTimestamp"], "1969-12-31T23:59:59Z");
        // Go writes an empty Time, and its zero time, as null.
        let ns = Pb::new().msg(
            1,
            meta("t")
                .msg(8, Pb::new())
                .msg(9, Pb::new().int(1, GO_ZERO_TIME)),
        );
        let v = decode(&body("v1", "Namespace", ns)).unwrap();
        assert_eq!(v["metadata"]["creationTimestamp"], Value::Null);
        assert_eq!(v["metadata"]["deletionTimestamp"], Value::Null);
        // Dates before 1970 and at the end of year 9999.
        for (secs, text) in [
            (-1, "1969-12-31T23:59:59Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (-62_167_219_200, "0000-01-01T00:00:00Z"),
        ] {
            assert_eq!(rfc3339(secs, None).unwrap(), json!(text), "{secs}");
        }
        assert!(rfc3339(253_402_300_800, None).is_err());
        assert!(rfc3339(i64::MIN, None).is_err());

        // MicroTime keeps six digits; nanoseconds are truncated.
        let event = Pb::new()
            .msg(1, meta("e"))
            .msg(2, Pb::new().int(1, 1_709_212_455).int(2, 123_456_789))
            .str(7, "Started");
        let v = decode(&body("events.k8s.io/v1", "Event", event)).unwrap();
        assert_eq!(v["eventTime"], "2024-02-29T13:14:15.123456Z");
        let event = Pb::new().msg(1, meta("e")).msg(2, Pb::new().int(1, 5));
        let v = decode(&body("events.k8s.io/v1", "Event", event)).unwrap();
        assert_eq!(v["eventTime"], "1970-01-01T00:00:05.000000Z");
    }

    #[test]
    fn durations_as_go_writes_them() {
        let duration = lookup("apimachinery.pkg.apis.meta.v1.Duration").unwrap();
        let d = |ns: i64| decode_message(duration, &Pb::new().int(1, ns).0, 0).unwrap();
        assert_eq!(d(3_600_000_000_000), "1h0m0s");
        assert_eq!(d(30_000_000_000), "30s");
        assert_eq!(d(90_000_000_000), "1m30s");
        assert_eq!(d(1_500_000_000), "1.5s");
        assert_eq!(d(100_000_000), "100ms");
        assert_eq!(d(1_500), "1.5µs");
        assert_eq!(d(7), "7ns");
        assert_eq!(d(-61_000_000_000), "-1m1s");
        assert_eq!(d(0), "0s");
        assert_eq!(decode_message(duration, &[], 0).unwrap(), "0s");
        assert_eq!(go_duration(i64::MIN), "-2562047h47m16.854775808s");
        assert_eq!(go_duration(i64::MAX), "2562047h47m16.854775807s");
    }

    #[test]
    fn raw_extension_and_fields_v1() {
        let managed = Pb::new()
            .str(1, "kubectl")
            .str(2, "Update")
            .str(6, "FieldsV1")
            .msg(7, Pb::new().bytes(1, br#"{"f:data":{"f:a":{}}}"#));
        let revision = Pb::new()
            .msg(1, meta("r").msg(17, managed))
            .msg(2, Pb::new().bytes(1, br#"{"spec":{"template":{"x":1}}}"#))
            .int(3, 2);
        assert_eq!(
            decode(&body("apps/v1", "ControllerRevision", revision)).unwrap(),
            json!({
                "apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": "r", "managedFields": [{
                    "manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:a": {}}},
                }]},
                "data": {"spec": {"template": {"x": 1}}},
                "revision": 2,
            })
        );
        // An object embedded as protobuf is decoded too.
        let inner = body("v1", "ConfigMap", Pb::new().msg(1, meta("inner")));
        let revision = Pb::new()
            .msg(1, meta("r"))
            .msg(2, Pb::new().bytes(1, &inner));
        let v = decode(&body("apps/v1", "ControllerRevision", revision)).unwrap();
        assert_eq!(
            v["data"],
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inner"}})
        );
        let revision = Pb::new()
            .msg(1, meta("r"))
            .msg(2, Pb::new().bytes(1, b"{not json"));
        assert!(decode(&body("apps/v1", "ControllerRevision", revision)).is_err());
    }

    #[test]
    fn crd_schema_unions() {
        let props = |ty: &str| Pb::new().str(5, ty);
        let schema = Pb::new()
            .str(5, "object")
            .str(3, "#/definitions/x")
            .msg(
                29,
                Pb::new()
                    .str(1, "replicas")
                    .msg(2, props("integer").double(11, 0.0).double(9, 2.5)),
            )
            .msg(
                29,
                Pb::new()
                    .str(1, "tags")
                    .msg(2, props("array").msg(24, Pb::new().msg(1, props("string")))),
            )
            .msg(
                29,
                Pb::new().str(1, "tuple").msg(
                    2,
                    props("array").msg(
                        24,
                        Pb::new().msg(2, props("string")).msg(2, props("integer")),
                    ),
                ),
            )
            .msg(
                29,
                Pb::new().str(1, "labels").msg(
                    2,
                    props("object").msg(30, Pb::new().varint(1, 1).msg(2, props("string"))),
                ),
            )
            .msg(
                29,
                Pb::new()
                    .str(1, "closed")
                    .msg(2, props("object").msg(30, Pb::new().varint(1, 0))),
            )
            .msg(
                29,
                Pb::new()
                    .str(1, "open")
                    .msg(2, props("object").msg(30, Pb::new().varint(1, 1))),
            )
            .msg(
                29,
                Pb::new().str(1, "mode").msg(
                    2,
                    props("string")
                        .msg(8, Pb::new().bytes(1, br#""a""#))
                        .msg(20, Pb::new().bytes(1, br#""a""#))
                        .msg(20, Pb::new().bytes(1, br#""b""#)),
                ),
            )
            .msg(
                32,
                Pb::new()
                    .str(1, "a")
                    .msg(2, Pb::new().str(2, "b").str(2, "c")),
            )
            .msg(
                32,
                Pb::new()
                    .str(1, "d")
                    .msg(2, Pb::new().msg(1, props("object"))),
            )
            .str(23, "replicas")
            .varint(38, 1)
            .str(42, "atomic");
        let version = Pb::new()
            .str(1, "v1")
            .varint(2, 1)
            .varint(3, 1)
            .msg(4, Pb::new().msg(1, schema));
        let crd = Pb::new().msg(1, meta("widgets.example.com")).msg(
            2,
            Pb::new()
                .str(1, "example.com")
                .msg(3, Pb::new().str(1, "widgets").str(4, "Widget"))
                .str(4, "Namespaced")
                .msg(7, version),
        );
        let v = decode(&body(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            crd,
        ))
        .unwrap();
        assert_eq!(
            v["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            json!({
                "$ref": "#/definitions/x",
                "type": "object",
                "required": ["replicas"],
                "properties": {
                    "closed": {"type": "object", "additionalProperties": false},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "mode": {"type": "string", "default": "a", "enum": ["a", "b"]},
                    "open": {"type": "object", "additionalProperties": true},
                    "replicas": {"type": "integer", "maximum": 2.5, "minimum": 0},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "tuple": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
                },
                "dependencies": {"a": ["b", "c"], "d": {"type": "object"}},
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-list-type": "atomic",
            })
        );
        assert_eq!(
            v["spec"]["names"],
            json!({"plural": "widgets", "kind": "Widget"})
        );
    }

    #[test]
    fn string_list_messages() {
        let user = Pb::new()
            .str(1, "alice")
            .msg(
                4,
                Pb::new()
                    .str(1, "scopes")
                    .msg(2, Pb::new().str(1, "a").str(1, "b")),
            )
            .msg(4, Pb::new().str(1, "none"));
        let review = Pb::new()
            .msg(1, meta(""))
            .msg(3, Pb::new().varint(1, 1).msg(2, user));
        let v = decode(&body("authentication.k8s.io/v1", "TokenReview", review)).unwrap();
        assert_eq!(
            v["status"],
            json!({"authenticated": true, "user": {"username": "alice", "extra": {"none": null, "scopes": ["a", "b"]}}})
        );
    }

    #[test]
    fn kinds_and_groups() {
        let name = |api_version: &str, kind: &str| message_for(api_version, kind).map(|m| m.name);
        assert_eq!(name("v1", "Namespace"), Ok("api.core.v1.Namespace"));
        assert_eq!(name("apps/v1", "Deployment"), Ok("api.apps.v1.Deployment"));
        assert_eq!(
            name("apps/v1", "DeploymentList"),
            Ok("api.apps.v1.DeploymentList")
        );
        assert_eq!(
            name("networking.k8s.io/v1", "Ingress"),
            Ok("api.networking.v1.Ingress")
        );
        assert_eq!(
            name("rbac.authorization.k8s.io/v1", "ClusterRole"),
            Ok("api.rbac.v1.ClusterRole")
        );
        assert_eq!(
            name(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration"
            ),
            Ok("api.admissionregistration.v1.ValidatingWebhookConfiguration")
        );
        assert_eq!(
            name("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
            Ok("apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
        );
        assert_eq!(
            name("storage.k8s.io/v1", "CSIDriver"),
            Ok("api.storage.v1.CSIDriver")
        );
        assert_eq!(
            name("storage.k8s.io/v1", "CSIDriverList"),
            Ok("api.storage.v1.CSIDriverList")
        );
        assert_eq!(
            name("apiregistration.k8s.io/v1", "APIService"),
            Ok("kube_aggregator.pkg.apis.apiregistration.v1.APIService")
        );
        assert_eq!(
            name("flowcontrol.apiserver.k8s.io/v1", "FlowSchema"),
            Ok("api.flowcontrol.v1.FlowSchema")
        );
        assert_eq!(name("policy/v1", "Eviction"), Ok("api.policy.v1.Eviction"));
        // Options kinds of meta.k8s.io/v1 are registered in every group version.
        for api_version in ["v1", "apps/v1", "meta.k8s.io/v1"] {
            assert_eq!(
                name(api_version, "DeleteOptions"),
                Ok("apimachinery.pkg.apis.meta.v1.DeleteOptions")
            );
        }
        for (api_version, kind) in [
            ("example.com/v1", "Widget"),
            ("v1", "Time"),
            ("v1", "Quantity"),
            ("v1", "namespace"),
            ("apps/v1.Deployment", "X"),
            ("", "Namespace"),
            ("v1", ""),
            ("extensions/v1beta1", "Deployment"),
        ] {
            let err = name(api_version, kind).unwrap_err();
            assert!(
                err.contains("no protobuf schema"),
                "{api_version} {kind}: {err}"
            );
        }
        let err = decode(&body("example.com/v1", "Widget", Pb::new())).unwrap_err();
        assert!(
            err.contains("\"Widget\"") && err.contains("example.com/v1"),
            "{err}"
        );
    }

    #[test]
    fn delete_options() {
        let options = Pb::new()
            .int(1, 0)
            .msg(2, Pb::new().str(1, "uid-1"))
            .str(4, "Foreground")
            .str(5, "All");
        assert_eq!(
            decode(&body("v1", "DeleteOptions", options)).unwrap(),
            json!({
                "apiVersion": "v1", "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "uid-1"},
                "propagationPolicy": "Foreground",
                "dryRun": ["All"],
            })
        );
    }

    #[test]
    fn repeated_singular_message_occurrences_merge() {
        // Protobuf merges a singular message field that occurs twice.
        let cm = Pb::new().msg(1, meta("a")).msg(1, Pb::new().str(3, "ns"));
        let v = decode(&body("v1", "ConfigMap", cm)).unwrap();
        assert_eq!(v["metadata"], json!({"name": "a", "namespace": "ns"}));
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let ok = body("v1", "ConfigMap", Pb::new().msg(1, meta("cfg")));
        assert!(decode(&ok).is_ok());
        assert!(decode(b"").unwrap_err().contains("k8s"));
        assert!(
            decode(b"{\"kind\":\"ConfigMap\"}")
                .unwrap_err()
                .contains("k8s")
        );
        assert!(decode(MAGIC).unwrap_err().contains("kind"));
        // Without a TypeMeta, the endpoint's kind is the default.
        let bare = [MAGIC, &Pb::new().msg(2, Pb::new().msg(1, meta("cm"))).0].concat();
        let v = decode_for(&bare, "v1", "ConfigMap").unwrap();
        assert_eq!(
            (v["apiVersion"].as_str(), v["kind"].as_str()),
            (Some("v1"), Some("ConfigMap"))
        );
        assert_eq!(v["metadata"]["name"], "cm");
        // Wrong wire types for known fields.
        let wrong = body("v1", "ConfigMap", Pb::new().varint(1, 3));
        assert!(decode(&wrong).unwrap_err().contains("wire type"));
        let wrong = body("v1", "ConfigMap", Pb::new().msg(1, Pb::new().varint(1, 3)));
        assert!(decode(&wrong).unwrap_err().contains("wire type"));
        let wrong = body(
            "apps/v1",
            "Deployment",
            Pb::new().msg(2, Pb::new().str(1, "2")),
        );
        assert!(decode(&wrong).unwrap_err().contains("replicas"));
        // Field number 0, wire types 6 and 7, a stray end-group, an unterminated group, a group
        // closed by another number, a length past the end.
        for raw in [
            Pb::new().varint(0, 1),
            Pb::new().key(100, 6),
            Pb::new().key(100, 7),
            Pb::new().key(100, 4),
            Pb::new().key(100, 3).varint(1, 1),
            Pb::new().key(100, 3).key(101, 4),
            Pb::new().key(100, 2).varint(1, 1),
        ] {
            assert!(
                decode(&body("v1", "ConfigMap", raw.clone())).is_err(),
                "{:?}",
                raw.0
            );
        }
        let gzip = [
            MAGIC,
            &Pb::new()
                .msg(1, Pb::new().str(1, "v1").str(2, "ConfigMap"))
                .str(3, "gzip")
                .0,
        ]
        .concat();
        assert!(decode(&gzip).unwrap_err().contains("gzip"));
        // A varint longer than ten bytes.
        let long = [MAGIC, &[0x80; 11][..]].concat();
        assert!(decode(&long).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // JSONSchemaProps.not, 5000 levels deep.
        let mut schema = Pb::new().str(5, "string");
        for _ in 0..5_000 {
            schema = Pb::new().msg(28, schema);
        }
        let crd = Pb::new().msg(
            2,
            Pb::new().msg(7, Pb::new().msg(4, Pb::new().msg(1, schema))),
        );
        let err = decode(&body(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            crd,
        ))
        .unwrap_err();
        assert!(err.contains("nests"), "{err}");
        // Objects embedded in RawExtensions, each a whole body.
        let mut inner = body("v1", "ConfigMap", Pb::new());
        for _ in 0..500 {
            inner = body(
                "apps/v1",
                "ControllerRevision",
                Pb::new().msg(2, Pb::new().bytes(1, &inner)),
            );
        }
        assert!(decode(&inner).unwrap_err().contains("nests"));
        // Unknown groups inside groups, 5000 deep and properly closed.
        let mut groups = Pb::new();
        for _ in 0..5_000 {
            groups = groups.key(100, 3);
        }
        for _ in 0..5_000 {
            groups = groups.key(100, 4);
        }
        let err = decode(&body("v1", "ConfigMap", groups)).unwrap_err();
        assert!(err.contains("nests"), "{err}");
    }

    /// A small deterministic generator for the garbage tests.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn garbage_and_truncated_input_never_panics() {
        let mut samples: Vec<Vec<u8>> = vec![body(
            "apps/v1",
            "Deployment",
            Pb::new().msg(1, meta("web").entry(11, "a", "b")).msg(
                2,
                Pb::new()
                    .int(1, 3)
                    .msg(3, Pb::new().msg(2, Pb::new().msg(2, Pb::new().str(1, "c")))),
            ),
        )];
        samples.extend(fixture_names().iter().map(|n| fixture(&format!("{n}.pb"))));
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for sample in &samples {
            // Every truncation: an error or a smaller object, never a panic.
            for len in 0..sample.len() {
                let _ = decode(&sample[..len]);
            }
            // Random byte changes.
            for _ in 0..2_000 {
                let mut b = sample.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let i = (rng.next() % b.len() as u64) as usize;
                    b[i] = rng.next() as u8;
                }
                let _ = decode(&b);
            }
        }
        // Random messages under real kinds, to reach the message decoder.
        for kind in [
            ("apps/v1", "Deployment"),
            ("v1", "Pod"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ] {
            for _ in 0..3_000 {
                let len = (rng.next() % 64) as usize;
                let raw: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let b = [
                    MAGIC,
                    &Pb::new()
                        .msg(1, Pb::new().str(1, kind.0).str(2, kind.1))
                        .bytes(2, &raw)
                        .0,
                ]
                .concat();
                let _ = decode(&b);
            }
        }
        // Pure noise.
        for _ in 0..3_000 {
            let len = (rng.next() % 96) as usize;
            let noise: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = decode(&[MAGIC, &noise].concat());
        }
    }

    #[test]
    fn table_is_consistent() {
        assert!(
            MESSAGES.windows(2).all(|w| w[0].name < w[1].name),
            "sorted, unique names"
        );
        for m in MESSAGES {
            assert!(
                m.fields.windows(2).all(|w| w[0].tag < w[1].tag),
                "{}: sorted tags",
                m.name
            );
            for f in m.fields {
                assert!(f.tag > 0 && !f.json.is_empty(), "{}.{}", m.name, f.json);
                if let Ty::Msg(name) = f.ty {
                    assert!(
                        message(name).is_some(),
                        "{}.{} refers to missing {name}",
                        m.name,
                        f.json
                    );
                }
                if f.card == Card::Inline {
                    assert!(matches!(f.ty, Ty::Msg(_)), "{}.{}", m.name, f.json);
                }
            }
        }
        for name in [
            "apimachinery.pkg.apis.meta.v1.Time",
            "apimachinery.pkg.apis.meta.v1.MicroTime",
            "apimachinery.pkg.apis.meta.v1.Duration",
            "apimachinery.pkg.apis.meta.v1.FieldsV1",
            "apimachinery.pkg.apis.meta.v1.Verbs",
            "apimachinery.pkg.api.resource.Quantity",
            "apimachinery.pkg.util.intstr.IntOrString",
            "apimachinery.pkg.runtime.RawExtension",
            "api.authentication.v1.ExtraValue",
            "api.authorization.v1.ExtraValue",
            "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON",
            "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
            "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
            "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
        ] {
            assert!(
                message(name).is_some() && well_known(name).is_some(),
                "{name}"
            );
        }
        // Every served built-in kind has a message (the catalog's kinds among them).
        for (api_version, kind) in [
            ("v1", "ConfigMap"),
            ("v1", "Endpoints"),
            ("v1", "Event"),
            ("v1", "LimitRange"),
            ("v1", "Namespace"),
            ("v1", "Node"),
            ("v1", "PersistentVolumeClaim"),
            ("v1", "PersistentVolume"),
            ("v1", "Pod"),
            ("v1", "PodTemplate"),
            ("v1", "ReplicationController"),
            ("v1", "ResourceQuota"),
            ("v1", "Secret"),
            ("v1", "ServiceAccount"),
            ("v1", "Service"),
            ("v1", "Binding"),
            (
                "admissionregistration.k8s.io/v1",
                "MutatingWebhookConfiguration",
            ),
            (
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicy",
            ),
            (
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicyBinding",
            ),
            ("apps/v1", "ControllerRevision"),
            ("apps/v1", "DaemonSet"),
            ("apps/v1", "ReplicaSet"),
            ("apps/v1", "StatefulSet"),
            ("autoscaling/v1", "HorizontalPodAutoscaler"),
            ("autoscaling/v1", "Scale"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ("batch/v1", "CronJob"),
            ("batch/v1", "Job"),
            ("coordination.k8s.io/v1", "Lease"),
            ("discovery.k8s.io/v1", "EndpointSlice"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
            ("networking.k8s.io/v1", "IngressClass"),
            ("policy/v1", "PodDisruptionBudget"),
            ("rbac.authorization.k8s.io/v1", "RoleBinding"),
            ("scheduling.k8s.io/v1", "PriorityClass"),
            ("storage.k8s.io/v1", "StorageClass"),
            ("authentication.k8s.io/v1", "TokenRequest"),
            ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
        ] {
            assert!(
                message_for(api_version, kind).is_ok(),
                "{api_version} {kind}"
            );
        }
    }

    // Bodies kubectl 1.33 really sent, captured by a recording proxy in front of the sandbox
    // (see tests/fixtures/protobuf/README.md). `NAME.json` beside most of them is what the same
    // kubectl prints for the same command with `--dry-run=client -o json`.

    fn fixture_dir() -> String {
        std::env::var("TETHER_PROTOBUF_FIXTURES").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/protobuf").to_string()
        })
    }

    fn fixture(file: &str) -> Vec<u8> {
        let path = format!("{}/{file}", fixture_dir());
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn fixture_names() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
            .expect("fixture directory")
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".pb").map(str::to_string)
            })
            .collect();
        names.sort();
        names
    }

    fn decoded(name: &str) -> Value {
        decode(&fixture(&format!("{name}.pb"))).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn kubectl_create_deployment() {
        let v = decoded("deployment-web");
        assert_eq!(v["apiVersion"], "apps/v1");
        assert_eq!(v["kind"], "Deployment");
        assert_eq!(v["metadata"]["name"], "web");
        assert_eq!(v["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(v["metadata"]["creationTimestamp"], Value::Null);
        assert_eq!(v["spec"]["replicas"], 2);
        assert_eq!(
            v["spec"]["selector"],
            json!({"matchLabels": {"app": "web"}})
        );
        assert_eq!(
            v["spec"]["template"]["metadata"]["labels"],
            json!({"app": "web"})
        );
        let container = &v["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["name"], "nginx");
        assert_eq!(container["image"], "nginx:1.27");
        assert_eq!(container["resources"], json!({}));
        // kubectl's Go value fields arrive as zero values (see the module documentation).
        assert_eq!(v["metadata"]["namespace"], "");
        assert_eq!(v["spec"]["template"]["spec"]["restartPolicy"], "");
        assert_eq!(v["spec"]["strategy"], json!({"type": ""}));

        let v = decoded("deployment-zero");
        assert_eq!(v["metadata"]["name"], "zero");
        assert_eq!(v["spec"]["replicas"], 0);
    }

    #[test]
    fn kubectl_create_namespace_configmap_secret() {
        let v = decoded("namespace-team-a");
        assert_eq!(
            (&v["apiVersion"], &v["kind"]),
            (&json!("v1"), &json!("Namespace"))
        );
        assert_eq!(v["metadata"]["name"], "team-a");
        assert_eq!(v["spec"], json!({}));

        let v = decoded("configmap-cfg");
        assert_eq!(v["kind"], "ConfigMap");
        assert_eq!(v["metadata"]["name"], "cfg");
        assert_eq!(v["data"], json!({"a": "b"}));

        let v = decoded("secret-generic-s");
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["metadata"]["name"], "s");
        assert_eq!(v["data"], json!({"k": "dg=="})); // base64("v")
        assert_eq!(v["type"], "");

        let v = decoded("secret-docker-registry-reg");
        assert_eq!(v["type"], "kubernetes.io/dockerconfigjson");
        assert_eq!(
            v["data"][".dockerconfigjson"],
            base64(br#"{"auths":{"r.io":{"username":"u","password":"p","auth":"dTpw"}}}"#)
        );
    }

    #[test]
    fn kubectl_create_other_kinds() {
        let v = decoded("service-clusterip-svc1");
        assert_eq!(v["spec"]["type"], "ClusterIP");
        assert_eq!(
            v["spec"]["ports"][0],
            json!({"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 0})
        );
        let v = decoded("service-nodeport-svc2");
        assert_eq!(v["spec"]["ports"][0]["targetPort"], "https");
        let v = decoded("job-j1");
        let pod = &v["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["command"], json!(["echo", "hi"]));
        assert_eq!(pod["restartPolicy"], "Never");
        let v = decoded("cronjob-cj1");
        assert_eq!(v["spec"]["schedule"], "*/5 * * * *");
        assert_eq!(v["spec"]["jobTemplate"]["metadata"]["name"], "cj1");
        let v = decoded("resourcequota-q1");
        assert_eq!(
            v["spec"]["hard"],
            json!({"cpu": "1500m", "memory": "2Gi", "pods": "10"})
        );
        let v = decoded("pdb-pdb1");
        assert_eq!(v["spec"]["minAvailable"], "50%");
        let v = decoded("role-r1");
        assert_eq!(
            v["rules"],
            json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}])
        );
        let v = decoded("rolebinding-rb1");
        assert_eq!(
            v["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"})
        );
        assert_eq!(v["subjects"][0]["name"], "sa1");
        let v = decoded("priorityclass-pc1");
        assert_eq!(
            (&v["value"], &v["description"]),
            (&json!(1000), &json!("hi"))
        );
        let v = decoded("ingress-ing1");
        assert_eq!(
            v["spec"]["rules"][0],
            json!({"host": "foo.com", "http": {"paths": [{"path": "/bar", "pathType": "Exact",
                "backend": {"service": {"name": "svc1", "port": {"name": "", "number": 80}}}}]}})
        );
        let v = decoded("tokenrequest-sa1");
        assert_eq!(v["kind"], "TokenRequest");
        assert_eq!(v["spec"]["expirationSeconds"], 3600);
        let v = decoded("selfsubjectaccessreview");
        assert_eq!(v["spec"]["resourceAttributes"]["verb"], "get");
        assert_eq!(v["spec"]["resourceAttributes"]["resource"], "pods");
    }

    /// True for what Go's `omitempty` leaves out of JSON: "", 0, false, null, and objects of
    /// those.
    fn is_zero(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.values().all(is_zero),
        }
    }

    /// Every value in kubectl's JSON is in the decoded object; anything more is a zero value.
    fn assert_json_form(expected: &Value, got: &Value, path: &str) {
        match (expected, got) {
            (Value::Object(e), Value::Object(g)) => {
                for (k, ev) in e {
                    let gv = g.get(k).unwrap_or_else(|| panic!("{path}/{k} missing"));
                    assert_json_form(ev, gv, &format!("{path}/{k}"));
                }
                for (k, gv) in g.iter().filter(|(k, _)| !e.contains_key(*k)) {
                    assert!(is_zero(gv), "{path}/{k} = {gv} is not in kubectl's JSON");
                }
            }
            (Value::Array(e), Value::Array(g)) => {
                assert_eq!(e.len(), g.len(), "{path}");
                for (i, (ev, gv)) in e.iter().zip(g).enumerate() {
                    assert_json_form(ev, gv, &format!("{path}/{i}"));
                }
            }
            _ => assert_eq!(expected, got, "{path}"),
        }
    }

    #[test]
    fn kubectl_fixtures_match_kubectls_json_form() {
        let mut compared = 0;
        for name in fixture_names() {
            let Ok(text) = std::fs::read_to_string(format!("{}/{name}.json", fixture_dir())) else {
                continue;
            };
            let expected: Value = serde_json::from_str(&text).unwrap();
            assert_json_form(&expected, &decoded(&name), &name);
            compared += 1;
        }
        assert!(compared >= 15, "only {compared} fixtures compared");
    }
}
