//! Path escapes, symlinks out of the checkout, oversized files and YAML alias
//! bombs: each is refused with an error that names the culprit.

mod common;

use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use common::*;
use tether_model::Tool;
use tether_render::{RenderError, Renderer, RendererConfig};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n";

#[tokio::test]
async fn paths_outside_the_repository_are_refused() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "apps/web/cm.yaml", CM);
    let r = renderer();
    for path in ["../x", "apps/../../x", "/etc", "apps/web/../../.."] {
        let err = render(&r, t.path(), path, &source(None)).await.unwrap_err();
        assert!(
            matches!(err, RenderError::PathEscapes { .. }),
            "{path}: {err}"
        );
    }
    let err = render(&r, t.path(), "apps/nope", &source(None))
        .await
        .unwrap_err();
    assert!(matches!(err, RenderError::PathNotFound { .. }), "{err}");
    let err = render(&r, t.path(), "apps/web/cm.yaml", &source(None))
        .await
        .unwrap_err();
    assert!(matches!(err, RenderError::PathNotFound { .. }), "{err}");
}

#[tokio::test]
async fn a_symlinked_app_directory_leading_out_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "apps/web/cm.yaml", CM);
    symlink("/etc", t.path().join("apps/etc")).unwrap();
    let err = render(&renderer(), t.path(), "apps/etc", &source(None))
        .await
        .unwrap_err();
    match err {
        RenderError::PathEscapes { path, .. } => assert_eq!(path, "apps/etc"),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn symlinks_inside_the_tree_leading_out_are_refused_and_named() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "apps/web/cm.yaml", CM);
    symlink("/etc/passwd", t.path().join("apps/web/passwd.yaml")).unwrap();
    let err = render(&renderer(), t.path(), "apps/web", &source(None))
        .await
        .unwrap_err();
    match &err {
        RenderError::PathEscapes { path, detail } => {
            assert_eq!(path, "apps/web/passwd.yaml");
            assert!(detail.contains("/etc/passwd"), "{detail}");
        }
        other => panic!("{other}"),
    }

    // A directory link (even a dangling one) out of the checkout is refused for
    // Kustomize, which sees the whole repository.
    let k = tempfile::tempdir().unwrap();
    kustomize_repo(k.path());
    symlink("/nonexistent/secret", k.path().join("docs-link")).unwrap();
    let err = render(&renderer(), k.path(), "overlays/dev", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::PathEscapes { path, .. } if path == "docs-link"),
        "{err}"
    );
}

#[tokio::test]
async fn symlinks_inside_the_repository_are_followed() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "shared/cm.yaml", CM);
    write(
        t.path(),
        "apps/web/sa.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: s\n",
    );
    symlink("../../shared/cm.yaml", t.path().join("apps/web/cm.yaml")).unwrap();
    // A loop back up the tree is not walked forever.
    symlink("..", t.path().join("apps/web/loop")).unwrap();
    let mut src = source(None);
    src.directory = Some(tether_model::DirectoryOptions {
        recurse: true,
        ..Default::default()
    });
    let out = render(&renderer(), t.path(), "apps/web", &src)
        .await
        .unwrap();
    assert_eq!(names(&out), ["ConfigMap/c", "ServiceAccount/s"]);
}

#[tokio::test]
async fn files_over_the_limit_are_refused() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "apps/web/cm.yaml", CM);
    let big = format!("{CM}data:\n  blob: \"{}\"\n", "x".repeat(5000));
    write(t.path(), "apps/web/big.yaml", &big);
    let r = Renderer::new(RendererConfig {
        max_file_size: 4096,
        ..Default::default()
    });
    let err = render(&r, t.path(), "apps/web", &source(None))
        .await
        .unwrap_err();
    match &err {
        RenderError::FileTooLarge { file, size, limit } => {
            assert_eq!(file, "apps/web/big.yaml");
            assert_eq!(*size, big.len() as u64);
            assert_eq!(*limit, 4096);
        }
        other => panic!("{other}"),
    }

    // Under a Helm chart too (helm would read it into memory).
    let h = tempfile::tempdir().unwrap();
    helm_repo(h.path());
    write(h.path(), "charts/web/files/blob.txt", &"y".repeat(5000));
    let err = render(&r, h.path(), "charts/web", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::FileTooLarge { file, .. } if file == "charts/web/files/blob.txt"),
        "{err}"
    );
}

#[tokio::test]
async fn tool_output_over_the_limit_is_refused() {
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let r = Renderer::new(RendererConfig {
        max_output_size: 512,
        ..Default::default()
    });
    let err = render(&r, t.path(), "charts/web", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::FileTooLarge { file, limit: 512, .. } if file.contains("helm template")),
        "{err}"
    );
}

/// The classic billion laughs: 9 levels of 9 aliases, 9^9 strings if expanded.
fn billion_laughs() -> String {
    let mut s = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n");
    s.push_str(
        "  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let levels = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in levels.windows(2) {
        let (prev, cur) = (w[0], w[1]);
        let refs = vec![format!("*{prev}"); 9].join(",");
        s.push_str(&format!("  {cur}: &{cur} [{refs}]\n"));
    }
    s
}

