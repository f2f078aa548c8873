//! One app as the list stream shows it: the list's row (the same
//! [`AppSummary`] `GET /api/v1/applications` answers with) plus, when objects
//! have drifted, what drifted, how, and who changed it, so a dashboard can say
//! "spec.replicas 3 → 5 by kubectl-scale" without fetching the app.

use std::sync::Arc;

use serde::Serialize;
use tether_model::Application;
use tether_model::status::Drift;

use super::hub::Seen;
use crate::api::query::AppSummary;

/// At most this many drifted objects are carried per row; `driftCount` has
/// the whole number.
pub const MAX_DRIFTED: usize = 20;

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StreamRow<'a> {
    #[serde(flatten)]
    pub summary: AppSummary,
    /// The drifted objects (up to [`MAX_DRIFTED`]); absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<DriftedObject<'a>>,
}

/// One drifted object: which, and the drift forensics from the status.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DriftedObject<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub group: &'a str,
    pub kind: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub namespace: &'a str,
    pub name: &'a str,
    /// `manager` (the field manager that wrote last, e.g. `kubectl-scale`),
    /// `time`, and `fields` (`path`, `git`, `live`).
    pub drift: &'a Drift,
}

impl<'a> StreamRow<'a> {
    pub fn of(app: &'a Application) -> StreamRow<'a> {
        let drifted = app
            .status
            .iter()
            .flat_map(|s| s.resources.iter())
            .filter_map(|r| {
                Some(DriftedObject {
                    group: &r.group,
                    kind: &r.kind,
                    namespace: &r.namespace,
                    name: &r.name,
                    drift: r.drift.as_ref()?,
                })
            })
            .take(MAX_DRIFTED)
            .collect();
        StreamRow {
            summary: AppSummary::of(app),
            drifted,
        }
    }
}

/// The hub's record of an app: the row rendered once.
pub fn seen(app: Arc<Application>) -> Seen {
    let json = serde_json::to_string(&StreamRow::of(&app)).unwrap_or_else(|e| {
        // Serialising plain strings and maps cannot fail; say so if it ever does.
        tracing::error!("API stream: rendering a row: {e}");
        "{}".to_string()
    });
    // As the list counts them (`query::Counts`).
    let status = app.status.as_ref();
    let sync = status
        .and_then(|s| s.sync.as_ref())
        .map(|s| s.status)
        .unwrap_or_default();
    let health = status
        .and_then(|s| s.health.as_ref())
        .map(|h| h.status)
        .unwrap_or_default();
    Seen {
        row: json.into(),
        sync: sync.as_str(),
        health: health.as_str(),
        app,
    }
}
