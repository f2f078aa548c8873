//! The render cache: an unchanged input is never rendered twice (tool runs are
//! counted by wrapper scripts around the real binaries), a changed one is.

mod common;

use common::*;
use tether_model::HelmOptions;
use tether_render::RendererConfig;

#[tokio::test]
async fn helm_second_render_is_a_hit_and_runs_no_tool() {
    let tools = CountingTools::new();
    let r = tools.renderer(RendererConfig::default());
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let src = source(None);

    let first = render(&r, t.path(), "charts/web", &src).await.unwrap();
    assert!(!first.cache_hit);
    assert_eq!(tools.runs(), 1);
    let second = render(&r, t.path(), "charts/web", &src).await.unwrap();
    assert!(second.cache_hit);
    assert_eq!(second.key, first.key);
    assert_eq!(second.manifests, first.manifests);
    assert_eq!(tools.runs(), 1, "a hit must not run helm");
    assert_eq!(r.cache_stats(), (1, 1));

    // A new checkout of the same content (another commit touching other
    // paths) has the same key.
    let same = tempfile::tempdir().unwrap();
    copy_dir(t.path(), same.path());
    let third = render(&r, same.path(), "charts/web", &src).await.unwrap();
    assert!(third.cache_hit);
    assert_eq!(tools.runs(), 1);

    // A changed file in a new checkout is a miss.
    let changed = tempfile::tempdir().unwrap();
    copy_dir(t.path(), changed.path());
    write(
        changed.path(),
        "charts/web/values.yaml",
        "replicas: 7\nimage: nginx:1.25\nport: 80\ngreeting: hi\nfailOnPurpose: false\n",
    );
    let fourth = render(&r, changed.path(), "charts/web", &src)
        .await
        .unwrap();
    assert!(!fourth.cache_hit);
    assert_ne!(fourth.key, first.key);
    assert_eq!(tools.runs(), 2);

    // Options are part of the key.
    let mut other = source(None);
    other.helm = Some(HelmOptions {
        skip_crds: true,
        ..Default::default()
    });
    let fifth = render(&r, t.path(), "charts/web", &other).await.unwrap();
    assert!(!fifth.cache_hit);
    assert_eq!(tools.runs(), 3);
    // So is the cluster's version, for Helm.
    let sixth = render_with(
        &r,
        t.path(),
        "charts/web",
        &src,
        Some("demo"),
        Some("v1.30.0"),
        &[],
    )
    .await
    .unwrap();
    assert!(!sixth.cache_hit);
    assert_eq!(tools.runs(), 4);
    assert_eq!(r.cache_stats(), (2, 4));
}

#[tokio::test]
async fn kustomize_hit_runs_no_tool_and_a_change_outside_the_path_is_seen() {
    let tools = CountingTools::new();
    let r = tools.renderer(RendererConfig::default());
    let t = tempfile::tempdir().unwrap();
    kustomize_repo(t.path());
    let src = source(None);
    let first = render(&r, t.path(), "overlays/prod", &src).await.unwrap();
    let second = render(&r, t.path(), "overlays/prod", &src).await.unwrap();
    assert!(!first.cache_hit && second.cache_hit);
    assert_eq!(tools.runs(), 1);

    // The overlay reaches ../../base: a change there must be a miss.
    let changed = tempfile::tempdir().unwrap();
    copy_dir(t.path(), changed.path());
    write(
        changed.path(),
        "base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 81\n",
    );
    let third = render(&r, changed.path(), "overlays/prod", &src)
        .await
        .unwrap();
    assert!(!third.cache_hit);
    assert_eq!(tools.runs(), 2);
    let svc = third
        .manifests
        .iter()
        .find(|m| m.object["kind"] == "Service")
        .unwrap();
    assert_eq!(svc.object["spec"]["ports"][0]["port"], 81);
}

#[tokio::test]
async fn concurrent_renders_of_one_input_run_the_tool_once() {
    let tools = CountingTools::new();
    let r = tools.renderer(RendererConfig::default());
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let src = source(None);
    let (a, b, c) = tokio::join!(
        render(&r, t.path(), "charts/web", &src),
        render(&r, t.path(), "charts/web", &src),
        render(&r, t.path(), "charts/web", &src),
    );
    let hits = [a.unwrap(), b.unwrap(), c.unwrap()]
        .iter()
        .filter(|x| x.cache_hit)
        .count();
    assert_eq!(hits, 2);
    assert_eq!(tools.runs(), 1);
}

