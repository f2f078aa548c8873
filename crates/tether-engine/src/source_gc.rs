//! Collecting the Git cache: at start and every `--gc-interval`, the checkouts and mirrors
//! that no Application needs any more are removed (see `tether_source::Sources::collect`
//! for the rules), so the state dir is bounded by the apps, not by the commits they saw.
//!
//! What the Applications need is read from the API server (one list call), not from this
//! agent's memory, so it holds after a restart and for apps this agent has not reconciled
//! yet. A reconcile in flight holds its checkout and fetcher, which collection never takes.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ListParams};
use tether_model::Application;
use tether_source::References;

use crate::pipeline::Engine;

/// What the Applications reference: each one's repository, and the commits its status names
/// (the revision compared against, the last sync's, a rollback's).
pub fn references<'a>(apps: impl IntoIterator<Item = &'a Application>) -> References {
    let mut refs = References::new();
    for app in apps {
        refs.add_url(&app.spec.source.repo_url);
        if let Some(target) = app
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(tether_model::ROLLBACK_ANNOTATION))
        {
            refs.add_commit(target);
        }
        let Some(status) = &app.status else { continue };
        if let Some(r) = status.sync.as_ref().and_then(|s| s.revision.as_deref()) {
            refs.add_commit(r);
        }
        if let Some(r) = status
            .operation_state
            .as_ref()
            .and_then(|o| o.revision.as_deref())
        {
            refs.add_commit(r);
        }
        if let Some(rb) = &status.rollback {
            refs.add_commit(&rb.revision);
            refs.add_commit(&rb.held_head);
        }
    }
    refs
}

/// One collection: list the Applications, then collect on a blocking thread. When the list
/// fails nothing is collected (not knowing what is referenced, keep everything).
pub async fn collect_once(engine: &Arc<Engine>, api: &Api<Application>, grace: Duration) {
    let apps = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            tracing::warn!("cannot list Applications to collect the Git cache: {e}; skipped");
            return;
        }
    };
    let refs = references(&apps);
    let engine = engine.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || engine.sources.collect(&refs, grace)).await
    {
        tracing::warn!("collecting the Git cache failed: {e}");
    }
}

/// Collect now and then every `interval`; a checkout or mirror used within the last interval
/// is kept, so another process sharing the cache keeps what it just used.
pub fn spawn(
    engine: Arc<Engine>,
    api: Api<Application>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            collect_once(&engine, &api, interval).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(value: serde_json::Value) -> Application {
        serde_json::from_value(value).expect("an Application")
    }

    #[test]
    fn references_name_repositories_and_the_commits_status_holds() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let c = "c".repeat(40);
        let d = "d".repeat(40);
        let e = "e".repeat(40);
        let apps = [
            app(serde_json::json!({
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Application",
                "metadata": {"name": "web", "namespace": "tether",
                    "annotations": {tether_model::ROLLBACK_ANNOTATION: e}},
                "spec": {
                    "source": {"repoURL": "https://git.example/team/deploy.git", "path": "web"},
                    "destination": {"namespace": "web"}
                },
                "status": {
                    "sync": {"status": "Synced", "revision": a},
                    "operationState": {"phase": "Succeeded", "revision": b, "startedAt": "2026-01-01T00:00:00Z"},
                    "rollback": {"revision": c, "heldHead": d, "since": "2026-01-01T00:00:00Z"}
                }
            })),
            // Never reconciled: its repository still counts.
            app(serde_json::json!({
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "Application",
                "metadata": {"name": "new", "namespace": "tether"},
                "spec": {
                    "source": {"repoURL": "https://git.example/team/other", "path": "x"},
                    "destination": {"namespace": "x"}
                }
            })),
        ];
        let refs = references(&apps);
        for commit in [&a, &b, &c, &d, &e] {
            assert!(refs.has_commit(commit), "{commit}");
        }
        assert!(!refs.has_commit(&"f".repeat(40)));
        assert!(refs.has_url("https://git.example/team/deploy"));
        assert!(refs.has_url("https://git.example/team/other.git"));
        assert!(!refs.has_url("https://git.example/team/gone"));
    }
}
