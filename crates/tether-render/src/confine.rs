//! Confinement: a render reads its own repository and nothing else.
//!
//! Kustomize and Helm run on a temp copy of the checkout, but both follow
//! references on their own: a kustomization's `resources` may name any
//! directory on the disk (`../../../<state dir>/git/checkouts/<other app>`),
//! a `file://` or `git::file://` URL (cloning any repository the agent has
//! cached) or an `http://` URL on an internal address; a chart's `file://`
//! dependency may point anywhere. Neither tool can be told to stay inside a
//! directory, so every reference is checked here, before the tool runs, from
//! the kustomization files and Chart.yaml themselves.
//!
//! The rule: a local reference must resolve, lexically and after symlinks,
//! to something that exists inside the repository. Anything that is not a
//! local path is remote, and remote sources are refused unless the agent was
//! started with `--allow-remote-bases`; `file://` is never allowed, since it
//! reads the agent's own disk.

use std::collections::{HashSet, VecDeque};
use std::path::Path;

use serde_json::Value;

use crate::paths::{self, join_inside, join_rel};
use crate::{RenderError, yaml};

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Fields whose entries are other kustomizations (directories) or resource
/// files, and may also be URLs.
const REFERENCE_FIELDS: [&str; 3] = ["resources", "bases", "components"];

/// Fields that load files: kustomize's load restrictor keeps these inside the
/// kustomization's own directory already; they are checked too, so that the
/// error names the file and a future `--load-restrictor` change cannot open
/// a hole.
const FILE_LIST_FIELDS: [&str; 6] = [
    "patchesStrategicMerge",
    "configurations",
    "crds",
    "generators",
    "transformers",
    "validators",
];

/// Check every kustomization reachable from `rel` in the checkout at `root`.
pub(crate) fn check_kustomize(
    root: &Path,
    rel: &str,
    allow_remote: bool,
) -> Result<(), RenderError> {
    let mut queue = VecDeque::from([rel.to_string()]);
    let mut seen = HashSet::new();
    while let Some(dir) = queue.pop_front() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let Some((file, doc)) = read_kustomization(root, &dir)? else {
            continue;
        };
        let at = |entry| Reference {
            root,
            dir: &dir,
            file: &file,
            entry,
            allow_remote,
        };
        let listed = REFERENCE_FIELDS
            .iter()
            .chain(FILE_LIST_FIELDS.iter())
            .flat_map(|field| strings(doc.get(*field)));
        for entry in listed {
            // A directory is another kustomization, whose references count too.
            if let Some(local) = at(entry).resolve()?
                && root.join(&local).is_dir()
            {
                queue.push_back(local);
            }
        }
        for path in file_fields(&doc) {
            at(path).resolve()?;
        }
    }
    Ok(())
}

/// `file://` dependencies of the chart at `rel` must stay inside the
/// repository; dependencies from chart repositories are remote.
pub(crate) fn check_chart(
    root: &Path,
    rel: &str,
    missing_deps: bool,
    allow_remote: bool,
) -> Result<(), RenderError> {
    let file = join_rel(rel, "Chart.yaml");
    // Fail closed: a Chart.yaml that tether cannot read or parse may still
    // be one Helm reads (UTF-16, say), with dependencies nobody checked.
    let Some(text) = read_text(root, &file)? else {
        return Ok(());
    };
    let label = |_line: u64| file.clone();
    let docs = yaml::parse_yaml_stream(&text, &label)?;
    let Some((_, chart)) = docs.first() else {
        return Ok(());
    };
    for dep in chart
        .get("dependencies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let repo = dep.get("repository").and_then(Value::as_str).unwrap_or("");
        if let Some(local) = repo.strip_prefix("file://") {
            Reference {
                root,
                dir: rel,
                file: &file,
                entry: local,
                allow_remote: false,
            }
            .resolve()?;
        } else if !repo.is_empty() && missing_deps && !allow_remote {
            // Vendored under charts/, a remote dependency is never fetched.
            return Err(RenderError::RemoteNotAllowed {
                file: file.clone(),
                entry: repo.to_string(),
            });
        }
    }
    Ok(())
}

struct Reference<'a> {
    root: &'a Path,
    /// The directory of the file that holds the reference (repository-relative).
    dir: &'a str,
    file: &'a str,
    entry: &'a str,
    allow_remote: bool,
}

