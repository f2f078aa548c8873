//! Kustomize through the real binary (`kustomize build`, or `kubectl kustomize`).
//!
//! The whole checkout is copied, because overlays reach `../base`. Options from
//! the Application (images, namePrefix, namespace) go into a wrapper
//! kustomization in a fresh directory beside that copy whose only resource is
//! the app path: the user's files are never edited, and kustomize applies the
//! options with its own semantics (name references, image matching).

use std::ffi::OsString;
use std::path::PathBuf;

use serde_json::{Map, Value, json};
use tether_model::{KustomizeOptions, Tool};

use crate::paths::{self, shown};
use crate::process::{self, Invocation};
use crate::{Ctx, Manifest, RenderError, yaml};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum KustomizeBin {
    Kustomize(PathBuf),
    Kubectl(PathBuf),
}

pub(crate) async fn render(
    ctx: &Ctx,
    bin: Option<&KustomizeBin>,
    rel: &str,
    opts: Option<&KustomizeOptions>,
) -> Result<Vec<Manifest>, RenderError> {
    let Some(bin) = bin else {
        return Err(RenderError::ToolMissing {
            tool: Tool::Kustomize,
            detail: "neither `kustomize` nor `kubectl` is on PATH".into(),
        });
    };
    let wrapper = opts.map(wrapper_kustomization).transpose()?.flatten();

    let tmp = tempfile::Builder::new()
        .prefix("tether-kustomize-")
        .tempdir()
        .map_err(|e| RenderError::io("a temporary directory", e))?;
    let repo = tmp.path().join("repo");
    {
        let root = ctx.root_canon.clone();
        let repo = repo.clone();
        tokio::task::spawn_blocking(move || paths::copy_tree(&root, &root, "", &repo))
            .await
            .map_err(|e| RenderError::io("copy of the checkout", std::io::Error::other(e)))??;
    }
    let target = repo.join(rel);
    let build_dir = match wrapper {
        None => target,
        Some(mut k) => {
            // Beside the copy rather than inside it: a wrapper inside would make
            // an app at the repository root include its own directory, which
            // kustomize rejects as a cycle.
            let dir = tmp.path().join("options");
            std::fs::create_dir(&dir).map_err(|e| RenderError::io("a temporary directory", e))?;
            let resource = if rel.is_empty() {
                "../repo".to_string()
            } else {
                format!("../repo/{rel}")
            };
            k.insert("resources".into(), json!([resource]));
            let text = serde_json::to_string_pretty(&Value::Object(k))
                .map_err(|e| RenderError::io("kustomization.yaml", std::io::Error::other(e)))?;
            // JSON is YAML, and needs no quoting rules for tags like `1.10`.
            std::fs::write(dir.join("kustomization.yaml"), text)
                .map_err(|e| RenderError::io("kustomization.yaml", e))?;
            dir
        }
    };

    let (program, mut args, shown_cmd) = match bin {
        KustomizeBin::Kustomize(p) => (
            p.as_path(),
            vec![OsString::from("build")],
            format!("kustomize build {}", shown(rel)),
        ),
        KustomizeBin::Kubectl(p) => (
            p.as_path(),
            vec![OsString::from("kustomize")],
            format!("kubectl kustomize {}", shown(rel)),
        ),
    };
    args.push(build_dir.into_os_string());
    let scrub = vec![
        format!("{}/", repo.display()),
        repo.display().to_string(),
        format!("{}/", tmp.path().display()),
    ];
    let out = process::run(Invocation {
        tool: Tool::Kustomize,
        program,
        args,
        shown: shown_cmd,
        cwd: &repo,
        env: vec![],
        scrub,
        timeout: ctx.timeout,
        max_output: ctx.max_output_size,
    })
    .await?;
    drop(tmp);

    let origin_base = format!("kustomize build {}", shown(rel));
    let label = |_line: u64| format!("output of {origin_base}");
    let docs = yaml::parse_yaml_stream(&out, &label)?;
    let mut manifests = Vec::with_capacity(docs.len());
    for (i, (_line, value)) in docs.into_iter().enumerate() {
        yaml::add_object(
            &mut manifests,
            value,
            format!("{origin_base} (document {})", i + 1),
        )?;
    }
    Ok(manifests)
}

