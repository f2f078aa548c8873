//! `tether_app_info{namespace,name,repo,path,sync,health} 1`, one per Application,
//! read from the server's watch of the Applications at each scrape, as Argo CD's
//! `argocd_app_info`.

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tether_model::Application;

use crate::ServerContext;

type Labels = Vec<(&'static str, String)>;

/// The labels of one app: its place, its source, and its sync and health status
/// (`Unknown` before the agent has looked).
pub fn labels(app: &Application) -> Labels {
    let status = app.status.as_ref();
    let sync = status
        .and_then(|s| s.sync.as_ref())
        .map(|s| as_text(&s.status))
        .unwrap_or_else(|| "Unknown".into());
    let health = status
        .and_then(|s| s.health.as_ref())
        .map(|h| as_text(&h.status))
        .unwrap_or_else(|| "Unknown".into());
    vec![
        (
            "namespace",
            app.metadata.namespace.clone().unwrap_or_default(),
        ),
        ("name", app.metadata.name.clone().unwrap_or_default()),
        ("repo", tether_source::redact_url(&app.spec.source.repo_url)),
        ("path", app.spec.source.path.clone().unwrap_or_default()),
        ("sync", sync),
        ("health", health),
    ]
}

/// A status code as the Application's status writes it (`Synced`, `OutOfSync`).
fn as_text(code: &impl serde::Serialize) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "Unknown".into(),
    }
}

/// Append `tether_app_info` for every Application to `out`.
pub async fn encode(ctx: &ServerContext, out: &mut String) -> Result<(), String> {
    let apps = ctx.apps();
    if !apps.is_ready() {
        return Err("the Applications are still being listed".into());
    }
    let info = Family::<Labels, Gauge>::default();
    for app in apps.snapshot() {
        info.get_or_create(&labels(&app)).set(1);
    }
    let mut registry = Registry::default();
    registry.register(
        "tether_app_info",
        "One per Application: where it comes from and its sync and health status",
        info,
    );
    prometheus_client::encoding::text::encode_registry(out, &registry)
        .map_err(|e| format!("encoding: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_label() {
        assert_eq!(
            tether_source::redact_url("https://bot:s3cret@git.example/org/r.git"),
            "https://bot@git.example/org/r.git"
        );
        assert_eq!(
            tether_source::redact_url("https://git.example/a@b"),
            "https://git.example/a@b"
        );
        assert_eq!(
            tether_source::redact_url("git@github.com:org/r"),
            "git@github.com:org/r"
        );
        let app: Application = serde_json::from_value(serde_json::json!({
            "apiVersion": "tether.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "tether"},
            "spec": {"source": {"repoURL": "https://x:tok@h/r", "path": "app"}}
        }))
        .unwrap();
        let l = labels(&app);
        assert!(l.contains(&("repo", "https://x@h/r".to_owned())), "{l:?}");
        assert!(l.contains(&("sync", "Unknown".to_owned())), "{l:?}");
    }
}
