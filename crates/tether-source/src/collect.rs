//! Collecting what no Application needs any more: checkouts of commits nobody references and
//! mirrors of repositories nobody reads, so the cache on disk is bounded by the apps, not by
//! the number of commits they ever saw.
//!
//! Three things keep an entry:
//! - a reference: a commit an Application's status names (the revision compared against, the
//!   last sync's, a rollback's), or a repository URL an Application reads;
//! - use in this process: a [`Checkout`] guard held by a reconcile that is rendering, or a
//!   [`crate::Fetcher`] held by a reconcile that is fetching (the registry's `Arc` is then not
//!   the only one);
//! - use lately by anyone: each use touches the directory's modification time, and nothing
//!   touched within the grace period is removed, so a second process sharing the cache, or a
//!   reconcile whose status is not written yet, keeps what it just used.
//!
//! Removal renames the directory to `.tmp-gc-*` first (atomic, and done under the same lock
//! that registers a use), then deletes it: a reader never sees half a checkout.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A mirror whose URL an Application still reads is kept while it is polled; one nobody has
/// polled for this many grace periods (and at least [`STALE_MIRROR_MIN`]) is a leftover
/// (credentials rotated since, an app suspended for long) and is removed too. Fetching it
/// again costs one shallow fetch.
pub(crate) const STALE_MIRROR_GRACES: u32 = 6;
pub(crate) const STALE_MIRROR_MIN: Duration = Duration::from_secs(3600);

/// The file in each mirror that says which repository it holds (without any password), so a
/// later process can tell whether an Application still reads it.
pub(crate) const URL_FILE: &str = "tether-source-url";

/// What the Applications still need.
#[derive(Default, Debug, Clone)]
pub struct References {
    urls: HashSet<String>,
    commits: HashSet<String>,
}

impl References {
    pub fn new() -> Self {
        Self::default()
    }

    /// An Application reads this repository.
    pub fn add_url(&mut self, url: &str) {
        self.urls.insert(url_identity(url));
    }

    /// An Application's status names this commit (full hex id; anything else is ignored).
    pub fn add_commit(&mut self, commit: &str) {
        let c = commit.trim().to_ascii_lowercase();
        if c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.commits.insert(c);
        }
    }

    pub fn has_url(&self, url: &str) -> bool {
        self.urls.contains(&url_identity(url))
    }

    pub fn has_commit(&self, commit: &str) -> bool {
        self.commits.contains(&commit.to_ascii_lowercase())
    }
}

/// What one collection removed.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Commit ids whose checkouts were removed.
    pub checkouts: Vec<String>,
    /// Mirror directory names removed.
    pub mirrors: Vec<String>,
}

/// A repository's identity for references: normalised, without any password.
pub(crate) fn url_identity(url: &str) -> String {
    crate::redact_url(&crate::normalise_url(url))
}

/// Checkouts in use by reconciles of this process.
#[derive(Default)]
pub(crate) struct InUse {
    counts: Mutex<HashMap<String, usize>>,
}

impl InUse {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A commit's checkout, kept on disk while this guard lives: hold it until the render that
/// reads it is done.
pub struct Checkout {
    path: PathBuf,
    commit: String,
    in_use: Arc<InUse>,
}

impl Checkout {
    /// Register a use of `commit`'s checkout at `path`. Registered before the directory is
    /// looked at, under the lock collection takes, so collection never removes it from now on.
    pub(crate) fn register(in_use: &Arc<InUse>, commit: &str, path: PathBuf) -> Checkout {
        *in_use.lock().entry(commit.to_owned()).or_insert(0) += 1;
        Checkout {
            path,
            commit: commit.to_owned(),
            in_use: in_use.clone(),
        }
    }

    /// The checkout's root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let mut counts = self.in_use.lock();
        if let Some(n) = counts.get_mut(&self.commit) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.commit);
            }
        }
    }
}

/// A checkout reads as its root directory: `checkout.join("app")`.
impl std::ops::Deref for Checkout {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Checkout {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Checkout").field(&self.path).finish()
    }
}

/// Mark `dir` as used now (its modification time), for collectors in other processes. Best
/// effort: a directory that just went is simply not marked.
pub(crate) fn touch(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Whether `path` was modified (used) within `grace`. Unreadable means not recent.
fn used_within(path: &Path, grace: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok().or(Some(Duration::ZERO)))
        .is_some_and(|age| age < grace)
}

/// Move `dir` out of the way under a `.tmp-gc-` name beside it; the caller deletes it. `None`
/// when it could not (it went meanwhile, or permissions): then it is simply kept.
fn set_aside(dir: &Path) -> Option<PathBuf> {
    let parent = dir.parent()?;
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let nonce: u64 = rand_nonce();
    let aside = parent.join(format!(".tmp-gc-{name}-{nonce:x}"));
    match std::fs::rename(dir, &aside) {
        Ok(()) => Some(aside),
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), "cannot collect: {e}");
            }
            None
        }
    }
}

