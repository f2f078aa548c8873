//! Watch: one watch per managed kind on the cluster, shared by every app. An
//! event on an object carrying tether's tracking label wakes the app that owns
//! it (the label's value is `<app-namespace>.<app-name>`), so drift is planned
//! within moments instead of at the next poll. Only objects with the label are
//! watched, and nothing is cached here: the reconcile reads what it diffs.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// What a watch reports: the app to re-plan (`namespace/name`) and the object
/// that changed, for the log.
#[derive(Debug, Clone)]
pub struct Touched {
    pub app: String,
    pub object: String,
}

pub struct DriftWatch {
    client: kube::Client,
    tx: mpsc::UnboundedSender<Touched>,
    watches: Mutex<HashMap<String, AbortHandle>>,
}

impl DriftWatch {
    pub fn new(client: kube::Client) -> (DriftWatch, mpsc::UnboundedReceiver<Touched>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            DriftWatch {
                client,
                tx,
                watches: Mutex::new(HashMap::new()),
            },
            rx,
        )
    }

    /// Watch `resource` too, unless it is watched already.
    pub fn ensure(&self, resource: &ApiResource) {
        let key = format!(
            "{}/{}/{}",
            resource.group, resource.version, resource.plural
        );
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        if watches.contains_key(&key) {
            return;
        }
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), resource);
        let tx = self.tx.clone();
        let kind = resource.kind.clone();
        let config = watcher::Config::default().labels(tether_model::TRACKING_LABEL);
        tracing::debug!(resource = %key, "watching for drift");
        let task = tokio::spawn(async move {
            // Re-lists with backoff after errors, 410 Gone or an API server restart.
            let mut events = watcher::watcher(api, config).default_backoff().boxed();
            while let Some(ev) = events.next().await {
                let obj = match ev {
                    // The initial list is what the last reconcile saw; the poll
                    // interval re-plans everything anyway.
                    Ok(Event::Apply(o)) | Ok(Event::Delete(o)) => o,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(kind = %kind, "drift watch: {e}; re-listing");
                        continue;
                    }
                };
                let Some(app) = owner(&obj) else { continue };
                let object = format!(
                    "{kind} {}{}",
                    obj.metadata
                        .namespace
                        .as_deref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default(),
                    obj.metadata.name.as_deref().unwrap_or("")
                );
                if tx.send(Touched { app, object }).is_err() {
                    break;
                }
            }
        });
        watches.insert(key, task.abort_handle());
    }

    pub fn watched(&self) -> usize {
        self.watches.lock().map(|w| w.len()).unwrap_or(0)
    }
}

impl Drop for DriftWatch {
    fn drop(&mut self) {
        if let Ok(w) = self.watches.lock() {
            for handle in w.values() {
                handle.abort();
            }
        }
    }
}

/// The owning app's key from the tracking label: namespaces cannot contain
/// dots, so the first dot splits namespace from name.
fn owner(obj: &DynamicObject) -> Option<String> {
    let value = obj
        .metadata
        .labels
        .as_ref()?
        .get(tether_model::TRACKING_LABEL)?;
    let (ns, name) = value.split_once('.')?;
    if ns.is_empty() || name.is_empty() {
        return None;
    }
    Some(format!("{ns}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_from_the_tracking_label() {
        let mut obj = DynamicObject::new(
            "x",
            &ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
        );
        assert_eq!(owner(&obj), None);
        obj.metadata.labels = Some(
            [(
                tether_model::TRACKING_LABEL.to_string(),
                "tether.web.v2".to_string(),
            )]
            .into(),
        );
        assert_eq!(
            owner(&obj).as_deref(),
            Some("tether/web.v2"),
            "app names may hold dots"
        );
        obj.metadata.labels = Some(
            [(
                tether_model::TRACKING_LABEL.to_string(),
                "nodot".to_string(),
            )]
            .into(),
        );
        assert_eq!(owner(&obj), None);
    }
}