/// The wrapper's fields, or None when no option is set.
fn wrapper_kustomization(
    opts: &KustomizeOptions,
) -> Result<Option<Map<String, Value>>, RenderError> {
    let prefix = opts.name_prefix.as_deref().filter(|p| !p.is_empty());
    let namespace = opts.namespace.as_deref().filter(|n| !n.is_empty());
    if opts.images.is_empty() && prefix.is_none() && namespace.is_none() {
        return Ok(None);
    }
    let mut k = Map::new();
    k.insert(
        "apiVersion".into(),
        json!("kustomize.config.k8s.io/v1beta1"),
    );
    k.insert("kind".into(), json!("Kustomization"));
    if let Some(p) = prefix {
        k.insert("namePrefix".into(), json!(p));
    }
    if let Some(n) = namespace {
        k.insert("namespace".into(), json!(n));
    }
    if !opts.images.is_empty() {
        let images = opts
            .images
            .iter()
            .map(|s| parse_image(s).map(|i| i.to_json()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|detail| RenderError::Tool {
                tool: Tool::Kustomize,
                command: "kustomize.images option".into(),
                status: "rejected".into(),
                stderr: detail,
            })?;
        k.insert("images".into(), Value::Array(images));
    }
    Ok(Some(k))
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImageOverride {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageOverride {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        if let Some(v) = &self.new_name {
            m.insert("newName".into(), json!(v));
        }
        if let Some(v) = &self.new_tag {
            m.insert("newTag".into(), json!(v));
        }
        if let Some(v) = &self.digest {
            m.insert("digest".into(), json!(v));
        }
        Value::Object(m)
    }
}

/// The forms `kustomize edit set image` takes: `name=newName[:tag|@digest]`,
/// `name:tag`, `name@digest`.
pub(crate) fn parse_image(s: &str) -> Result<ImageOverride, String> {
    let s = s.trim();
    let (name, rest, renamed) = match s.split_once('=') {
        Some((n, r)) => (n.trim(), r.trim(), true),
        None => ("", s, false),
    };
    let (image, tag, digest) = split_ref(rest);
    let out = if renamed {
        ImageOverride {
            name: name.into(),
            new_name: Some(image.to_string()).filter(|n| !n.is_empty()),
            new_tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        }
    } else {
        ImageOverride {
            name: image.into(),
            new_name: None,
            new_tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        }
    };
    if out.name.is_empty() {
        return Err(format!("image override {s:?} has no image name"));
    }
    if out.new_name.is_none() && out.new_tag.is_none() && out.digest.is_none() {
        return Err(format!(
            "image override {s:?} changes nothing; use name=newName, name:tag or name@digest"
        ));
    }
    Ok(out)
}

/// `reg:5000/app:1.2` → (`reg:5000/app`, Some(`1.2`), None); a colon before the
/// last slash is a registry port, not a tag.
fn split_ref(s: &str) -> (&str, Option<&str>, Option<&str>) {
    if let Some((image, digest)) = s.split_once('@') {
        return (image, None, Some(digest));
    }
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&s[..at], Some(&s[at + 1..]), None)
        }
        None => (s, None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(
        name: &str,
        new_name: Option<&str>,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> ImageOverride {
        ImageOverride {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: tag.map(Into::into),
            digest: digest.map(Into::into),
        }
    }

    #[test]
    fn image_forms() {
        assert_eq!(
            parse_image("nginx:1.27").unwrap(),
            img("nginx", None, Some("1.27"), None)
        );
        assert_eq!(
            parse_image("nginx=reg.io:5000/web/nginx:1.27").unwrap(),
            img("nginx", Some("reg.io:5000/web/nginx"), Some("1.27"), None)
        );
        assert_eq!(
            parse_image("nginx@sha256:abc").unwrap(),
            img("nginx", None, None, Some("sha256:abc"))
        );
        assert_eq!(
            parse_image("nginx=other@sha256:abc").unwrap(),
            img("nginx", Some("other"), None, Some("sha256:abc"))
        );
        assert_eq!(
            parse_image("nginx=other").unwrap(),
            img("nginx", Some("other"), None, None)
        );
        assert_eq!(
            parse_image("reg:5000/app:2").unwrap(),
            img("reg:5000/app", None, Some("2"), None)
        );
        assert!(parse_image("nginx").is_err());
        assert!(parse_image("=x:1").is_err());
    }
}
