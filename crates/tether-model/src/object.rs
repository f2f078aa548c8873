//! Object identity: the key by which desired, live and inventory objects meet.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// group/kind/namespace/name. The version is left out on purpose: an object
/// moved from `v1beta1` to `v1` in Git is the same object in the cluster.
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The identity of a manifest or live object (`apiVersion`, `kind`, `metadata`).
    /// None when kind or name is missing.
    pub fn of(obj: &Value) -> Option<ObjectRef> {
        let (group, _) = split_api_version(obj.get("apiVersion")?.as_str()?);
        let kind = obj.get("kind")?.as_str()?;
        let meta = obj.get("metadata")?;
        let name = meta.get("name")?.as_str()?;
        let namespace = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(ObjectRef::new(group, kind, namespace, name))
    }
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

impl fmt::Display for ObjectRef {
    /// `Deployment/web`, `apps/Deployment/demo/web` is too noisy for logs; this
    /// prints `Deployment demo/web` (or `Namespace demo` when cluster-scoped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        if self.namespace.is_empty() {
            write!(f, "{kind} {}", self.name)
        } else {
            write!(f, "{kind} {}/{}", self.namespace, self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_of_objects() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"}});
        let r = ObjectRef::of(&d).unwrap();
        assert_eq!(r, ObjectRef::new("apps", "Deployment", "demo", "web"));
        assert_eq!(r.to_string(), "Deployment.apps demo/web");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}});
        assert_eq!(ObjectRef::of(&ns).unwrap().to_string(), "Namespace demo");
        assert!(ObjectRef::of(&json!({"apiVersion": "v1", "kind": "X", "metadata": {}})).is_none());
    }
}
