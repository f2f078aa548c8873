//! Materialising trees on disk, and tree ids for the render cache.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice as _};
use gix::object::tree::EntryKind;

use crate::SourceError;
use crate::error::{self, Phase};
use crate::fetcher::{Paths, open};
use crate::limits::{BLOCK, format_size};

/// One entry of a commit's tree, found by [`survey`] before anything is written.
struct Planned {
    /// Relative to the checkout's root.
    path: PathBuf,
    kind: EntryKind,
    oid: ObjectId,
}

/// Write the tree of `commit` to `dest`, via a temporary sibling directory renamed into place:
/// a crash leaves only a `.tmp-*` directory, never a half checkout under the final name.
///
/// The whole tree is surveyed first, reading only object headers: a file over
/// `max_file_size`, or a tree adding up to more than `max_checkout_size`, is refused before a
/// byte is written or a blob is read.
pub(crate) fn materialise(paths: &Paths, commit: ObjectId, dest: &Path) -> Result<(), SourceError> {
    let repo = open(paths, Vec::new())?;
    let git_err = |e: gix::Error| error::from_gix(&paths.display_url, Phase::Transfer, &e);
    let planned = survey(&repo, paths, commit)?;

    std::fs::create_dir_all(&paths.checkouts_dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&paths.checkouts_dir)?;
    for entry in planned {
        let path = tmp.path().join(&entry.path);
        match entry.kind {
            EntryKind::Tree => std::fs::create_dir(&path)?,
            EntryKind::Blob | EntryKind::BlobExecutable => {
                let blob = repo.find_blob(entry.oid).map_err(git_err)?;
                std::fs::write(&path, &blob.data)?;
                if entry.kind == EntryKind::BlobExecutable {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
                }
            }
            EntryKind::Link => {
                let blob = repo.find_blob(entry.oid).map_err(git_err)?;
                let target = blob.data.to_os_str().map_err(|_| SourceError::Git {
                    url: paths.display_url.clone(),
                    detail: format!(
                        "symlink {} has a target that is not a path",
                        shown(&entry.path)
                    ),
                })?;
                std::os::unix::fs::symlink(target, &path)?;
            }
            // A submodule: like git without --recurse-submodules, an empty directory.
            EntryKind::Commit => std::fs::create_dir(&path)?,
        }
    }

    match std::fs::rename(tmp.path(), dest) {
        Ok(()) => {
            // Renamed away: nothing is left for the TempDir to delete.
            let _ = tmp.keep();
            Ok(())
        }
        // Another caller finished the same commit first; theirs is as good as ours.
        Err(_) if dest.is_dir() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Every entry of `commit`'s tree, parents before children, checked against the limits from
/// object headers alone (no blob is decompressed). Stops at the first entry over a limit.
fn survey(
    repo: &gix::Repository,
    paths: &Paths,
    commit: ObjectId,
) -> Result<Vec<Planned>, SourceError> {
    let git_err = |e: gix::Error| error::from_gix(&paths.display_url, Phase::Transfer, &e);
    let options = paths.options;
    let short = &commit.to_string()[..8];
    let tree = repo
        .find_commit(commit)
        .map_err(git_err)?
        .tree_id()
        .map_err(git_err)?
        .detach();
    let mut planned = Vec::new();
    let mut total: u64 = 0;
    let mut largest: Option<(u64, PathBuf)> = None;
    // An explicit stack rather than recursion: tree depth comes from the repository.
    let mut pending = vec![(tree, PathBuf::new())];
    while let Some((tree_id, dir)) = pending.pop() {
        let tree = repo.find_tree(tree_id).map_err(git_err)?;
        let entries: Vec<(EntryKind, BString, ObjectId)> = tree
            .decode()
            .map_err(git_err)?
            .entries
            .iter()
            .map(|e| (e.mode.kind(), e.filename.to_owned(), e.oid.to_owned()))
            .collect();
        for (kind, name, oid) in entries {
            let name = safe_name(&name).ok_or_else(|| SourceError::Git {
                url: paths.display_url.clone(),
                detail: format!("commit {commit} has a tree entry with an unsafe name {name:?}"),
            })?;
            let path = dir.join(name);
            let size = match kind {
                EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => {
                    // The header says how big the object is without inflating it.
                    let size = repo.find_header(oid).map_err(git_err)?.size();
                    if size > options.max_file_size {
                        return Err(SourceError::TooLarge {
                            url: paths.display_url.clone(),
                            detail: format!(
                                "file {} at commit {short} is {}, over the {} limit per file (--max-file-size); nothing was checked out",
                                shown(&path),
                                format_size(size),
                                format_size(options.max_file_size)
                            ),
                        });
                    }
                    if largest.as_ref().is_none_or(|(s, _)| size > *s) {
                        largest = Some((size, path.clone()));
                    }
                    size
                }
                EntryKind::Tree => {
                    pending.push((oid, path.clone()));
                    0
                }
                EntryKind::Commit => 0,
            };
            total = total.saturating_add(size.div_ceil(BLOCK).max(1) * BLOCK);
            if total > options.max_checkout_size {
                let biggest = largest
                    .as_ref()
                    .map(|(s, p)| {
                        format!(
                            "; the largest file so far is {} ({})",
                            shown(p),
                            format_size(*s)
                        )
                    })
                    .unwrap_or_default();
                return Err(SourceError::TooLarge {
                    url: paths.display_url.clone(),
                    detail: format!(
                        "the tree of commit {short} takes more than the {} limit per checkout (--max-checkout-size): over {} in its first {} files and directories{biggest}; nothing was checked out",
                        format_size(options.max_checkout_size),
                        format_size(total),
                        planned.len() + 1,
                    ),
                });
            }
            planned.push(Planned { path, kind, oid });
        }
    }
    Ok(planned)
}

/// A repository path for a message: one line, control characters escaped, so a crafted file
/// name cannot split a log line or drive a terminal.
fn shown(path: &Path) -> String {
    path.to_string_lossy()
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// A tree entry name as one path component, or `None` if writing it could leave the checkout
/// directory or clobber Git metadata (`..`, `/`, `.git`), which only a crafted tree contains.
fn safe_name(name: &[u8]) -> Option<&std::ffi::OsStr> {
    let bad = name.is_empty()
        || name == b"."
        || name == b".."
        || name.eq_ignore_ascii_case(b".git")
        || name.contains(&b'/')
        || name.contains(&0);
    if bad { None } else { name.to_os_str().ok() }
}

/// The id of whatever is at `path` in `commit`'s tree; see [`crate::Fetcher::tree_id`].
pub(crate) fn tree_id(
    paths: &Paths,
    commit: ObjectId,
    path: &str,
) -> Result<Option<String>, SourceError> {
    let repo = open(paths, Vec::new())?;
    let git_err = |e: gix::Error| error::from_gix(&paths.display_url, Phase::Transfer, &e);
    let tree = repo
        .find_commit(commit)
        .map_err(git_err)?
        .tree()
        .map_err(git_err)?;
    let mut components = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            // A path that climbs out of the repository names nothing in it.
            ".." => return Ok(None),
            part => components.push(part),
        }
    }
    if components.is_empty() {
        return Ok(Some(tree.id.to_string()));
    }
    let entry = tree
        .lookup_entry_by_path(components.join("/"))
        .map_err(git_err)?;
    Ok(entry.map(|e| e.object_id().to_string()))
}
