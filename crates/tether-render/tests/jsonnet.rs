//! Jsonnet in-process: TLAs and extVars (string and code), libs, result shapes,
//! error locations, and imports that try to leave the repository.

mod common;

use common::*;
use serde_json::json;
use tether_model::{DirectoryOptions, JsonnetOptions, JsonnetVar, Tool};
use tether_render::RenderError;

fn var(name: &str, value: &str, code: bool) -> JsonnetVar {
    JsonnetVar {
        name: name.into(),
        value: value.into(),
        code,
    }
}

fn repo() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "lib/util.libsonnet",
        "{\n  configMap(name, data):: {\n    apiVersion: 'v1',\n    kind: 'ConfigMap',\n    metadata: { name: name },\n    data: data,\n  },\n}\n",
    );
    write(
        t.path(),
        "apps/js/main.jsonnet",
        r#"local util = import 'util.libsonnet';
local labels = import 'labels.libsonnet';
function(name, replicas=1)
  [
    util.configMap(name + '-env', { env: std.extVar('env'), extra: std.toString(std.extVar('extra').n) }),
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: name, labels: labels },
      spec: { replicas: replicas },
    },
    [
      { apiVersion: 'v1', kind: 'List', items: [
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: name } },
      ] },
      [],
    ],
  ]
"#,
    );
    write(t.path(), "apps/js/labels.libsonnet", "{ team: 'blue' }\n");
    write(
        t.path(),
        "apps/js/static.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: js\n",
    );
    t
}

fn js_source(opts: JsonnetOptions) -> tether_model::Source {
    let mut s = source(None);
    s.jsonnet = Some(opts);
    s
}

fn full_opts() -> JsonnetOptions {
    JsonnetOptions {
        tlas: vec![var("name", "web", false), var("replicas", "1 + 2", true)],
        ext_vars: vec![
            var("env", "prod", false),
            var("extra", "{ n: 40 + 2 }", true),
        ],
        libs: vec!["lib".into()],
    }
}

#[tokio::test]
async fn tlas_ext_vars_and_libs() {
    let t = repo();
    let out = render(&renderer(), t.path(), "apps/js", &js_source(full_opts()))
        .await
        .unwrap();
    assert_eq!(out.tool, Tool::Jsonnet);
    assert_eq!(
        names(&out),
        [
            "ConfigMap/web-env",
            "Deployment/web",
            "ServiceAccount/web",
            "Namespace/js"
        ]
    );
    let m = &out.manifests;
    assert_eq!(m[0].object["data"], json!({"env": "prod", "extra": "42"}));
    assert_eq!(m[1].object["spec"]["replicas"], json!(3));
    assert_eq!(m[1].object["metadata"]["labels"], json!({"team": "blue"}));
    assert_eq!(m[0].origin, "apps/js/main.jsonnet (item 1)");
    assert_eq!(m[2].origin, "apps/js/main.jsonnet (item 3) (item 1)");
    assert_eq!(m[3].origin, "apps/js/static.yaml:1");
}

#[tokio::test]
async fn a_single_object_result_and_recurse() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "app/one.jsonnet",
        "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' }, data: { n: std.toString(0.5 * 4) } }\n",
    );
    write(
        t.path(),
        "app/sub/two.jsonnet",
        "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'two' } }\n",
    );
    let r = renderer();
    let flat = render(&r, t.path(), "app", &source(None)).await.unwrap();
    assert_eq!(names(&flat), ["ConfigMap/one"]);
    assert_eq!(flat.manifests[0].origin, "app/one.jsonnet");
    assert_eq!(flat.manifests[0].object["data"]["n"], json!("2"));
    let mut src = source(Some(Tool::Jsonnet));
    src.directory = Some(DirectoryOptions {
        recurse: true,
        ..Default::default()
    });
    let deep = render(&r, t.path(), "app", &src).await.unwrap();
    assert_eq!(names(&deep), ["ConfigMap/one", "ConfigMap/two"]);
}