#[tokio::test]
async fn directory_and_jsonnet_hits() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "d/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    );
    write(
        t.path(),
        "j/main.jsonnet",
        "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'j' } }",
    );
    let r = renderer();
    for path in ["d", "j"] {
        let a = render(&r, t.path(), path, &source(None)).await.unwrap();
        let b = render(&r, t.path(), path, &source(None)).await.unwrap();
        assert!(!a.cache_hit && b.cache_hit, "{path}");
        assert!(std::sync::Arc::ptr_eq(&a.manifests, &b.manifests));
    }
    assert_eq!(r.cache_stats(), (2, 2));
}

#[tokio::test]
async fn cache_keeps_at_most_cache_entries() {
    let tools = CountingTools::new();
    let r = tools.renderer(RendererConfig {
        cache_entries: 1,
        ..Default::default()
    });
    let t = tempfile::tempdir().unwrap();
    kustomize_repo(t.path());
    let src = source(None);
    render(&r, t.path(), "overlays/dev", &src).await.unwrap();
    render(&r, t.path(), "overlays/prod", &src).await.unwrap();
    // dev was evicted by prod.
    let again = render(&r, t.path(), "overlays/dev", &src).await.unwrap();
    assert!(!again.cache_hit);
    assert_eq!(tools.runs(), 3);
}

#[tokio::test]
async fn renderer_is_shareable_and_renders_can_be_spawned() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let r = std::sync::Arc::new(renderer());
    send_sync(&*r);
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    );
    let root = t.path().to_path_buf();
    let r2 = r.clone();
    // tokio::spawn needs the render future to be Send.
    let out = tokio::spawn(async move {
        let src = source(None);
        render(&r2, &root, "", &src)
            .await
            .map(|o| o.manifests.len())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out, 1);
}

/// A chart that fails the same way every time is rendered once: retries hit
/// the cached failure, until a hard refresh asks or the input changes.
#[tokio::test]
async fn a_deterministic_failure_is_cached_until_a_hard_refresh_or_a_change() {
    let tools = CountingTools::new();
    let r = tools.renderer(RendererConfig::default());
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    write(
        t.path(),
        "charts/web/values.yaml",
        "replicas: 1\nimage: nginx:1.25\nport: 80\ngreeting: hi\nfailOnPurpose: true\n",
    );
    let src = source(None);
    let request = |hard_refresh| tether_render::RenderRequest {
        root: t.path(),
        path: "charts/web",
        source: &src,
        app_name: "web",
        namespace: None,
        kube_version: None,
        api_versions: &[],
        hard_refresh,
    };

    let first = r.render(&request(false)).await.unwrap_err();
    assert_eq!(tools.runs(), 1);
    let again = r.render(&request(false)).await.unwrap_err();
    assert_eq!(again, first, "the same error, from the cache");
    assert_eq!(tools.runs(), 1, "a cached failure runs no tool");

    let hard = r.render(&request(true)).await.unwrap_err();
    assert_eq!(hard, first);
    assert_eq!(tools.runs(), 2, "a hard refresh renders again");

    // The fix, in a new checkout: rendered, not the cached failure.
    let fixed = tempfile::tempdir().unwrap();
    copy_dir(t.path(), fixed.path());
    write(
        fixed.path(),
        "charts/web/values.yaml",
        "replicas: 1\nimage: nginx:1.25\nport: 80\ngreeting: hi\nfailOnPurpose: false\n",
    );
    let ok = render(&r, fixed.path(), "charts/web", &src).await.unwrap();
    assert!(!ok.cache_hit);
    assert_eq!(tools.runs(), 3);
}

/// A missing tool may be installed next minute: not cached.
#[tokio::test]
async fn a_missing_tool_is_not_cached() {
    let empty = tempfile::tempdir().unwrap();
    let r = tether_render::Renderer::with_search_path(
        RendererConfig::default(),
        empty.path().as_os_str(),
    );
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let src = source(None);
    for _ in 0..2 {
        let e = render(&r, t.path(), "charts/web", &src).await.unwrap_err();
        assert!(
            matches!(e, tether_render::RenderError::ToolMissing { .. }),
            "{e}"
        );
    }
    assert_eq!(r.cache_stats(), (0, 2), "both attempts ran");
}