/// Enough to keep two collectors' names apart; not a secret.
fn rand_nonce() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// Delete directories set aside, and any `.tmp-gc-*` a collector that died left in `dir`.
pub(crate) fn delete_set_aside(dir: &Path, aside: Vec<PathBuf>) {
    let mut all = aside;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-gc-") && !all.contains(&e.path()) {
                all.push(e.path());
            }
        }
    }
    for path in all {
        if let Err(e) = std::fs::remove_dir_all(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %path.display(), "cannot delete a collected directory: {e}");
        }
    }
}

/// The checkouts pass: set aside every `checkouts/<commit>` that is not referenced, not in
/// use here and not used within `grace`; then delete them.
pub(crate) fn collect_checkouts(
    checkouts: &Path,
    refs: &References,
    in_use: &InUse,
    grace: Duration,
) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(checkouts) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    let mut aside = Vec::new();
    {
        // Held while deciding and renaming: a use registered before is seen, one registered
        // after finds the directory gone and writes it again.
        let counts = in_use.lock();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Temporary directories belong to checkouts being written (see ABANDONED_AFTER).
            if name.starts_with('.') {
                continue;
            }
            if refs.has_commit(&name)
                || counts.contains_key(&name)
                || used_within(&entry.path(), grace)
            {
                continue;
            }
            if let Some(a) = set_aside(&entry.path()) {
                aside.push(a);
                removed.push(name);
            }
        }
    }
    delete_set_aside(checkouts, aside);
    removed
}

/// After how long unpolled a mirror that an Application reads counts as a leftover.
pub(crate) fn stale_after(grace: Duration) -> Duration {
    (grace * STALE_MIRROR_GRACES).max(STALE_MIRROR_MIN)
}

/// Whether the mirror at `dir` (not held by any fetcher of this process) may go. `stale`:
/// whether a mirror an app reads but nobody polled for [`stale_after`] goes too; off until
/// the process has run that long, or a restart after a long stop would drop every mirror.
pub(crate) fn mirror_unneeded(dir: &Path, refs: &References, grace: Duration, stale: bool) -> bool {
    if used_within(dir, grace) {
        return false;
    }
    let url = std::fs::read_to_string(dir.join(URL_FILE)).ok();
    let read_by_an_app = url.as_deref().is_some_and(|u| refs.urls.contains(u.trim()));
    !(read_by_an_app && (!stale || used_within(dir, stale_after(grace))))
}

