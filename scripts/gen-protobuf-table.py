#!/usr/bin/env python3
"""Generates crates/tether-sandbox/src/protobuf_table.rs, the message table that drives the
Kubernetes protobuf decoder in crates/tether-sandbox/src/protobuf.rs.

What it reads
-------------
* Field numbers and wire types: the prost-generated Rust of the `k8s-pb` crate (0.9.0), which is
  generated from Kubernetes' generated.proto files. Each field's `#[prost(...)]` attribute gives
  the tag, the scalar type or `message`, and `optional`/`repeated`/`btree_map`; the Rust type
  names the referenced message (`super::super::...::ObjectMeta`). Only the trees `api/`,
  `apimachinery/` (without the test group), `apiextensions_apiserver/` and `kube_aggregator/` are
  used (`metrics/` is left out because nobody writes those objects), and of them only the API
  versions Kubernetes 1.35 serves, i.e. that k8s-openapi's v1_35 tree has, plus
  apimachinery's runtime and intstr packages (pass --include-removed for all of them).
* JSON field names: prost snake-cased the proto names (which are the JSON names), so the exact
  spelling ("volumeID", "podIPs", "$ref", "x-kubernetes-list-type") is recovered from the
  `k8s-openapi` crate (0.29), whose Deserialize visitors list every JSON key of every type
  (`"volumeID" => Field::Key_volume_id,`). A field is matched to a key of the same type (same
  module, same type name ignoring case) by comparing names lowercased without `_`, `-` and `$`.
  Types that k8s-openapi does not have (old beta versions, list and options types) use the key
  spelling seen for the same normalised name anywhere in k8s-openapi when that spelling is
  unique, else lowerCamelCase with the acronyms seen in k8s-openapi's keys upper-cased.
* Inlined Go structs (`json:",inline"`, e.g. `Volume.volumeSource`, `Probe.handler`,
  `SecretEnvSource.localObjectReference`) are their own proto field but have no JSON key: a message
  field that k8s-openapi's type lacks while that type has the embedded message's keys is marked
  `Inline`, and the decoder merges its fields into the parent object.

Both crates are Apache-2.0; the generated table is data derived from them.

How to rerun
------------
    python3 scripts/gen-protobuf-table.py [--k8s-pb DIR] [--k8s-openapi DIR] [--out FILE]

DIR is the crate's unpacked `src` directory. Without it the script unpacks
`k8s-pb-0.9.0.crate` / `k8s-openapi-0.29.*.crate` from ~/.cargo/registry/cache (run any cargo
build that depends on them first, or `cargo fetch` in a crate that does). The default output is
crates/tether-sandbox/src/protobuf_table.rs next to this script's repository. The script prints a
summary (messages, fields, how many names fell back) to stderr. Only the Python standard library
is used.
"""

import argparse
import atexit
import glob
import os
import re
import shutil
import sys
import tarfile
import tempfile

K8S_PB_VERSION = "0.9.0"
K8S_OPENAPI_VERSION = "0.29"
# The Kubernetes version of k8s-openapi whose types are preferred; the other versions the crate
# ships are consulted for types this one lacks.
OPENAPI_PREFERRED = "v1_35"

PB_TREES = ["api", "apimachinery", "apiextensions_apiserver", "kube_aggregator"]
PB_SKIP = ["apimachinery/pkg/apis/testapigroup"]
# Always kept although k8s-openapi has no such directory: the envelope and the well-known types
# live here.
PB_KEEP = ["apimachinery/pkg/runtime", "apimachinery/pkg/util/intstr"]

SCALARS = {
    "string": "Str",
    "bytes": "Bytes",
    "bool": "Bool",
    "int32": "I32",
    "int64": "I64",
    "double": "F64",
}

# Messages the decoder maps to a JSON form of their own (see `well_known` in protobuf.rs): their
# field names are never written to JSON, so falling back to lowerCamelCase is expected there.
WELL_KNOWN = re.compile(
    r"(\.Time|\.MicroTime|\.Duration|\.FieldsV1|\.RawExtension|\.Quantity|\.IntOrString|"
    r"\.Verbs|\.ExtraValue|\.JSON|\.JSONSchemaPropsOr\w+|\.Unknown|\.TypeMeta|\.Timestamp)$",
    re.I,
)


