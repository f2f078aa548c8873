//! Path defences and tree walks: the app path must stay inside the checkout, every
//! symlink must resolve inside it, and the tools only ever see a copy.
//!
//! One walker serves three jobs (content hash, copy into a temp dir, listing the
//! files of a plain directory), so all three see the same tree: symlinks are
//! followed (the tools would follow them too), `.git` is never entered, and a
//! symlink that leaves the checkout stops everything with `PathEscapes`.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::RenderError;

/// More entries than this in one walk is a symlink bomb (links fanning out to the
/// same directories) or a repository far beyond what a render should read.
const MAX_WALK_ENTRIES: usize = 1_000_000;

/// `""`, `"."`, `"./apps//web/"` → `""`, `""`, `"apps/web"`. Absolute paths and any
/// `..` are refused before the file system is touched.
pub(crate) fn normalize_rel(path: &str) -> Result<String, RenderError> {
    if path.starts_with('/') || path.starts_with('\\') || Path::new(path).is_absolute() {
        return Err(RenderError::PathEscapes {
            path: path.into(),
            detail: "an absolute path is not allowed; give a path inside the repository".into(),
        });
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(RenderError::PathEscapes {
                    path: path.into(),
                    detail: "`..` is not allowed in the path".into(),
                });
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// How a repository-relative path is shown to users: the root is `.`.
pub(crate) fn shown(rel: &str) -> &str {
    if rel.is_empty() { "." } else { rel }
}

pub(crate) fn join_rel(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

/// Whether `rel` is `dir` or lies below it (both repository-relative).
pub(crate) fn is_under(rel: &str, dir: &str) -> bool {
    dir.is_empty() || rel == dir || rel.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// Resolve `base` + `rel_or_dotted` lexically (both relative to the repository
/// root), allowing `..` as long as it never climbs above the root. Used for
/// paths the user gives relative to something else (Helm values files).
pub(crate) fn join_inside(base: &str, path: &str) -> Option<String> {
    if Path::new(path).is_absolute() {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for comp in Path::new(path).components() {
        match comp {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// The canonical checkout root and the canonical app directory, checking the
/// directory exists and (after resolving symlinks) is still inside the root.
pub(crate) fn resolve_dir(root: &Path, rel: &str) -> Result<(PathBuf, PathBuf), RenderError> {
    let root_canon = root
        .canonicalize()
        .map_err(|e| RenderError::io(root.display().to_string(), e))?;
    let joined = root_canon.join(rel);
    let dir = match joined.canonicalize() {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(RenderError::PathNotFound {
                path: shown(rel).into(),
            });
        }
        Err(e) => return Err(RenderError::io(shown(rel), e)),
    };
    if !dir.starts_with(&root_canon) {
        return Err(RenderError::PathEscapes {
            path: shown(rel).into(),
            detail: format!("it resolves to {} through a symlink", dir.display()),
        });
    }
    if !dir.is_dir() {
        return Err(RenderError::PathNotFound {
            path: shown(rel).into(),
        });
    }
    Ok((root_canon, dir))
}

/// Canonicalise a file the user named (values file, jsonnet lib) and check it is
/// inside the root. `rel` is its repository-relative spelling, for messages.
pub(crate) fn resolve_inside(root_canon: &Path, rel: &str) -> Result<PathBuf, RenderError> {
    let p = root_canon.join(rel);
    let canon = match p.canonicalize() {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(RenderError::PathNotFound {
                path: shown(rel).into(),
            });
        }
        Err(e) => return Err(RenderError::io(shown(rel), e)),
    };
    if !canon.starts_with(root_canon) {
        return Err(RenderError::PathEscapes {
            path: shown(rel).into(),
            detail: format!("it resolves to {} through a symlink", canon.display()),
        });
    }
    Ok(canon)
}

/// What the walker reports, in sorted (byte-wise name) order, depth first.
pub(crate) enum Event<'a> {
    EnterDir {
        rel: &'a str,
    },
    LeaveDir,
    /// A regular file, or a symlink to one; `path` is where to read it.
    File {
        rel: &'a str,
        path: &'a Path,
        meta: &'a fs::Metadata,
    },
    /// A symlink that leads nowhere (dangling) or back up its own path (a loop).
    /// Kept in the hash so retargeting it changes the key; never followed.
    Link {
        rel: &'a str,
        target: &'a Path,
    },
}

#[derive(Clone, Copy)]
pub(crate) struct WalkOptions {
    pub recurse: bool,
    pub skip_hidden: bool,
}

struct Walker<'v, F> {
    root_canon: &'v Path,
    opts: WalkOptions,
    visit: &'v mut F,
    entries: usize,
    /// Canonical directories on the current descent, to stop symlink loops.
    stack: Vec<PathBuf>,
}

/// Walk `start` (a canonical directory inside `root_canon`, known as `start_rel`).
pub(crate) fn walk<F>(
    root_canon: &Path,
    start: &Path,
    start_rel: &str,
    opts: WalkOptions,
    visit: &mut F,
) -> Result<(), RenderError>
where
    F: FnMut(Event<'_>) -> Result<(), RenderError>,
{
    let mut w = Walker {
        root_canon,
        opts,
        visit,
        entries: 0,
        stack: vec![start.to_path_buf()],
    };
    w.dir(start, start_rel)
}

impl<F> Walker<'_, F>
where
    F: FnMut(Event<'_>) -> Result<(), RenderError>,
{
    fn dir(&mut self, dir: &Path, rel: &str) -> Result<(), RenderError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| RenderError::io(shown(rel), e))? {
            let entry = entry.map_err(|e| RenderError::io(shown(rel), e))?;
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            self.entries += 1;
            if self.entries > MAX_WALK_ENTRIES {
                return Err(RenderError::FileTooLarge {
                    file: format!("{} (number of files, symlinks followed)", shown(rel)),
                    size: self.entries as u64,
                    limit: MAX_WALK_ENTRIES as u64,
                });
            }
            let Some(name_str) = name.to_str() else {
                // Kubernetes tooling cannot name such a file either; leave it out.
                continue;
            };
            if name_str == ".git" || (self.opts.skip_hidden && name_str.starts_with('.')) {
                continue;
            }
            let child_rel = join_rel(rel, name_str);
            let path = dir.join(&name);
            let lmeta = fs::symlink_metadata(&path).map_err(|e| RenderError::io(&child_rel, e))?;
            if lmeta.file_type().is_symlink() {
                self.symlink(&path, &child_rel)?;
            } else if lmeta.is_dir() {
                if self.opts.recurse {
                    let canon = self.stack.last().map(|p| p.join(&name)).unwrap_or_default();
                    self.descend(&path, canon, &child_rel)?;
                }
            } else if lmeta.is_file() {
                (self.visit)(Event::File {
                    rel: &child_rel,
                    path: &path,
                    meta: &lmeta,
                })?;
            }
            // Sockets, FIFOs and devices are neither hashed nor copied: reading
            // a FIFO would hang the render.
        }
        Ok(())
    }

    fn descend(&mut self, path: &Path, canon: PathBuf, rel: &str) -> Result<(), RenderError> {
        (self.visit)(Event::EnterDir { rel })?;
        self.stack.push(canon);
        self.dir(path, rel)?;
        self.stack.pop();
        (self.visit)(Event::LeaveDir)
    }

    fn symlink(&mut self, path: &Path, rel: &str) -> Result<(), RenderError> {
        let target = fs::read_link(path).map_err(|e| RenderError::io(rel, e))?;
        let resolved = match path.canonicalize() {
            Ok(r) => r,
            Err(_) => {
                // Dangling: judge the target lexically, so a link to a missing
                // `/etc/...` is still refused rather than silently kept.
                let parent = path.parent().unwrap_or(self.root_canon);
                let lexical = lexical_normalize(&parent.join(&target));
                if !lexical.starts_with(self.root_canon) {
                    return Err(escape(rel, &target));
                }
                return (self.visit)(Event::Link {
                    rel,
                    target: &target,
                });
            }
        };
        if !resolved.starts_with(self.root_canon) {
            return Err(escape(rel, &target));
        }
        let meta = fs::metadata(&resolved).map_err(|e| RenderError::io(rel, e))?;
        if meta.is_dir() {
            if !self.opts.recurse {
                return Ok(());
            }
            // A link to the directory itself or to one of its ancestors would
            // be walked forever.
            if self.stack.iter().any(|p| p.starts_with(&resolved)) {
                return (self.visit)(Event::Link {
                    rel,
                    target: &target,
                });
            }
            self.descend(&resolved, resolved.clone(), rel)
        } else if meta.is_file() {
            (self.visit)(Event::File {
                rel,
                path: &resolved,
                meta: &meta,
            })
        } else {
            Ok(())
        }
    }
}

fn escape(rel: &str, target: &Path) -> RenderError {
    RenderError::PathEscapes {
        path: rel.into(),
        detail: format!(
            "it is a symlink to {} which is outside the repository",
            target.display()
        ),
    }
}

fn lexical_normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The content hash of a tree plus the files in it over the size limit (which
/// only matter when they are under the app path; see the caller).
pub(crate) struct TreeInfo {
    pub hash: [u8; 32],
    pub oversized: Vec<(String, u64)>,
}

/// Hash names, modes, symlink targets and bytes of every file under `start`.
pub(crate) fn hash_tree(
    root_canon: &Path,
    start: &Path,
    start_rel: &str,
    max_file_size: u64,
) -> Result<TreeInfo, RenderError> {
    let mut hasher = Sha256::new();
    let mut oversized = Vec::new();
    let opts = WalkOptions {
        recurse: true,
        skip_hidden: false,
    };
    walk(root_canon, start, start_rel, opts, &mut |ev| {
        match ev {
            Event::EnterDir { rel } => {
                hasher.update(b"D\0");
                hasher.update(rel.as_bytes());
                hasher.update(b"\0");
            }
            Event::LeaveDir => hasher.update(b"U\0"),
            Event::Link { rel, target } => {
                hasher.update(b"L\0");
                hasher.update(rel.as_bytes());
                hasher.update(b"\0");
                hasher.update(target.as_os_str().as_encoded_bytes());
                hasher.update(b"\0");
            }
            Event::File { rel, path, meta } => {
                hasher.update(b"F\0");
                hasher.update(rel.as_bytes());
                hasher.update(b"\0");
                hasher.update(mode(meta).to_le_bytes());
                hasher.update(meta.len().to_le_bytes());
                if meta.len() > max_file_size {
                    oversized.push((rel.to_string(), meta.len()));
                }
                let mut f = fs::File::open(path).map_err(|e| RenderError::io(rel, e))?;
                io::copy(&mut f, &mut hasher).map_err(|e| RenderError::io(rel, e))?;
            }
        }
        Ok(())
    })?;
    Ok(TreeInfo {
        hash: hasher.finalize().into(),
        oversized,
    })
}

#[cfg(unix)]
fn mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode()
}

#[cfg(not(unix))]
fn mode(meta: &fs::Metadata) -> u32 {
    u32::from(meta.permissions().readonly())
}

/// Copy `start` into `dest` (created), following symlinks so the copy holds
/// plain files only: the tools cannot be led out of it by a link.
pub(crate) fn copy_tree(
    root_canon: &Path,
    start: &Path,
    start_rel: &str,
    dest: &Path,
) -> Result<(), RenderError> {
    let dest_err = |e: io::Error| RenderError::io(dest.display().to_string(), e);
    fs::create_dir_all(dest).map_err(dest_err)?;
    let opts = WalkOptions {
        recurse: true,
        skip_hidden: false,
    };
    let strip = |rel: &str| -> PathBuf {
        let r = if start_rel.is_empty() {
            rel
        } else {
            rel.strip_prefix(start_rel)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(rel)
        };
        dest.join(r)
    };
    walk(root_canon, start, start_rel, opts, &mut |ev| {
        match ev {
            Event::EnterDir { rel } => {
                fs::create_dir_all(strip(rel)).map_err(dest_err)?;
            }
            Event::File { rel, path, .. } => {
                fs::copy(path, strip(rel)).map_err(|e| RenderError::io(rel, e))?;
            }
            Event::LeaveDir | Event::Link { .. } => {}
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_paths() {
        assert_eq!(normalize_rel("").unwrap(), "");
        assert_eq!(normalize_rel(".").unwrap(), "");
        assert_eq!(normalize_rel("./apps//web/").unwrap(), "apps/web");
        assert!(matches!(
            normalize_rel("../x"),
            Err(RenderError::PathEscapes { .. })
        ));
        assert!(matches!(
            normalize_rel("a/../../x"),
            Err(RenderError::PathEscapes { .. })
        ));
        assert!(matches!(
            normalize_rel("/etc"),
            Err(RenderError::PathEscapes { .. })
        ));
    }

    #[test]
    fn join_inside_stays_in_root() {
        assert_eq!(
            join_inside("charts/web", "values.yaml").unwrap(),
            "charts/web/values.yaml"
        );
        assert_eq!(
            join_inside("charts/web", "../../env/prod.yaml").unwrap(),
            "env/prod.yaml"
        );
        assert!(join_inside("charts/web", "../../../etc/passwd").is_none());
        assert!(join_inside("charts/web", "/etc/passwd").is_none());
    }

    #[test]
    fn under() {
        assert!(is_under("a/b", ""));
        assert!(is_under("a/b", "a"));
        assert!(is_under("a", "a"));
        assert!(!is_under("ab/c", "a"));
    }
}
