//! Plain directories: multi-document YAML, JSON, `List` expansion, recurse,
//! include/exclude, and the errors users see for bad files.

mod common;

use common::*;
use serde_json::json;
use tether_model::{DirectoryOptions, Tool};
use tether_render::{RenderError, detect_tool};

fn repo() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(
        root,
        "apps/web/b-deploy.yaml",
        "# leading comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\nspec:\n  replicas: 2\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: demo\n",
    );
    write(
        root,
        "apps/web/a-list.yml",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: one\n  data:\n    mode: 0644\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: two\n",
    );
    write(
        root,
        "apps/web/c.json",
        r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}"#,
    );
    write(root, "apps/web/README.md", "not a manifest\n");
    write(root, "apps/web/.hidden.yaml", "this: is not read\n");
    write(
        root,
        "apps/web/sub/d.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: deep\n",
    );
    write(
        root,
        "apps/web/sub/skip-me.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: skipped\n",
    );
    write(root, "apps/web/.git-like/x.yaml", "broken: [\n");
    t
}

fn dir_source(opts: DirectoryOptions) -> tether_model::Source {
    let mut s = source(None);
    s.directory = Some(opts);
    s
}

#[tokio::test]
async fn multi_document_list_and_json_in_name_order() {
    let t = repo();
    let r = renderer();
    let out = render(&r, t.path(), "apps/web", &source(None))
        .await
        .unwrap();
    assert_eq!(out.tool, Tool::Directory);
    assert_eq!(
        names(&out),
        [
            "ConfigMap/one",
            "ConfigMap/two",
            "Deployment/web",
            "Service/web",
            "Secret/s"
        ]
    );
    let origins: Vec<&str> = out.manifests.iter().map(|m| m.origin.as_str()).collect();
    assert_eq!(
        origins,
        [
            "apps/web/a-list.yml:1 (item 1)",
            "apps/web/a-list.yml:1 (item 2)",
            "apps/web/b-deploy.yaml:3",
            "apps/web/b-deploy.yaml:14",
            "apps/web/c.json:1",
        ]
    );
    // YAML 1.1 octal, as Kubernetes reads it.
    assert_eq!(out.manifests[0].object["data"]["mode"], json!(420));
    assert_eq!(out.manifests[2].object["spec"]["replicas"], json!(2));
}

#[tokio::test]
async fn recurse_includes_subdirectories_only_when_asked() {
    let t = repo();
    let r = renderer();
    let flat = render(
        &r,
        t.path(),
        "apps/web",
        &dir_source(DirectoryOptions::default()),
    )
    .await
    .unwrap();
    assert!(!names(&flat).contains(&"ServiceAccount/deep".to_string()));
    let deep = render(
        &r,
        t.path(),
        "apps/web",
        &dir_source(DirectoryOptions {
            recurse: true,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let n = names(&deep);
    assert!(n.contains(&"ServiceAccount/deep".to_string()), "{n:?}");
    assert!(n.contains(&"ServiceAccount/skipped".to_string()), "{n:?}");
    // Sorted walk: the subdirectory comes after c.json and before nothing else.
    assert_eq!(n.last().unwrap(), "ServiceAccount/skipped");
}

#[tokio::test]
async fn include_and_exclude_globs_are_relative_to_the_path() {
    let t = repo();
    let r = renderer();
    let out = render(
        &r,
        t.path(),
        "apps/web",
        &dir_source(DirectoryOptions {
            recurse: true,
            include: vec!["*.yaml".into(), "{c.json}".into()],
            exclude: vec!["sub/skip-*".into()],
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        names(&out),
        [
            "Deployment/web",
            "Service/web",
            "Secret/s",
            "ServiceAccount/deep"
        ]
    );
}

#[tokio::test]
async fn invalid_yaml_names_file_and_line() {
    let t = repo();
    write(
        t.path(),
        "apps/web/e-bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata: [unclosed\n",
    );
    let r = renderer();
    let err = render(&r, t.path(), "apps/web", &source(None))
        .await
        .unwrap_err();
    match &err {
        RenderError::Yaml { file, line, .. } => {
            assert_eq!(file, "apps/web/e-bad.yaml");
            assert_eq!(*line, 10, "{err}");
        }
        other => panic!("expected a YAML error, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("apps/web/e-bad.yaml") && msg.contains("line 10"),
        "{msg}"
    );
}

#[tokio::test]
async fn invalid_json_names_file_and_line() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "x.json",
        "{\n  \"apiVersion\": \"v1\",\n  \"kind\": }\n",
    );
    let err = render(&renderer(), t.path(), "", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::Yaml { file, line: 3, .. } if file == "x.json"),
        "{err}"
    );
}

#[tokio::test]
async fn a_document_that_is_not_an_object_is_refused_with_its_position() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {}\n",
    );
    let err = render(&renderer(), t.path(), ".", &source(None))
        .await
        .unwrap_err();
    match &err {
        RenderError::NotAnObject { origin, detail } => {
            assert_eq!(origin, "a.yaml:6");
            assert!(detail.contains("metadata.name"), "{detail}");
        }
        other => panic!("{other}"),
    }
    let t2 = tempfile::tempdir().unwrap();
    write(t2.path(), "a.yaml", "- 1\n- 2\n");
    let err = render(&renderer(), t2.path(), "", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::NotAnObject { origin, detail } if origin == "a.yaml:1" && detail.contains("list")),
        "{err}"
    );
}

#[tokio::test]
async fn duplicate_across_files_names_both_origins() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "a.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\n",
    );
    write(
        t.path(),
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\napiVersion: apps/v1beta1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\n",
    );
    let err = render(&renderer(), t.path(), "", &source(None))
        .await
        .unwrap_err();
    match &err {
        RenderError::Duplicate {
            object,
            first,
            second,
        } => {
            assert_eq!(object, "Deployment.apps demo/web");
            assert_eq!(first, "a.yaml:1");
            assert_eq!(second, "b.yaml:6");
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        err.to_string(),
        "duplicate object Deployment.apps demo/web: first in a.yaml:1, again in b.yaml:6"
    );
}

#[tokio::test]
async fn empty_directory_renders_nothing() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "apps/empty/notes.txt", "nothing here\n");
    let out = render(&renderer(), t.path(), "apps/empty", &source(None))
        .await
        .unwrap();
    assert!(out.manifests.is_empty());
}

#[test]
fn tool_detection_follows_argo() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(root, "k/kustomization.yml", "resources: []\n");
    write(root, "k2/Kustomization", "resources: []\n");
    write(root, "h/Chart.yaml", "name: x\n");
    write(root, "kh/Chart.yaml", "name: x\n");
    write(root, "kh/kustomization.yaml", "resources: []\n");
    write(root, "j/main.jsonnet", "{}\n");
    write(root, "d/a.yaml", "{}\n");
    assert_eq!(detect_tool(&root.join("k")), Tool::Kustomize);
    assert_eq!(detect_tool(&root.join("k2")), Tool::Kustomize);
    assert_eq!(detect_tool(&root.join("h")), Tool::Helm);
    assert_eq!(detect_tool(&root.join("kh")), Tool::Kustomize);
    assert_eq!(detect_tool(&root.join("j")), Tool::Jsonnet);
    assert_eq!(detect_tool(&root.join("d")), Tool::Directory);
}
