//! Events are one resource served by two groups: core `v1` Events and
//! `events.k8s.io/v1` Events share storage on the real server, so each is
//! visible through the other. The sandbox stores the core form and converts at
//! the edges, with the real conversion's field mapping:
//!
//! | events.k8s.io/v1 | core v1 |
//! |---|---|
//! | `regarding` | `involvedObject` |
//! | `note` | `message` |
//! | `reportingController` | `reportingComponent` |
//! | `deprecatedSource` | `source` |
//! | `deprecatedFirstTimestamp` | `firstTimestamp` |
//! | `deprecatedLastTimestamp` | `lastTimestamp` |
//! | `deprecatedCount` | `count` |
//!
//! `metadata`, `eventTime`, `series`, `action`, `reason`, `related`,
//! `reportingInstance` and `type` are the same in both. Pure functions over JSON.

use serde_json::{Map, Value};

use crate::catalog::ResourceInfo;

/// (events.k8s.io/v1 name, core v1 name) of every renamed field.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

pub const API_VERSION: &str = "events.k8s.io/v1";

/// True for the `events.k8s.io` Event resource, whose objects are stored as core Events.
pub fn is_events_group(r: &ResourceInfo) -> bool {
    r.group == "events.k8s.io" && r.kind == "Event"
}

fn rename(obj: &Map<String, Value>, from_index: usize, api_version: &str) -> Map<String, Value> {
    let mut out = Map::with_capacity(obj.len());
    for (key, value) in obj {
        let renamed = RENAMED.iter().find_map(|pair| {
            let (from, to) = if from_index == 0 {
                (pair.0, pair.1)
            } else {
                (pair.1, pair.0)
            };
            (from == key).then_some(to)
        });
        let key = match (key.as_str(), renamed) {
            ("apiVersion", _) => {
                out.insert("apiVersion".into(), Value::from(api_version));
                continue;
            }
            (_, Some(to)) => to.to_string(),
            (k, None) => k.to_string(),
        };
        out.insert(key, value.clone());
    }
    out
}

/// An events.k8s.io/v1 Event in the core v1 form it is stored in.
pub fn to_core(event: &Value) -> Value {
    let Value::Object(map) = event else {
        return event.clone();
    };
    let mut out = rename(map, 0, "v1");
    // involvedObject and source are Go value structs: always present, `{}` when empty.
    for key in ["involvedObject", "source"] {
        out.entry(key).or_insert_with(|| Value::Object(Map::new()));
    }
    Value::Object(out)
}

/// A stored core v1 Event as events.k8s.io/v1 serves it.
pub fn to_events(core: &Value) -> Value {
    let Value::Object(map) = core else {
        return core.clone();
    };
    let mut out = rename(map, 1, API_VERSION);
    // eventTime is a Go value struct, written as null when it was never set.
    out.entry("eventTime").or_insert(Value::Null);
    // An empty deprecatedSource is omitted (it is omitempty in events.k8s.io).
    if out
        .get("deprecatedSource")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        out.shift_remove("deprecatedSource");
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_map_both_ways() {
        let new_style = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "ns"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"},
            "reportingController": "example.com/c", "reportingInstance": "c-1",
            "action": "Act", "reason": "Why", "type": "Warning", "note": "text",
            "regarding": {"kind": "Pod", "name": "p"},
            "deprecatedSource": {"component": "kubelet", "host": "node"},
            "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2026-01-01T00:00:05Z",
            "deprecatedCount": 4,
        });
        let core = to_core(&new_style);
        assert_eq!(
            core,
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "e", "namespace": "ns"},
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"},
                "reportingComponent": "example.com/c", "reportingInstance": "c-1",
                "action": "Act", "reason": "Why", "type": "Warning", "message": "text",
                "involvedObject": {"kind": "Pod", "name": "p"},
                "source": {"component": "kubelet", "host": "node"},
                "firstTimestamp": "2026-01-01T00:00:00Z",
                "lastTimestamp": "2026-01-01T00:00:05Z",
                "count": 4,
            })
        );
        assert_eq!(to_events(&core), new_style);
    }

    #[test]
    fn value_structs_are_filled_in_each_form() {
        let core =
            to_core(&json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "n"}));
        assert_eq!(core["involvedObject"], json!({}));
        assert_eq!(core["source"], json!({}));
        let back =
            to_events(&json!({"apiVersion": "v1", "kind": "Event", "message": "m", "source": {}}));
        assert_eq!(
            back,
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "m", "eventTime": null})
        );
    }
}
