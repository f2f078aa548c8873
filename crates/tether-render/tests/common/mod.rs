//! Fixtures and helpers shared by the render tests. Tools are found on PATH, as
//! the renderer finds them (the Makefile puts `.tools/bin` first).
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tether_model::{Source, Tool};
use tether_render::{RenderError, RenderRequest, Rendered, Renderer, RendererConfig};

pub fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

pub fn source(tool: Option<Tool>) -> Source {
    Source {
        repo_url: "file:///repo".into(),
        tool,
        ..Default::default()
    }
}

pub async fn render(
    r: &Renderer,
    root: &Path,
    path: &str,
    src: &Source,
) -> Result<Rendered, RenderError> {
    render_with(r, root, path, src, Some("demo"), None, &[]).await
}

pub async fn render_with(
    r: &Renderer,
    root: &Path,
    path: &str,
    src: &Source,
    namespace: Option<&str>,
    kube_version: Option<&str>,
    api_versions: &[String],
) -> Result<Rendered, RenderError> {
    r.render(&RenderRequest {
        root,
        path,
        source: src,
        app_name: "web",
        namespace,
        kube_version,
        api_versions,
        hard_refresh: false,
    })
    .await
}

pub fn renderer() -> Renderer {
    Renderer::new(RendererConfig::default())
}

pub fn objects(r: &Rendered) -> Vec<Value> {
    r.manifests.iter().map(|m| m.object.clone()).collect()
}

pub fn names(r: &Rendered) -> Vec<String> {
    r.manifests
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m.object["kind"].as_str().unwrap(),
                m.object["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// Parse a tool's YAML stream the way a reader would compare it: non-empty
/// documents as JSON values.
pub fn parse_stream(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).unwrap();
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Run a command found on PATH and return stdout, panicking with stderr.
pub fn run(program: &str, args: &[OsString], env: &[(&str, PathBuf)]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{program} must be on PATH: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn which(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} must be on PATH"))
}

/// A directory holding `kubectl` and `helm` wrappers that count their runs in
/// `<dir>/count` and then exec the real binaries; put it first on a search path.
pub struct CountingTools {
    pub dir: tempfile::TempDir,
}

impl CountingTools {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for tool in ["kubectl", "helm"] {
            let real = which(tool);
            let script = format!(
                "#!/bin/sh\necho {tool} >> '{}'\nexec '{}' \"$@\"\n",
                dir.path().join("count").display(),
                real.display()
            );
            let p = dir.path().join(tool);
            std::fs::write(&p, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        CountingTools { dir }
    }

    pub fn renderer(&self, config: RendererConfig) -> Renderer {
        let mut paths = vec![self.dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let joined = std::env::join_paths(paths).unwrap();
        Renderer::with_search_path(config, &joined)
    }

    pub fn runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("count"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

/// A Kustomize repo: `base` and two overlays that reach it through `../base`.
pub fn kustomize_repo(root: &Path) {
    write(
        root,
        "base/kustomization.yaml",
        "resources:\n- deployment.yaml\n- service.yaml\nconfigMapGenerator:\n- name: web-config\n  literals:\n  - GREETING=hello\nlabels:\n- pairs:\n    app: web\n  includeSelectors: true\n",
    );
    write(
        root,
        "base/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-config
        volumeMounts:
        - name: cfg
          mountPath: /etc/web
      volumes:
      - name: cfg
        configMap:
          name: web-config
          defaultMode: 0644
"#,
    );
    write(
        root,
        "base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n    targetPort: 8080\n",
    );
    write(
        root,
        "overlays/dev/kustomization.yaml",
        "resources:\n- ../../base\nnamePrefix: dev-\nnamespace: dev\npatches:\n- target:\n    kind: Deployment\n    name: web\n  patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 2\n",
    );
    write(
        root,
        "overlays/prod/kustomization.yaml",
        "resources:\n- ../../base\n- pdb.yaml\nnamespace: prod\nimages:\n- name: nginx\n  newTag: \"1.27\"\nconfigMapGenerator:\n- name: web-config\n  behavior: merge\n  literals:\n  - GREETING=bonjour\n",
    );
    write(
        root,
        "overlays/prod/pdb.yaml",
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels:\n      app: web\n",
    );
}

/// A Helm chart at `charts/web` with a CRD, values files and templates that
/// read the release, the values and the cluster's capabilities.
pub fn helm_repo(root: &Path) {
    write(
        root,
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    );
    write(
        root,
        "charts/web/values.yaml",
        "replicas: 1\nimage: nginx:1.25\nport: 80\ngreeting: hello\nfailOnPurpose: false\n",
    );
    write(
        root,
        "charts/web/values-prod.yaml",
        "replicas: 3\ngreeting: bonjour\n",
    );
    write(root, "env/shared.yaml", "port: 8080\n");
    write(
        root,
        "charts/web/templates/deployment.yaml",
        r#"{{- if .Values.failOnPurpose }}{{ fail "failOnPurpose is set" }}{{ end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
  labels:
    chart: {{ .Chart.Name }}-{{ .Chart.Version }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
        ports:
        - containerPort: {{ .Values.port }}
"#,
    );
    write(
        root,
        "charts/web/templates/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector:\n    app: {{ .Release.Name }}\n  ports:\n  - port: {{ .Values.port }}\n",
    );
    write(
        root,
        "charts/web/templates/configmap.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-info
data:
  greeting: {{ .Values.greeting | quote }}
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  {{- if .Capabilities.APIVersions.Has "tether.dev/v1alpha1" }}
  hasTether: "yes"
  {{- end }}
"#,
    );
    write(
        root,
        "charts/web/crds/widget.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names:\n    kind: Widget\n    plural: widgets\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n",
    );
}

/// Copy a fixture tree, as a new checkout of the same commit would be.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}
