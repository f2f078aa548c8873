//! Multi-document YAML (and JSON) into Kubernetes objects, with the same
//! defences for files in Git and for tool output: resource budgets against
//! alias bombs, `List` expansion, object checks and duplicate detection.

use std::collections::HashMap;

use serde_json::Value;
use serde_saphyr::Spanned;
use tether_model::ObjectRef;

use crate::{Manifest, RenderError};

/// Budgets scale with the input so a large legitimate stream (a big chart's
/// output) passes, while alias expansion, which is what makes a small document
/// huge, is capped absolutely.
fn options(input_len: usize) -> serde_saphyr::Options {
    let mut opts = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: input_len / 4 + 1_024,
            max_nodes: input_len + 250_000,
            max_total_scalar_bytes: input_len + (1 << 20),
            // Deep CRD schemas pass 64 levels; go-yaml allows far more, but the
            // value is built recursively, so stay well inside the thread's stack.
            max_depth: 160,
            max_aliases: 10_000,
        },
        with_snippet: false,
        // Kubernetes reads YAML 1.1: `defaultMode: 0644` is octal 420.
        legacy_octal_numbers: true,
    };
    // Manifests rarely use aliases at all; a quarter of a million replayed
    // events is generous for them and keeps a billion-laughs document to a
    // few megabytes and well under a second before it is refused.
    opts.alias_limits.max_total_replayed_events = 250_000;
    opts
}

/// Every non-empty document with the line its root node starts on (1-based).
pub(crate) fn parse_yaml_stream(
    text: &str,
    file_for_line: &dyn Fn(u64) -> String,
) -> Result<Vec<(u64, Value)>, RenderError> {
    let docs: Vec<Spanned<Value>> =
        serde_saphyr::from_multiple_with_options(text, options(text.len()))
            .map_err(|e| yaml_error(file_for_line, &e))?;
    Ok(docs
        .into_iter()
        .filter(|d| !d.value.is_null())
        .map(|d| (d.referenced.line(), d.value))
        .collect())
}

fn yaml_error(file_for_line: &dyn Fn(u64) -> String, e: &serde_saphyr::Error) -> RenderError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let mut message = e.to_string();
    // The library appends the position; ours is in the structured fields.
    let suffix = format!(" at line {line}, column {column}");
    if let Some(pos) = message.find(&suffix) {
        message.replace_range(pos..pos + suffix.len(), "");
    }
    RenderError::Yaml {
        file: file_for_line(line),
        line,
        column,
        message,
    }
}

/// One or more concatenated JSON values, each with its starting line.
pub(crate) fn parse_json_stream(text: &str, file: &str) -> Result<Vec<(u64, Value)>, RenderError> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut offset = 0;
    loop {
        let start = offset + text[offset..].len() - text[offset..].trim_start().len();
        match stream.next() {
            None => break,
            Some(Ok(v)) => {
                let line = text[..start].matches('\n').count() as u64 + 1;
                if !v.is_null() {
                    out.push((line, v));
                }
                offset = stream.byte_offset();
            }
            Some(Err(e)) => {
                return Err(RenderError::Yaml {
                    file: file.into(),
                    line: e.line() as u64,
                    column: e.column() as u64,
                    message: format!("invalid JSON: {e}"),
                });
            }
        }
    }
    Ok(out)
}

/// Add `value` (an object, or a `List` of them) to `out`.
pub(crate) fn add_object(
    out: &mut Vec<Manifest>,
    value: Value,
    origin: String,
) -> Result<(), RenderError> {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array);
    if is_list {
        let Value::Object(mut map) = value else {
            return Ok(());
        };
        let Some(Value::Array(items)) = map.remove("items") else {
            return Ok(());
        };
        for (i, item) in items.into_iter().enumerate() {
            add_object(out, item, format!("{origin} (item {})", i + 1))?;
        }
        return Ok(());
    }
    if let Err(detail) = check_object(&value) {
        return Err(RenderError::NotAnObject { origin, detail });
    }
    out.push(Manifest {
        object: value,
        origin,
    });
    Ok(())
}

fn check_object(v: &Value) -> Result<(), String> {
    let Some(map) = v.as_object() else {
        return Err(format!("the document is {}, not a mapping", kind_of(v)));
    };
    let nonempty = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if !nonempty(map.get("apiVersion")) {
        return Err("apiVersion is missing".into());
    }
    if !nonempty(map.get("kind")) {
        return Err("kind is missing".into());
    }
    if !nonempty(map.get("metadata").and_then(|m| m.get("name"))) {
        return Err("metadata.name is missing".into());
    }
    Ok(())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Two documents naming the same object would fight over it on every apply.
pub(crate) fn check_duplicates(manifests: &[Manifest]) -> Result<(), RenderError> {
    let mut seen: HashMap<ObjectRef, &str> = HashMap::with_capacity(manifests.len());
    for m in manifests {
        let Some(r) = ObjectRef::of(&m.object) else {
            continue;
        };
        if let Some(first) = seen.get(&r) {
            return Err(RenderError::Duplicate {
                object: r.to_string(),
                first: (*first).to_string(),
                second: m.origin.clone(),
            });
        }
        seen.insert(r, &m.origin);
    }
    Ok(())
}

/// Helm prefixes every document with `# Source: <chart>/templates/x.yaml`.
/// Returns (line, source without the chart name) for each such comment.
pub(crate) fn helm_sources(text: &str) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(src) = line.strip_prefix("# Source: ") {
            let src = src.trim();
            let src = src.split_once('/').map_or(src, |(_, rest)| rest);
            out.push((i as u64 + 1, src.to_string()));
        }
    }
    out
}

/// The last `# Source:` comment at or before `line`.
pub(crate) fn source_at(sources: &[(u64, String)], line: u64) -> Option<&str> {
    let idx = sources.partition_point(|(l, _)| *l <= line);
    idx.checked_sub(1).map(|i| sources[i].1.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(_: u64) -> String {
        "f.yaml".into()
    }

    #[test]
    fn documents_and_lines() {
        let text = "# c\n---\na: 1\n---\n---\nnull\n---\n# x\nb: 0644\n...\n---\n- 1\n";
        let docs = parse_yaml_stream(text, &file).unwrap();
        let lines: Vec<u64> = docs.iter().map(|d| d.0).collect();
        assert_eq!(lines, vec![3, 9, 12]);
        assert_eq!(docs[1].1, json!({"b": 420}));
    }

    #[test]
    fn yaml_error_has_position() {
        let err = parse_yaml_stream("a: 1\n---\nb: [1, 2\n", &file).unwrap_err();
        match err {
            RenderError::Yaml { line, message, .. } => {
                assert_eq!(line, 3);
                assert!(!message.contains("at line 3"), "{message}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn json_stream_lines() {
        let docs = parse_json_stream("\n\n{\"a\": 1}\n{\"b\": 2}", "f.json").unwrap();
        assert_eq!(docs[0].0, 3);
        assert_eq!(docs[1].0, 4);
        let err = parse_json_stream("{\n\"a\": }", "f.json").unwrap_err();
        assert!(matches!(err, RenderError::Yaml { line: 2, .. }), "{err}");
    }

    #[test]
    fn sources() {
        let s = helm_sources(
            "---\n# Source: web/templates/a.yaml\nx: 1\n---\n# Source: web/crds/c.yaml\n",
        );
        assert_eq!(source_at(&s, 3), Some("templates/a.yaml"));
        assert_eq!(source_at(&s, 6), Some("crds/c.yaml"));
        assert_eq!(source_at(&s, 1), None);
    }
}