/// The mirrors pass, on directories not held by this process: set aside those
/// [`mirror_unneeded`] says may go (`owned` are this process's own and are decided by the
/// caller), and `also`. Returns their names and where they were set aside, for
/// [`delete_set_aside`] once the caller has let go of its lock.
pub(crate) fn collect_mirrors(
    repos: &Path,
    refs: &References,
    owned: &HashSet<PathBuf>,
    grace: Duration,
    stale: bool,
    also: Vec<PathBuf>,
) -> (Vec<String>, Vec<PathBuf>) {
    let mut removed = Vec::new();
    let mut aside = Vec::new();
    for dir in also {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(a) = set_aside(&dir) {
            aside.push(a);
            removed.push(name);
        }
    }
    if let Ok(entries) = std::fs::read_dir(repos) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || owned.contains(&entry.path()) {
                continue;
            }
            if mirror_unneeded(&entry.path(), refs, grace, stale)
                && let Some(a) = set_aside(&entry.path())
            {
                aside.push(a);
                removed.push(name);
            }
        }
    }
    (removed, aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";
    const D: &str = "dddddddddddddddddddddddddddddddddddddddd";

    fn age(dir: &Path, by: Duration) {
        let f = std::fs::File::open(dir).unwrap();
        f.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn references_normalise_urls_and_commits() {
        let mut refs = References::new();
        refs.add_url("https://bot:secret@Git.Example/org/repo.git/");
        refs.add_commit(&A.to_uppercase());
        refs.add_commit("main");
        assert!(refs.has_url("https://bot@git.example/org/repo"));
        assert!(refs.has_url("https://bot:other@git.example/org/repo.git"));
        assert!(!refs.has_url("https://git.example/org/other"));
        assert!(refs.has_commit(A));
        assert_eq!(refs.commits.len(), 1, "a branch name is not a commit");
        assert!(
            !refs.urls.iter().any(|u| u.contains("secret")),
            "no password is kept"
        );
    }

    #[test]
    fn only_unreferenced_unused_old_checkouts_are_collected() {
        let dir = tempfile::tempdir().unwrap();
        let checkouts = dir.path();
        for c in [A, B, C, D] {
            std::fs::create_dir_all(checkouts.join(c).join("app")).unwrap();
            age(&checkouts.join(c), Duration::from_secs(3600));
        }
        std::fs::create_dir_all(checkouts.join(".tmp-being-written")).unwrap();
        std::fs::create_dir_all(checkouts.join(".tmp-gc-left-by-a-crash")).unwrap();
        // D was used a moment ago (by another process, say).
        touch(&checkouts.join(D));
        let mut refs = References::new();
        refs.add_commit(A);
        let in_use = Arc::new(InUse::default());
        let rendering = Checkout::register(&in_use, B, checkouts.join(B));

        let removed = collect_checkouts(checkouts, &refs, &in_use, Duration::from_secs(60));
        assert_eq!(removed, vec![C.to_string()]);
        assert!(checkouts.join(A).is_dir(), "referenced");
        assert!(checkouts.join(B).is_dir(), "in use");
        assert!(!checkouts.join(C).exists(), "unreferenced, unused, old");
        assert!(checkouts.join(D).is_dir(), "used within the grace period");
        assert!(checkouts.join(".tmp-being-written").is_dir());
        assert!(!checkouts.join(".tmp-gc-left-by-a-crash").exists());

        // The render ends: B goes at the next pass.
        drop(rendering);
        let removed = collect_checkouts(checkouts, &refs, &in_use, Duration::from_secs(60));
        assert_eq!(removed, vec![B.to_string()]);
        // Two guards on one commit: it stays until both are gone.
        let one = Checkout::register(&in_use, A, checkouts.join(A));
        let two = Checkout::register(&in_use, A, checkouts.join(A));
        drop(one);
        assert!(in_use.lock().contains_key(A));
        drop(two);
        assert!(in_use.lock().is_empty());
        // A missing directory is fine.
        assert!(
            collect_checkouts(&checkouts.join("none"), &refs, &in_use, Duration::ZERO).is_empty()
        );
    }

    #[test]
    fn mirrors_go_when_no_app_reads_them_or_nobody_polls_them() {
        let dir = tempfile::tempdir().unwrap();
        let repos = dir.path();
        let grace = Duration::from_secs(60);
        let mirror = |name: &str, url: Option<&str>, old: Duration| {
            let d = repos.join(name);
            std::fs::create_dir_all(d.join("objects")).unwrap();
            if let Some(u) = url {
                std::fs::write(d.join(URL_FILE), url_identity(u)).unwrap();
            }
            age(&d, old);
            d
        };
        let read = mirror("read", Some("https://h.example/read.git"), grace * 2);
        let unread = mirror("unread", Some("https://h.example/gone"), grace * 2);
        let fresh = mirror("fresh", Some("https://h.example/gone2"), Duration::ZERO);
        let no_url = mirror("no-url", None, grace * 2);
        let stale = mirror(
            "stale",
            Some("https://h.example/read"),
            STALE_MIRROR_MIN + grace,
        );
        let owned_dir = mirror("owned", Some("https://h.example/gone3"), grace * 2);
        let mut refs = References::new();
        refs.add_url("https://h.example/read");
        let owned: HashSet<PathBuf> = [owned_dir.clone()].into();

        // Just started: a mirror an app reads is kept however long it went unpolled.
        let (mut removed, aside) = collect_mirrors(repos, &refs, &owned, grace, false, Vec::new());
        assert_eq!(aside.len(), 2);
        assert!(
            aside.iter().all(|a| a.is_dir()),
            "set aside, not yet deleted"
        );
        delete_set_aside(repos, aside);
        removed.sort();
        assert_eq!(removed, vec!["no-url", "unread"]);
        assert!(stale.is_dir());
        // Running long enough: the stale one goes too.
        let (removed, aside) = collect_mirrors(repos, &refs, &owned, grace, true, Vec::new());
        delete_set_aside(repos, aside);
        assert_eq!(removed, vec!["stale"]);
        assert!(read.is_dir(), "an app reads it");
        assert!(!unread.exists());
        assert!(fresh.is_dir(), "polled within the grace period");
        assert!(!no_url.exists());
        assert!(
            !stale.exists(),
            "an app reads its URL, but nobody polled it for long"
        );
        assert!(
            owned_dir.is_dir(),
            "this process's own are decided by the caller"
        );

        let (removed, aside) =
            collect_mirrors(repos, &refs, &owned, grace, true, vec![owned_dir.clone()]);
        delete_set_aside(repos, aside);
        assert_eq!(removed, vec!["owned"]);
        assert_eq!(
            std::fs::read_dir(repos).unwrap().count(),
            2,
            "read and fresh are left, nothing set aside"
        );
        assert!(!owned_dir.exists());
    }
}