#[tokio::test]
async fn billion_laughs_fails_fast() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "apps/lol/bomb.yaml", &billion_laughs());
    let started = Instant::now();
    let err = render(&renderer(), t.path(), "apps/lol", &source(None))
        .await
        .unwrap_err();
    let took = started.elapsed();
    match &err {
        RenderError::Yaml { file, message, .. } => {
            assert_eq!(file, "apps/lol/bomb.yaml");
            assert!(message.contains("alias"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn billion_laughs_in_tool_output_fails_too() {
    // Helm refuses aliasing in templates but copies crds/ verbatim; the same
    // budget applies to tool output.
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "c/Chart.yaml",
        "apiVersion: v2\nname: c\nversion: 0.1.0\n",
    );
    write(t.path(), "c/crds/bomb.yaml", &billion_laughs());
    let err = render(&renderer(), t.path(), "c", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::Yaml { file, .. } if file.starts_with("helm template c: crds/bomb.yaml")),
        "{err}"
    );
}

#[tokio::test]
async fn tool_override_wins_over_detection() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "app/kustomization.yaml", "resources: [cm.yaml]\n");
    write(t.path(), "app/cm.yaml", CM);
    let out = render(&renderer(), t.path(), "app", &source(Some(Tool::Directory)))
        .await
        .unwrap_err();
    // As a plain directory, the kustomization itself is not an object.
    assert!(matches!(out, RenderError::NotAnObject { .. }), "{out}");
}

#[tokio::test]
async fn missing_tool_is_reported() {
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let r = Renderer::with_search_path(
        RendererConfig::default(),
        std::ffi::OsStr::new("/nonexistent"),
    );
    let err = render(&r, t.path(), "charts/web", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::ToolMissing {
                tool: Tool::Helm,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn slow_tool_times_out() {
    let bin = tempfile::tempdir().unwrap();
    let helm = bin.path().join("helm");
    std::fs::write(&helm, "#!/bin/sh\nsleep 30\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let t = tempfile::tempdir().unwrap();
    helm_repo(t.path());
    let r = Renderer::with_search_path(
        RendererConfig {
            timeout: Duration::from_millis(300),
            ..Default::default()
        },
        bin.path().as_os_str(),
    );
    let started = Instant::now();
    let err = render(&r, t.path(), "charts/web", &source(None))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::Timeout {
                tool: Tool::Helm,
                ..
            }
        ),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A tool runs with an empty HOME of its own, outside the repository's copy
/// (a committed `.gitconfig` could otherwise configure the git that Kustomize
/// runs for remote bases), git locked to network transports, and none of the
/// agent's environment.
#[tokio::test]
async fn a_tool_sees_its_own_empty_home_and_no_local_git_transport() {
    let bin = tempfile::tempdir().unwrap();
    let kustomize = bin.path().join("kustomize");
    std::fs::write(
        &kustomize,
        "#!/bin/sh\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: env}\\ndata: {home: \"%s\", cwd: \"%s\", git: \"%s\", global: \"%s\", files: \"%s\"}\\n' \"$HOME\" \"$PWD\" \"$GIT_ALLOW_PROTOCOL\" \"$GIT_CONFIG_GLOBAL\" \"$(ls -A \"$HOME\")\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&kustomize, std::fs::Permissions::from_mode(0o755)).unwrap();
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "app/kustomization.yaml", "resources: []\n");
    write(t.path(), ".gitconfig", "[core]\n\thooksPath = app\n");
    let r = Renderer::with_search_path(RendererConfig::default(), bin.path().as_os_str());
    let out = render(&r, t.path(), "app", &source(None)).await.unwrap();
    let data = &out.manifests[0].object["data"];
    let (home, cwd) = (
        data["home"].as_str().unwrap(),
        data["cwd"].as_str().unwrap(),
    );
    assert!(
        !home.is_empty() && !home.starts_with(cwd),
        "HOME {home} is not the copy {cwd}"
    );
    assert_eq!(data["files"], "", "HOME is empty");
    assert_eq!(data["global"], "/dev/null");
    assert!(!data["git"].as_str().unwrap().contains("file"), "{data}");
}

/// Over the object limit, a render fails naming the count, the limit and the
/// flag, whatever the tool; at the limit it passes.
#[tokio::test]
async fn a_render_over_the_object_limit_fails_naming_the_flag() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "app/a.yaml", CM);
    write(
        t.path(),
        "app/b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n",
    );
    let limited = |max_objects| {
        Renderer::new(RendererConfig {
            max_objects,
            ..Default::default()
        })
    };
    let ok = render(&limited(2), t.path(), "app", &source(None))
        .await
        .unwrap();
    assert_eq!(ok.manifests.len(), 2);
    let e = render(&limited(1), t.path(), "app", &source(None))
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "TooManyObjects");
    let text = e.to_string();
    for part in ["2 objects", "limit of 1", "--max-objects-per-app"] {
        assert!(text.contains(part), "{text}");
    }
}
