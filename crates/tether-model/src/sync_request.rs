//! A sync asked for with options (the API's `POST …/sync` with `resources` or
//! `prune`): the options travel to the leader on the Application, in the
//! [`SYNC_REQUEST_ANNOTATION`] beside the refresh annotation, and hold only for
//! the refresh value they name. The engine reads them once, for that refresh.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ObjectRef;

/// On an Application: JSON `{"refresh", "resources", "prune"}`, the options of
/// the sync that the `tether.dev/refresh` value `refresh` asks for. (Not
/// `tether.dev/sync-options`: that is the per-object annotation in Git.)
pub const SYNC_REQUEST_ANNOTATION: &str = "tether.dev/sync-request";

/// What a sync was asked to do beyond the defaults. Recorded on the operation
/// and its history entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOptions {
    /// Only these objects were to be synced (applied or pruned); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ObjectRef>,
    /// `true`: prune what Git no longer declares even if
    /// `syncPolicy.automated.prune` is off; `false`: prune nothing; absent: as
    /// the policy says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
}

impl SyncOptions {
    /// Nothing beyond a default sync.
    pub fn is_default(&self) -> bool {
        self.resources.is_empty() && self.prune.is_none()
    }

    /// Only some objects.
    pub fn is_partial(&self) -> bool {
        !self.resources.is_empty()
    }

    /// A few words for operation messages and the audit log:
    /// `only 2 selected objects, prune on request`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.resources.len() {
            0 => {}
            1 => parts.push(format!("only {}", self.resources[0])),
            n => parts.push(format!("only {n} selected objects")),
        }
        match self.prune {
            Some(true) => parts.push("prune on request".to_string()),
            Some(false) => parts.push("no prune on request".to_string()),
            None => {}
        }
        parts.join(", ")
    }
}

/// The annotation's JSON.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRequestAnnotation {
    /// The `tether.dev/refresh` value these options go with.
    pub refresh: String,
    #[serde(default)]
    pub resources: Vec<ObjectRef>,
    #[serde(default)]
    pub prune: Option<bool>,
}

impl SyncRequestAnnotation {
    pub fn new(refresh: &str, options: &SyncOptions) -> Self {
        SyncRequestAnnotation {
            refresh: refresh.to_string(),
            resources: options.resources.clone(),
            prune: options.prune,
        }
    }

    /// The annotation's value.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The options of the sync that refresh value `refresh` asks for: `Ok(None)`
/// when the app carries none, or carries them for another refresh (an older
/// request); `Err` (saying what is wrong) when the annotation is not valid.
pub fn sync_options_for(
    annotations: &BTreeMap<String, String>,
    refresh: &str,
) -> Result<Option<SyncOptions>, String> {
    let Some(text) = annotations.get(SYNC_REQUEST_ANNOTATION) else {
        return Ok(None);
    };
    let parsed: SyncRequestAnnotation = serde_json::from_str(text).map_err(|e| {
        format!(
            "the {SYNC_REQUEST_ANNOTATION} annotation is not valid JSON of the form {{\"refresh\", \"resources\": [{{\"group\", \"kind\", \"namespace\", \"name\"}}], \"prune\"}}: {e}"
        )
    })?;
    if parsed.refresh != refresh {
        return Ok(None);
    }
    for r in &parsed.resources {
        if r.kind.trim().is_empty() || r.name.trim().is_empty() {
            return Err(format!(
                "the {SYNC_REQUEST_ANNOTATION} annotation names an object without kind or name ({r:?})"
            ));
        }
    }
    let mut resources = parsed.resources;
    resources.sort();
    resources.dedup();
    Ok(Some(SyncOptions {
        resources,
        prune: parsed.prune,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(SYNC_REQUEST_ANNOTATION.to_string(), value.to_string())])
    }

    #[test]
    fn options_hold_only_for_their_refresh_value() {
        let opts = SyncOptions {
            resources: vec![ObjectRef::new("apps", "Deployment", "web", "web")],
            prune: Some(true),
        };
        let a = with(&SyncRequestAnnotation::new("t1", &opts).to_json());
        assert_eq!(sync_options_for(&a, "t1"), Ok(Some(opts)));
        assert_eq!(sync_options_for(&a, "t2"), Ok(None));
        assert_eq!(sync_options_for(&BTreeMap::new(), "t1"), Ok(None));
    }

    #[test]
    fn bad_annotations_are_errors_not_panics() {
        for bad in [
            "{",
            "[]",
            r#"{"refresh":"t1","prune":"yes"}"#,
            r#"{"refresh":"t1","extra":1}"#,
            r#"{"refresh":"t1","resources":[{"kind":"","name":"a"}]}"#,
        ] {
            let e = sync_options_for(&with(bad), "t1").expect_err(bad);
            assert!(e.contains(SYNC_REQUEST_ANNOTATION), "{e}");
        }
    }

    #[test]
    fn describe_says_what_was_asked() {
        let mut o = SyncOptions::default();
        assert!(o.is_default());
        o.prune = Some(true);
        assert_eq!(o.describe(), "prune on request");
        o.resources = vec![ObjectRef::new("", "ConfigMap", "a", "b")];
        assert!(o.describe().starts_with("only "), "{}", o.describe());
    }
}