impl Reference<'_> {
    /// The entry's repository-relative path when it is local and present;
    /// `None` for an allowed remote or a missing local path; an error for
    /// anything that leaves the repository.
    fn resolve(&self) -> Result<Option<String>, RenderError> {
        let entry = self.entry.trim();
        let escapes = |detail: &str| RenderError::PathEscapes {
            path: entry.to_string(),
            detail: format!("named in {}, {detail}", self.file),
        };
        let lower = entry.to_ascii_lowercase();
        if lower.starts_with("file:") || lower.contains("::file:") {
            return Err(escapes(
                "file:// sources read the agent's disk and are never allowed",
            ));
        }
        if Path::new(entry).is_absolute() {
            return Err(escapes("an absolute path is outside the repository"));
        }
        let Some(local) = join_inside(self.dir, entry) else {
            return Err(escapes("it climbs out of the repository"));
        };
        match std::fs::symlink_metadata(self.root.join(&local)) {
            Ok(_) => {
                paths::resolve_inside(self.root, &local)?;
                Ok(Some(local))
            }
            // Not in the repository: kustomize would try it as a URL.
            Err(_) if looks_remote(entry) => {
                if self.allow_remote {
                    Ok(None)
                } else {
                    Err(RenderError::RemoteNotAllowed {
                        file: self.file.to_string(),
                        entry: entry.to_string(),
                    })
                }
            }
            // Missing, and inside the repository: the tool reports it in
            // its own words, with the rest of what it finds wrong.
            Err(_) => Ok(None),
        }
    }
}

/// How kustomize recognises a remote target: a scheme, an scp-like `git@`,
/// a `git::` forcing prefix, or a host-looking first segment.
fn looks_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.contains("::")
        || entry.contains("?ref=")
        || entry
            .split('/')
            .next()
            .is_some_and(|host| host.contains('.') && !host.starts_with('.') && entry.contains('/'))
}

fn read_kustomization(root: &Path, dir: &str) -> Result<Option<(String, Value)>, RenderError> {
    for name in KUSTOMIZATION_FILES {
        let file = join_rel(dir, name);
        let Some(text) = read_text(root, &file)? else {
            continue;
        };
        let label = |_line: u64| file.clone();
        let docs = yaml::parse_yaml_stream(&text, &label)?;
        let doc = docs
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or(Value::Null);
        return Ok(Some((file, doc)));
    }
    Ok(None)
}

/// A file's text, `None` when there is no such file. Any other failure (not
/// UTF-8, unreadable) is an error: the checks fail closed, since the tool
/// might read what tether could not.
fn read_text(root: &Path, file: &str) -> Result<Option<String>, RenderError> {
    match std::fs::read(root.join(file)) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| RenderError::Yaml {
                file: file.to_string(),
                line: 1,
                column: 1,
                message: "not UTF-8 text; tether reads only UTF-8 kustomizations and charts".into(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RenderError::io(file, e)),
    }
}

fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Single file paths inside structured fields: `patches[].path`,
/// `patchesJson6902[].path`, `replacements[].path`, `openapi.path`, and the
/// generators' `files`, `envs` and `env`.
fn file_fields(doc: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    for field in ["patches", "patchesJson6902", "replacements"] {
        for item in doc
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(p) = item.get("path").and_then(Value::as_str) {
                out.push(p);
            }
        }
    }
    if let Some(p) = doc.pointer("/openapi/path").and_then(Value::as_str) {
        out.push(p);
    }
    for field in ["configMapGenerator", "secretGenerator"] {
        for gen_ in doc
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for f in strings(gen_.get("files")).chain(strings(gen_.get("envs"))) {
                // `key=path` names the key.
                out.push(f.split_once('=').map_or(f, |(_, p)| p));
            }
            if let Some(p) = gen_.get("env").and_then(Value::as_str) {
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_forms_are_recognised() {
        for r in [
            "https://github.com/org/repo//base?ref=v1",
            "github.com/org/repo/base",
            "git@github.com:org/repo.git",
            "git::https://example.com/repo.git",
            "ssh://git@host/repo",
            "10.0.0.1/config",
        ] {
            assert!(looks_remote(r), "{r}");
        }
        for l in [
            "base",
            "../base",
            "./overlays/prod",
            "deploy.yaml",
            ".hidden/x",
        ] {
            assert!(!looks_remote(l), "{l}");
        }
    }

    fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        d
    }

    #[test]
    fn local_bases_inside_the_repository_pass() {
        let d = repo(&[
            ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("base/cm.yaml", "kind: ConfigMap\n"),
            (
                "overlays/prod/kustomization.yaml",
                "resources: [../../base]\npatches: [{path: p.yaml}]\n",
            ),
            ("overlays/prod/p.yaml", "kind: ConfigMap\n"),
        ]);
        check_kustomize(d.path(), "overlays/prod", false).unwrap();
    }

    #[test]
    fn a_base_outside_the_repository_is_refused_even_through_a_base() {
        let d = repo(&[
            ("base/kustomization.yaml", "resources: [../../../etc]\n"),
            ("app/kustomization.yaml", "resources: [../base]\n"),
        ]);
        let e = check_kustomize(d.path(), "app", false).unwrap_err();
        assert!(
            matches!(&e, RenderError::PathEscapes { detail, .. } if detail.contains("base/kustomization.yaml")),
            "{e}"
        );
    }

    #[test]
    fn file_urls_are_refused_even_when_remote_bases_are_allowed() {
        for entry in [
            "file:///var/lib/tether/git/repos/x",
            "git::file:///srv/repo",
        ] {
            let d = repo(&[("kustomization.yaml", &format!("resources: [{entry:?}]\n"))]);
            let e = check_kustomize(d.path(), "", true).unwrap_err();
            assert!(e.to_string().contains("never allowed"), "{e}");
        }
    }

    #[test]
    fn remote_bases_need_the_flag() {
        let d = repo(&[(
            "kustomization.yaml",
            "resources: [\"http://169.254.169.254/latest\"]\n",
        )]);
        let e = check_kustomize(d.path(), "", false).unwrap_err();
        assert!(matches!(e, RenderError::RemoteNotAllowed { .. }), "{e}");
        check_kustomize(d.path(), "", true).unwrap();
    }

    #[test]
    fn absolute_and_generator_paths_are_checked() {
        let d = repo(&[(
            "kustomization.yaml",
            "configMapGenerator: [{name: x, files: [\"key=../../etc/passwd\"]}]\n",
        )]);
        assert!(check_kustomize(d.path(), "", false).is_err());
        let d = repo(&[("kustomization.yaml", "resources: [/etc/kubernetes]\n")]);
        assert!(check_kustomize(d.path(), "", false).is_err());
    }

    #[test]
    fn chart_file_dependencies_must_stay_inside() {
        let d = repo(&[(
            "chart/Chart.yaml",
            "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies: [{name: x, version: 1.0.0, repository: \"file://../../outside\"}]\n",
        )]);
        assert!(check_chart(d.path(), "chart", true, true).is_err());
        let d = repo(&[
            (
                "chart/Chart.yaml",
                "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies: [{name: x, version: 1.0.0, repository: \"file://../lib\"}]\n",
            ),
            (
                "lib/Chart.yaml",
                "apiVersion: v2\nname: x\nversion: 1.0.0\n",
            ),
        ]);
        check_chart(d.path(), "chart", true, false).unwrap();
    }

    #[test]
    fn a_kustomization_tether_cannot_read_is_an_error_not_a_pass() {
        let d = repo(&[]);
        // UTF-16 with a byte-order mark: Go's YAML reads it, serde does not.
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "resources: [/etc]\n".encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        std::fs::write(d.path().join("kustomization.yaml"), &utf16).unwrap();
        let e = check_kustomize(d.path(), "", false).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
        std::fs::write(d.path().join("Chart.yaml"), &utf16).unwrap();
        assert!(check_chart(d.path(), "", true, false).is_err());
    }

    #[test]
    fn chart_repository_dependencies_are_remote() {
        let d = repo(&[(
            "Chart.yaml",
            "apiVersion: v2\nname: c\nversion: 1.0.0\ndependencies: [{name: x, version: 1.0.0, repository: \"http://10.0.0.1/charts\"}]\n",
        )]);
        assert!(matches!(
            check_chart(d.path(), "", true, false),
            Err(RenderError::RemoteNotAllowed { .. })
        ));
        // Vendored: nothing is fetched.
        check_chart(d.path(), "", false, false).unwrap();
        check_chart(d.path(), "", true, true).unwrap();
    }
}
