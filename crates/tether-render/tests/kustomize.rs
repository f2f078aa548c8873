//! Kustomize: the output must equal `kubectl kustomize` on the same directory;
//! Application options go through a wrapper kustomization; errors carry stderr.

mod common;

use common::*;
use serde_json::json;
use tether_model::{KustomizeOptions, Tool};
use tether_render::RenderError;

fn kubectl_kustomize(dir: &std::path::Path) -> Vec<serde_json::Value> {
    parse_stream(&run("kubectl", &["kustomize".into(), dir.into()], &[]))
}

#[tokio::test]
async fn base_and_overlays_equal_kubectl_kustomize() {
    let t = tempfile::tempdir().unwrap();
    kustomize_repo(t.path());
    let r = renderer();
    for path in ["base", "overlays/dev", "overlays/prod"] {
        let out = render(&r, t.path(), path, &source(None)).await.unwrap();
        assert_eq!(out.tool, Tool::Kustomize);
        let expected = kubectl_kustomize(&t.path().join(path));
        assert!(!expected.is_empty());
        assert_eq!(objects(&out), expected, "{path}");
        assert_eq!(
            out.manifests[1].origin,
            format!("kustomize build {path} (document 2)")
        );
    }
    // The overlays really differ (so equality above is not vacuous).
    let dev = render(&r, t.path(), "overlays/dev", &source(None))
        .await
        .unwrap();
    let prod = render(&r, t.path(), "overlays/prod", &source(None))
        .await
        .unwrap();
    assert!(
        names(&dev).contains(&"Deployment/dev-web".to_string()),
        "{:?}",
        names(&dev)
    );
    assert!(names(&prod).contains(&"PodDisruptionBudget/web".to_string()));
    let deploy = prod
        .manifests
        .iter()
        .find(|m| m.object["kind"] == "Deployment")
        .unwrap();
    assert_eq!(deploy.object["metadata"]["namespace"], "prod");
    assert_eq!(
        deploy.object["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    // The checkout is untouched: no wrapper or output left behind.
    assert!(std::fs::read_dir(t.path()).unwrap().count() == 2);
}

#[tokio::test]
async fn options_images_prefix_and_namespace_are_applied() {
    let t = tempfile::tempdir().unwrap();
    kustomize_repo(t.path());
    let mut src = source(None);
    src.kustomize = Some(KustomizeOptions {
        images: vec!["nginx=registry.local/mirror/nginx:1.27.1".into()],
        name_prefix: Some("opt-".into()),
        namespace: Some("opts".into()),
    });
    let out = render(&renderer(), t.path(), "overlays/dev", &src)
        .await
        .unwrap();
    let n = names(&out);
    assert!(n.contains(&"Deployment/opt-dev-web".to_string()), "{n:?}");
    for m in out.manifests.iter() {
        assert_eq!(m.object["metadata"]["namespace"], "opts", "{}", m.origin);
    }
    let deploy = out
        .manifests
        .iter()
        .find(|m| m.object["kind"] == "Deployment")
        .unwrap();
    let pod = &deploy.object["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"],
        json!("registry.local/mirror/nginx:1.27.1")
    );
    // Name references follow the prefix, as kustomize does them.
    let cm = out
        .manifests
        .iter()
        .find(|m| m.object["kind"] == "ConfigMap")
        .unwrap();
    let cm_name = cm.object["metadata"]["name"].as_str().unwrap();
    assert!(cm_name.starts_with("opt-dev-web-config-"), "{cm_name}");
    assert_eq!(pod["volumes"][0]["configMap"]["name"], json!(cm_name));

    // Tag-only and digest forms.
    src.kustomize = Some(KustomizeOptions {
        images: vec![
            "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
        ],
        ..Default::default()
    });
    let out = render(&renderer(), t.path(), "base", &src).await.unwrap();
    let deploy = out
        .manifests
        .iter()
        .find(|m| m.object["kind"] == "Deployment")
        .unwrap();
    assert_eq!(
        deploy.object["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000")
    );
}

#[tokio::test]
async fn options_on_the_repository_root() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "kustomization.yaml", "resources:\n- cm.yaml\n");
    write(
        t.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    );
    let mut src = source(None);
    src.kustomize = Some(KustomizeOptions {
        name_prefix: Some("p-".into()),
        ..Default::default()
    });
    let out = render(&renderer(), t.path(), "", &src).await.unwrap();
    assert_eq!(names(&out), ["ConfigMap/p-c"]);
}

#[tokio::test]
async fn kustomize_error_surfaces_stderr() {
    let t = tempfile::tempdir().unwrap();
    kustomize_repo(t.path());
    write(
        t.path(),
        "overlays/broken/kustomization.yaml",
        "resources:\n- ../../base\n- missing-file.yaml\n",
    );
    let err = render(&renderer(), t.path(), "overlays/broken", &source(None))
        .await
        .unwrap_err();
    match &err {
        RenderError::Tool {
            tool,
            command,
            stderr,
            ..
        } => {
            assert_eq!(*tool, Tool::Kustomize);
            assert!(command.contains("overlays/broken"), "{command}");
            assert!(stderr.contains("missing-file.yaml"), "{stderr}");
            // Temp paths are scrubbed: the user sees repository paths.
            assert!(!stderr.contains("tether-kustomize-"), "{stderr}");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn bad_image_option_is_refused() {
    let t = tempfile::tempdir().unwrap();
    kustomize_repo(t.path());
    let mut src = source(None);
    src.kustomize = Some(KustomizeOptions {
        images: vec!["=nothing:1".into()],
        ..Default::default()
    });
    let err = render(&renderer(), t.path(), "base", &src)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no image name"), "{err}");
}
