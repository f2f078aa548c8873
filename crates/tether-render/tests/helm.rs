//! Helm: output equals `helm template` with the same flags; CRDs, capabilities,
//! values files (inside the repository only) and errors.

mod common;

use std::ffi::OsString;

use common::*;
use serde_json::json;
use tether_model::{HelmOptions, Tool};
use tether_render::RenderError;

fn helm_source(opts: HelmOptions) -> tether_model::Source {
    let mut s = source(None);
    s.helm = Some(opts);
    s
}

#[tokio::test]
async fn values_files_and_inline_values_equal_helm_template() {
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let inline = "image: nginx:1.27\ngreeting: \"inline wins\"\n";
    let src = helm_source(HelmOptions {
        value_files: vec!["values-prod.yaml".into(), "../../env/shared.yaml".into()],
        values: Some(inline.into()),
        ..Default::default()
    });
    let api_versions = vec!["apps/v1".to_string(), "tether.dev/v1alpha1".to_string()];
    let out = render_with(
        &renderer(),
        t.path(),
        "charts/web",
        &src,
        Some("shop"),
        Some("v1.35.0"),
        &api_versions,
    )
    .await
    .unwrap();
    assert_eq!(out.tool, Tool::Helm);

    let chart = t.path().join("charts/web");
    let homes = tempfile::tempdir().unwrap();
    let inline_file = homes.path().join("inline.yaml");
    std::fs::write(&inline_file, inline).unwrap();
    let args: Vec<OsString> = vec![
        "template".into(),
        "web".into(),
        chart.clone().into(),
        "--namespace".into(),
        "shop".into(),
        "--values".into(),
        chart.join("values-prod.yaml").into(),
        "--values".into(),
        t.path().join("env/shared.yaml").into(),
        "--values".into(),
        inline_file.into(),
        "--include-crds".into(),
        "--kube-version".into(),
        "v1.35.0".into(),
        "--api-versions".into(),
        "apps/v1".into(),
        "--api-versions".into(),
        "tether.dev/v1alpha1".into(),
    ];
    let env = [
        ("HELM_CACHE_HOME", homes.path().join("c")),
        ("HELM_CONFIG_HOME", homes.path().join("f")),
        ("HELM_DATA_HOME", homes.path().join("d")),
    ];
    let expected = parse_stream(&run("helm", &args, &env));
    assert_eq!(objects(&out), expected);

    // And the values really came through, in order.
    let by_kind = |k: &str| {
        out.manifests
            .iter()
            .find(|m| m.object["kind"] == k)
            .unwrap()
            .clone()
    };
    let deploy = by_kind("Deployment");
    assert_eq!(deploy.object["spec"]["replicas"], json!(3));
    assert_eq!(deploy.object["metadata"]["namespace"], json!("shop"));
    let pod = &deploy.object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(pod["image"], json!("nginx:1.27"));
    assert_eq!(pod["ports"][0]["containerPort"], json!(8080));
    let cm = by_kind("ConfigMap");
    assert_eq!(cm.object["data"]["greeting"], json!("inline wins"));
    assert_eq!(cm.object["data"]["hasTether"], json!("yes"));
    assert_eq!(
        deploy.origin,
        "helm template charts/web: templates/deployment.yaml"
    );
    assert_eq!(
        by_kind("CustomResourceDefinition").origin,
        "helm template charts/web: crds/widget.yaml"
    );
}

#[tokio::test]
async fn skip_crds_on_and_off() {
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let r = renderer();
    let with = render(
        &r,
        t.path(),
        "charts/web",
        &helm_source(HelmOptions::default()),
    )
    .await
    .unwrap();
    assert!(names(&with).contains(&"CustomResourceDefinition/widgets.example.com".to_string()));
    let without = render(
        &r,
        t.path(),
        "charts/web",
        &helm_source(HelmOptions {
            skip_crds: true,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let n = names(&without);
    assert!(
        !n.iter().any(|n| n.starts_with("CustomResourceDefinition")),
        "{n:?}"
    );
    assert_eq!(n.len(), with.manifests.len() - 1);
}

#[tokio::test]
async fn kube_version_and_release_name_pass_through() {
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let r = renderer();
    for v in ["v1.35.0", "v1.30.2"] {
        let out = render_with(
            &r,
            t.path(),
            "charts/web",
            &helm_source(HelmOptions {
                release_name: Some("shop".into()),
                ..Default::default()
            }),
            None,
            Some(v),
            &[],
        )
        .await
        .unwrap();
        let cm = out
            .manifests
            .iter()
            .find(|m| m.object["kind"] == "ConfigMap")
            .unwrap();
        assert_eq!(cm.object["metadata"]["name"], json!("shop-info"));
        assert_eq!(cm.object["data"]["kubeVersion"], json!(v));
        assert!(cm.object["data"].get("hasTether").is_none());
    }
}

#[tokio::test]
async fn values_files_must_stay_inside_the_repository() {
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let r = renderer();
    for vf in ["../../../etc/passwd", "/etc/passwd"] {
        let err = render(
            &r,
            t.path(),
            "charts/web",
            &helm_source(HelmOptions {
                value_files: vec![vf.into()],
                ..Default::default()
            }),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, RenderError::PathEscapes { .. }),
            "{vf}: {err}"
        );
    }
    // A symlinked values file that leads out is caught too.
    std::os::unix::fs::symlink("/etc/hostname", t.path().join("charts/web/host.yaml")).unwrap();
    let err = render(
        &r,
        t.path(),
        "charts/web",
        &helm_source(HelmOptions {
            value_files: vec!["host.yaml".into()],
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RenderError::PathEscapes { .. }), "{err}");
}

#[tokio::test]
async fn template_failure_surfaces_helm_stderr() {
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let err = render(
        &renderer(),
        t.path(),
        "charts/web",
        &helm_source(HelmOptions {
            values: Some("failOnPurpose: true\n".into()),
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    match &err {
        RenderError::Tool { tool, stderr, .. } => {
            assert_eq!(*tool, Tool::Helm);
            assert!(stderr.contains("failOnPurpose is set"), "{stderr}");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn file_dependency_is_built_from_the_repository() {
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    write(
        t.path(),
        "charts/umbrella/Chart.yaml",
        "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n- name: web\n  version: 0.1.0\n  repository: file://../web\n",
    );
    write(
        t.path(),
        "charts/umbrella/values.yaml",
        "web:\n  replicas: 5\n",
    );
    let out = render(&renderer(), t.path(), "charts/umbrella", &source(None))
        .await
        .unwrap();
    let deploy = out
        .manifests
        .iter()
        .find(|m| m.object["kind"] == "Deployment")
        .unwrap();
    assert_eq!(deploy.object["spec"]["replicas"], json!(5));
    assert_eq!(
        deploy.origin,
        "helm template charts/umbrella: charts/web/templates/deployment.yaml"
    );
    // `helm dependency build` ran on the copy, not in the checkout.
    assert!(!t.path().join("charts/umbrella/charts").exists());
    assert!(!t.path().join("charts/umbrella/Chart.lock").exists());
}