def find_crate(name, version_prefix):
    pattern = os.path.expanduser(f"~/.cargo/registry/cache/*/{name}-{version_prefix}*.crate")
    found = sorted(glob.glob(pattern))
    if not found:
        sys.exit(f"no {name}-{version_prefix}*.crate in ~/.cargo/registry/cache; pass the unpacked "
                 f"src directory instead")
    crate = found[-1]
    out = tempfile.mkdtemp(prefix="gen-protobuf-table-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    with tarfile.open(crate) as tar:
        try:
            tar.extractall(out, filter="data")
        except TypeError:  # Python before 3.11.4 has no extraction filters
            tar.extractall(out)
    (top,) = os.listdir(out)
    return os.path.join(out, top, "src")


def norm(name):
    """The spelling-free form used to match a prost field to a JSON key."""
    return re.sub(r"[_\-$]", "", name.removeprefix("r#")).lower()


def lower_camel(snake, acronyms=frozenset()):
    """prost's snake_case back to the JSON spelling; words Kubernetes writes as acronyms
    ("insecure_skip_tls_verify_backend" -> "insecureSkipTLSVerifyBackend") are upper-cased."""
    parts = snake.removeprefix("r#").split("_")
    return parts[0] + "".join(
        p.upper() if p in acronyms else p[:1].upper() + p[1:] for p in parts[1:]
    )


# An upper-case run inside a JSON key that is an acronym: "TLS" in "insecureSkipTLSVerify",
# "IP" in "podIPs", "URI" in "diskURI".
ACRONYM_RE = re.compile(r"[A-Z]{2,}(?=[A-Z][a-z]|s?(?![a-z]))")


# ---------------------------------------------------------------------------------------------
# k8s-pb


STRUCT_RE = re.compile(r"^pub struct (\w+) \{(?:\}|\n(.*?)^\})", re.S | re.M)
FIELD_RE = re.compile(r"#\[prost\(([^\]]*)\)\]\s*pub ((?:r#)?\w+):\s*(.*?),\n(?=\s*(?:#|///|$))",
                      re.S)


def strip_comments(text):
    return "\n".join(line for line in text.split("\n") if not line.strip().startswith("///"))


def innermost_type(ty):
    """The message path inside Option<..>/Vec<..>/Box<..>/BTreeMap<String, ..>."""
    # rustfmt leaves a trailing comma in generic arguments it wrapped over several lines.
    ty = re.sub(r"\s+", "", ty).replace(",>", ">")
    while True:
        m = re.fullmatch(r"::core::option::Option<(.*)>|::prost::alloc::vec::Vec<(.*)>|"
                         r"::prost::alloc::boxed::Box<(.*)>", ty)
        if m:
            ty = next(g for g in m.groups() if g is not None)
            continue
        m = re.fullmatch(r"::prost::alloc::collections::BTreeMap<::prost::alloc::string::String,"
                         r"(.*)>", ty)
        if m:
            ty = m.group(1)
            continue
        return ty


def resolve(module, path):
    """A Rust path relative to `module` ("api/core/v1") as (module, type name)."""
    parts = path.split("::")
    if parts[0] == "crate":
        return "/".join(parts[1:-1]), parts[-1]
    base = module.split("/")
    while parts and parts[0] == "super":
        base.pop()
        parts.pop(0)
    return "/".join(base + parts[:-1]), parts[-1]


def parse_pb(src, served):
    """{(module, prost type name): [field dict]} for the modules `served` accepts."""
    messages = {}
    for tree in PB_TREES:
        for path in sorted(glob.glob(os.path.join(src, tree, "**", "mod.rs"), recursive=True)):
            module = os.path.relpath(os.path.dirname(path), src).replace(os.sep, "/")
            if any(module.startswith(s) for s in PB_SKIP) or not served(module):
                continue
            text = strip_comments(open(path, encoding="utf-8").read())
            for sm in STRUCT_RE.finditer(text):
                name, body = sm.group(1), (sm.group(2) or "") + "\n"
                fields = []
                for fm in FIELD_RE.finditer(body):
                    attr, fname, ty = fm.groups()
                    fields.append(parse_field(module, name, attr, fname, ty))
                if body.count("#[prost(") != len(fields):
                    sys.exit(f"{module}::{name}: parsed {len(fields)} of "
                             f"{body.count('#[prost(')} fields")
                messages[(module, name)] = fields
    return messages


def parse_field(module, msg, attr, fname, ty):
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    field = {"tag": tag, "prost": fname, "card": "One", "ty": None, "ref": None}
    m = re.match(r'btree_map = "(\w+), (\w+)"', attr)
    if m:
        key, value = m.groups()
        if key != "string":
            sys.exit(f"{module}::{msg}.{fname}: map key {key} is not supported")
        field["card"] = "Map"
        kind = value
    else:
        kind = re.match(r"(\w+)", attr).group(1)
        if re.search(r"\brepeated\b", attr):
            field["card"] = "Rep"
        elif not re.search(r"\boptional\b", attr):
            sys.exit(f"{module}::{msg}.{fname}: neither optional nor repeated: {attr}")
    if kind == "message":
        field["ref"] = resolve(module, innermost_type(ty))
    elif kind in SCALARS:
        field["ty"] = SCALARS[kind]
    else:
        sys.exit(f"{module}::{msg}.{fname}: scalar type {kind} is not supported")
    return field


# ---------------------------------------------------------------------------------------------
# k8s-openapi


def parse_openapi(src):
    """({(module, lowercase type name): (type name, [json keys])} preferring OPENAPI_PREFERRED,
    {normalised key: {json key}} over every version, the acronyms seen in keys)."""
    versions = sorted(d for d in os.listdir(src) if re.fullmatch(r"v\d+_\d+", d))
    if OPENAPI_PREFERRED not in versions:
        sys.exit(f"{src} has no {OPENAPI_PREFERRED}")
    order = [OPENAPI_PREFERRED] + [v for v in reversed(versions) if v != OPENAPI_PREFERRED]
    types, spellings, acronyms = {}, {}, set()
    for version in order:
        root = os.path.join(src, version)
        for path in sorted(glob.glob(os.path.join(root, "**", "*.rs"), recursive=True)):
            text = open(path, encoding="utf-8").read()
            sm = re.search(r"^pub (?:struct|enum) (\w+)", text, re.M)
            if not sm:
                continue
            module = os.path.relpath(os.path.dirname(path), root).replace(os.sep, "/")
            keys = re.findall(r'^\s*"([^"]+)" => Field::Key_\w+,$', text, re.M)
            types.setdefault((module, sm.group(1).lower()), (sm.group(1), keys))
            for key in keys:
                spellings.setdefault(norm(key), set()).add(key)
                acronyms.update(a.lower() for a in ACRONYM_RE.findall(key))
    return types, spellings, frozenset(acronyms)


# ---------------------------------------------------------------------------------------------


def build(pb, types, spellings, acronyms):
    stats = {"exact": 0, "inline": 0, "global": 0, "camel": 0, "camel_wk": 0, "messages": 0}
    fallbacks = []

    def full_name(key):
        # Kubernetes' spelling ("CSIDriver"), where prost wrote "CsiDriver": the envelope names
        # kinds that way and the decoder looks them up exactly. k8s-openapi has no XxxList types,
        # so a list takes its item type's spelling.
        module, name = key
        openapi = types.get((module, name.lower()))
        if openapi is None and name.endswith("List"):
            item = types.get((module, name[:-4].lower()))
            if item is not None:
                return module.replace("/", ".") + "." + item[0] + "List"
        return module.replace("/", ".") + "." + (openapi[0] if openapi else name)

    def keys_of(key):
        module, name = key
        openapi = types.get((module, name.lower()))
        return None if openapi is None else openapi[1]

    # Inline fields of types k8s-openapi covers, by (type name, field), to carry over to the same
    # Go struct in API versions k8s-openapi no longer has.
    inline_by_name = set()
    for key, fields in pb.items():
        keys = keys_of(key)
        if keys is None:
            continue
        by_norm = {norm(k) for k in keys}
        for f in fields:
            if f["ref"] and norm(f["prost"]) not in by_norm and is_inline(f, keys, pb, keys_of):
                inline_by_name.add((key[1].lower(), f["prost"]))

    out = []
    for key in sorted(pb, key=full_name):
        name = full_name(key)
        keys = keys_of(key)
        by_norm = {norm(k): k for k in (keys or [])}
        rows = []
        for f in sorted(pb[key], key=lambda f: f["tag"]):
            card, json = f["card"], None
            if keys is not None and norm(f["prost"]) in by_norm:
                json = by_norm[norm(f["prost"])]
                stats["exact"] += 1
            elif f["ref"] and f["card"] == "One" and (
                (keys is not None and is_inline(f, keys, pb, keys_of))
                or (keys is None and (key[1].lower(), f["prost"]) in inline_by_name)
            ):
                card, json = "Inline", lower_camel(f["prost"])
                stats["inline"] += 1
            elif len(spellings.get(norm(f["prost"]), ())) == 1:
                (json,) = spellings[norm(f["prost"])]
                stats["global"] += 1
            else:
                json = lower_camel(f["prost"], acronyms)
                if WELL_KNOWN.search(name):
                    stats["camel_wk"] += 1
                else:
                    stats["camel"] += 1
                    fallbacks.append(f"{name}.{json}")
            ty = f"Msg({rust_str(full_name(f['ref']))})" if f["ref"] else f["ty"]
            rows.append((f["tag"], json, ty, card))
        out.append((name, rows))
        stats["messages"] += 1
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        sys.exit("duplicate message names")
    return out, stats, fallbacks


def is_inline(field, keys, pb, keys_of):
    """True when the Go struct embeds the referenced message with `json:",inline"`: the parent
    type has no key for the field but has every key of the embedded message."""
    sub_keys = keys_of(field["ref"])
    if sub_keys is None:
        sub_keys = [lower_camel(f["prost"]) for f in pb.get(field["ref"], [])]
    parent = {norm(k) for k in keys}
    return bool(sub_keys) and all(norm(k) in parent for k in sub_keys)


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


HEADER = """\
//! The protobuf message table for [`crate::protobuf`]: for every Kubernetes message, its fields
//! with tag, JSON name, wire type and cardinality, so that the decoder can turn
//! `application/vnd.kubernetes.protobuf` request bodies (kubectl 1.33+) into JSON objects.
//!
//! GENERATED by `scripts/gen-protobuf-table.py`; do not edit, rerun the script instead. Field
//! numbers and types come from the `k8s-pb` crate {pb} (prost code generated from Kubernetes'
//! generated.proto); JSON field names and `Inline` (Go `json:",inline"`) fields from the
//! `k8s-openapi` crate {openapi} ({preferred} preferred). Both crates are licensed Apache-2.0;
//! this file is data derived from them.
//!
//! {messages} messages, {fields} fields. Messages are sorted by name so that the decoder can binary
//! search them; fields are sorted by tag, one line each: `f(tag, JSON name, type, cardinality)`.
//! Names are the k8s-pb module path plus the type name as Kubernetes spells it
//! (`api.core.v1.AWSElasticBlockStoreVolumeSource`).

use crate::protobuf::Card::*;
use crate::protobuf::Ty::*;
use crate::protobuf::{{Message as M, f}};

/// Every message, sorted by name.
#[rustfmt::skip]
pub static MESSAGES: &[M] = &[
"""


def emit(out, openapi_version):
    fields = sum(len(rows) for _, rows in out)
    text = HEADER.format(pb=K8S_PB_VERSION, openapi=openapi_version, preferred=OPENAPI_PREFERRED,
                         messages=len(out), fields=fields)
    for name, rows in out:
        if not rows:
            text += f"M {{ name: {rust_str(name)}, fields: &[] }},\n"
            continue
        text += f"M {{ name: {rust_str(name)}, fields: &[\n"
        for tag, json, ty, card in rows:
            text += f"    f({tag}, {rust_str(json)}, {ty}, {card}),\n"
        text += "] },\n"
    return text + "];\n"


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k8s-pb", help=f"unpacked k8s-pb {K8S_PB_VERSION} src directory")
    ap.add_argument("--k8s-openapi", help=f"unpacked k8s-openapi {K8S_OPENAPI_VERSION} src directory")
    ap.add_argument("--out", default=os.path.join(repo, "crates/tether-sandbox/src/protobuf_table.rs"))
    ap.add_argument("--include-removed", action="store_true",
                    help="also API versions Kubernetes no longer serves (extensions/v1beta1, "
                         "apps/v1beta2, ...), about 360 more messages")
    args = ap.parse_args()
    pb_src = args.k8s_pb or find_crate("k8s-pb", K8S_PB_VERSION)
    openapi_src = args.k8s_openapi or find_crate("k8s-openapi", K8S_OPENAPI_VERSION)
    m = re.search(r"k8s-openapi-(\d+\.\d+\.\d+)", os.path.abspath(openapi_src))
    openapi_version = m.group(1) if m else K8S_OPENAPI_VERSION

    def served(module):
        # An API version is served by the Kubernetes release k8s-openapi's preferred version
        # models exactly when k8s-openapi has a directory for it; the API versions that were
        # removed years ago (extensions/v1beta1, ...) are left out to keep the table small.
        return (args.include_removed or module in PB_KEEP
                or os.path.isdir(os.path.join(openapi_src, OPENAPI_PREFERRED, module)))

    pb = parse_pb(pb_src, served)
    types, spellings, acronyms = parse_openapi(openapi_src)
    out, stats, fallbacks = build(pb, types, spellings, acronyms)
    text = emit(out, openapi_version)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.out}: {text.count(chr(10))} lines, {stats['messages']} messages; JSON "
          f"names: {stats['exact']} from the same k8s-openapi type, {stats['inline']} inline, "
          f"{stats['global']} by unique spelling elsewhere, {stats['camel']} lowerCamelCase "
          f"fallbacks (+{stats['camel_wk']} in well-known messages)", file=sys.stderr)
    for name in fallbacks:
        print(f"  lowerCamelCase: {name}", file=sys.stderr)


if __name__ == "__main__":
    main()