#[tokio::test]
async fn missing_tla_and_runtime_errors_name_file_and_location() {
    let t = repo();
    // Without the TLA `name`, evaluation fails.
    let no_tlas = JsonnetOptions {
        tlas: vec![],
        ..full_opts()
    };
    let err = render(&renderer(), t.path(), "apps/js", &js_source(no_tlas))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::Jsonnet { file, .. } if file == "apps/js/main.jsonnet"),
        "{err}"
    );

    write(
        t.path(),
        "apps/bad/main.jsonnet",
        "local x = { a: 1 };\n{\n  apiVersion: 'v1',\n  kind: 'ConfigMap',\n  metadata: { name: x.missing },\n}\n",
    );
    let err = render(&renderer(), t.path(), "apps/bad", &source(None))
        .await
        .unwrap_err();
    match &err {
        RenderError::Jsonnet { file, message } => {
            assert_eq!(file, "apps/bad/main.jsonnet");
            assert!(message.contains("missing"), "{message}");
            // jrsonnet's location text, with the path relative to the repository.
            assert!(message.contains("apps/bad/main.jsonnet:5"), "{message}");
        }
        other => panic!("{other}"),
    }

    write(t.path(), "apps/syntax/main.jsonnet", "{ a: }\n");
    let err = render(&renderer(), t.path(), "apps/syntax", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::Jsonnet { message, .. } if message.contains("apps/syntax/main.jsonnet:1")),
        "{err}"
    );
}

#[tokio::test]
async fn result_that_is_not_an_object_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "a/main.jsonnet",
        "[{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }, 'oops']\n",
    );
    let err = render(&renderer(), t.path(), "a", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::NotAnObject { origin, .. } if origin == "a/main.jsonnet (item 2)"),
        "{err}"
    );
}

#[tokio::test]
async fn imports_cannot_leave_the_repository() {
    let t = tempfile::tempdir().unwrap();
    let cases = [
        "importstr '/etc/hostname'",
        "import '../../../../../../../../etc/hostname'",
        "local l = import 'lib.libsonnet'; l",
    ];
    // The lib itself reaches out: caught when the import chain is followed.
    write(t.path(), "a/lib.libsonnet", "importstr '/etc/passwd'\n");
    for (i, code) in cases.iter().enumerate() {
        write(t.path(), "a/main.jsonnet", &format!("{{ x: {code} }}\n"));
        let r = renderer();
        let err = render(&r, t.path(), "a", &source(None)).await.unwrap_err();
        assert!(
            matches!(err, RenderError::PathEscapes { .. }),
            "case {i}: {err}"
        );
    }
    // Code given as a TLA cannot import from outside either.
    write(
        t.path(),
        "a/main.jsonnet",
        "function(x) { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { x: x } }\n",
    );
    let src = js_source(JsonnetOptions {
        tlas: vec![var("x", "importstr '/etc/hostname'", true)],
        ..Default::default()
    });
    let err = render(&renderer(), t.path(), "a", &src).await.unwrap_err();
    assert!(matches!(err, RenderError::PathEscapes { .. }), "{err}");
    // Libs must be inside the repository.
    let src = js_source(JsonnetOptions {
        libs: vec!["../outside".into()],
        ..Default::default()
    });
    let err = render(&renderer(), t.path(), "a", &src).await.unwrap_err();
    assert!(matches!(err, RenderError::PathEscapes { .. }), "{err}");
}

#[tokio::test]
async fn deep_recursion_is_an_error_not_a_crash() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "a/main.jsonnet",
        "local f(n) = if n == 0 then 0 else 1 + f(n - 1);\n{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { n: std.toString(f(100000)) } }\n",
    );
    let err = render(&renderer(), t.path(), "a", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::Jsonnet { message, .. } if message.contains("stack overflow")),
        "{err}"
    );
}
