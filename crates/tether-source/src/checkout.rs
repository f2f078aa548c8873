//! Materialising trees on disk, and tree ids for the render cache.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice as _};
use gix::object::tree::EntryKind;

use crate::SourceError;
use crate::error::{self, Phase};
use crate::fetcher::{Paths, open};

/// Write the tree of `commit` to `dest`, via a temporary sibling directory renamed into place:
/// a crash leaves only a `.tmp-*` directory, never a half checkout under the final name.
pub(crate) fn materialise(paths: &Paths, commit: ObjectId, dest: &Path) -> Result<(), SourceError> {
    let repo = open(paths, Vec::new())?;
    let git_err = |e: gix::Error| error::from_gix(&paths.display_url, Phase::Transfer, &e);
    let tree = repo
        .find_commit(commit)
        .map_err(git_err)?
        .tree_id()
        .map_err(git_err)?
        .detach();

    std::fs::create_dir_all(&paths.checkouts_dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&paths.checkouts_dir)?;

    // An explicit stack rather than recursion: tree depth comes from the repository.
    let mut pending = vec![(tree, tmp.path().to_path_buf())];
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
            match kind {
                EntryKind::Tree => {
                    std::fs::create_dir(&path)?;
                    pending.push((oid, path));
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    let blob = repo.find_blob(oid).map_err(git_err)?;
                    std::fs::write(&path, &blob.data)?;
                    if kind == EntryKind::BlobExecutable {
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
                    }
                }
                EntryKind::Link => {
                    let blob = repo.find_blob(oid).map_err(git_err)?;
                    let target = blob.data.to_os_str().map_err(|_| SourceError::Git {
                        url: paths.display_url.clone(),
                        detail: format!(
                            "symlink {} has a target that is not a path",
                            path.display()
                        ),
                    })?;
                    std::os::unix::fs::symlink(target, &path)?;
                }
                // A submodule: like git without --recurse-submodules, an empty directory.
                EntryKind::Commit => std::fs::create_dir(&path)?,
            }
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
