//! Source: the first stage of tether's pipeline.
//!
//! It turns a repository URL and a revision (branch, tag or commit) into a commit id, its
//! metadata, and its tree on disk. One [`Fetcher`] exists per repository URL and is shared by every
//! Application reading that repository, so N apps on one repo cost one poll, not N.
//!
//! Layout of the cache directory:
//! - `repos/<readable-name>-<hash>/`: one bare repository per URL, fetched shallowly (depth 1);
//! - `checkouts/<commit>/`: materialised trees, written once and then only read;
//! - `ssh/known_hosts`: host keys learnt for ssh remotes that came without `known_hosts`.
//!
//! What a repository may cost is bounded by [`SourceOptions`] (file and checkout sizes, local
//! repositories), and [`Sources::collect`] removes what no Application needs any more.
//!
//! All gix work is blocking and runs on tokio's blocking pool.

mod auth;
mod checkout;
mod collect;
mod error;
mod fetcher;
mod limits;
pub mod metrics;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use auth::Auth;
pub use collect::{Checkout, Collected, References};
pub use error::SourceError;
pub use fetcher::Fetcher;
pub use limits::{SourceOptions, format_size, is_local_url, parse_size};

/// A commit that a revision resolved to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Resolved {
    /// Full hex object id of the commit.
    pub commit: String,
    pub meta: CommitMeta,
}

/// Who made a commit, when and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CommitMeta {
    /// `Name <email>`.
    pub author: String,
    /// `Name <email>`.
    pub committer: String,
    /// The full message, without trailing newlines.
    pub message: String,
    /// The first line of the message.
    pub summary: String,
    /// Author time, unix seconds.
    pub time: i64,
}

/// The registry of fetchers: one per normalised repository URL, shared by every app.
pub struct Sources {
    cache_dir: PathBuf,
    options: SourceOptions,
    fetchers: Mutex<HashMap<String, Arc<Fetcher>>>,
    /// Checkouts held by reconciles of this process; collection leaves them alone.
    in_use: Arc<collect::InUse>,
    started: std::time::Instant,
}

/// A checkout's temporary directory this old was left by a process that died
/// writing it (a checkout takes seconds): safe to delete even while another
/// process shares the cache.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// Remove `.tmp-*` directories under `checkouts` older than `age`: a crash
/// mid-checkout leaves one behind (never a half checkout under a commit's
/// name). Best effort; errors are logged.
fn remove_abandoned_checkouts(checkouts: &std::path::Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(checkouts) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(".tmp-") {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|elapsed| elapsed >= age);
        if old {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => {
                    tracing::info!(dir = %entry.path().display(), "removed an abandoned checkout")
                }
                Err(e) => {
                    tracing::warn!(dir = %entry.path().display(), "cannot remove an abandoned checkout: {e}")
                }
            }
        }
    }
}

impl Sources {
    /// A registry keeping its repositories and checkouts under `cache_dir` (created on first
    /// use), with the default [`SourceOptions`]: local repositories refused.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self::with_options(cache_dir, SourceOptions::default())
    }

    /// A registry with these limits and this local-repository policy.
    pub fn with_options(cache_dir: impl Into<PathBuf>, options: SourceOptions) -> Self {
        let cache_dir = cache_dir.into();
        remove_abandoned_checkouts(&cache_dir.join("checkouts"), ABANDONED_AFTER);
        Self {
            cache_dir,
            options,
            fetchers: Mutex::new(HashMap::new()),
            in_use: Arc::default(),
            started: std::time::Instant::now(),
        }
    }

    pub fn options(&self) -> SourceOptions {
        self.options
    }

    /// Remove checkouts and mirrors that nothing needs: not in `refs` (what the Applications
    /// name), not in use by this process, and not used by anyone within `grace` (see
    /// [`collect`](crate::collect) for the rules). Blocking file-system work: call it from a
    /// blocking thread. Cheap when there is nothing to remove: two directory listings.
    pub fn collect(&self, refs: &References, grace: Duration) -> Collected {
        let repos = self.cache_dir.join("repos");
        // Held across the mirrors pass, so no fetcher for a mirror being removed is handed
        // out meanwhile; renames only, the deleting happens after.
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        // Only a process that has run long enough can tell "nobody polls it" from "just started".
        let stale = self.started.elapsed() >= collect::stale_after(grace);
        let mut owned = std::collections::HashSet::new();
        let mut ours_to_remove = Vec::new();
        fetchers.retain(|_, fetcher| {
            let dir = fetcher.repo_dir().to_path_buf();
            // Held by a reconcile right now: in use.
            let busy = Arc::strong_count(fetcher) > 1;
            if !busy && collect::mirror_unneeded(&dir, refs, grace, stale) {
                ours_to_remove.push(dir);
                return false;
            }
            owned.insert(dir);
            true
        });
        let (mirrors, aside) =
            collect::collect_mirrors(&repos, refs, &owned, grace, stale, ours_to_remove);
        drop(fetchers);
        // Deleting can take a while; fetchers are handed out meanwhile.
        collect::delete_set_aside(&repos, aside);
        let checkouts = collect::collect_checkouts(
            &self.cache_dir.join("checkouts"),
            refs,
            &self.in_use,
            grace,
        );
        let collected = Collected { checkouts, mirrors };
        if !collected.checkouts.is_empty() || !collected.mirrors.is_empty() {
            tracing::info!(
                checkouts = collected.checkouts.len(),
                mirrors = collected.mirrors.len(),
                "collected checkouts and mirrors that no Application needs"
            );
        }
        collected
    }

    /// The fetcher for `url`: the same `Arc` for the same repository and credentials, whether or
    /// not the URL ends in `/` or `.git`. A rotated Secret means new credentials, so a new fetcher.
    ///
    /// Apps that read one repository with different credentials get different fetchers (and
    /// local copies): otherwise an app with wrong or no credentials could read what another
    /// app's credentials fetched. Apps sharing a URL and credentials share one fetcher.
    pub fn fetcher(&self, url: &str, auth: Option<Auth>) -> Arc<Fetcher> {
        let key = match &auth {
            None => normalise_url(url),
            Some(a) => format!("{}#{}", normalise_url(url), a.fingerprint()),
        };
        // A poisoned map still holds valid fetchers; a panic elsewhere must not stop every app.
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        let fetcher = fetchers
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Fetcher::new(
                    url.trim().trim_end_matches('/'),
                    &key,
                    &self.cache_dir,
                    self.options,
                    self.in_use.clone(),
                ))
            })
            .clone();
        drop(fetchers);
        fetcher.set_auth(auth);
        fetcher
    }
}

impl Sources {
    /// A webhook said `url` changed: every fetcher for that repository (one per set of
    /// credentials) polls on its next resolve. Returns how many there were; 0 means no app
    /// has read it yet, so the next resolve polls anyway.
    pub fn expire(&self, url: &str) -> usize {
        let key = normalise_url(url);
        let with_auth = format!("{key}#");
        let fetchers = self.fetchers.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for (k, fetcher) in fetchers.iter() {
            if *k == key || k.starts_with(&with_auth) {
                fetcher.expire();
                n += 1;
            }
        }
        n
    }
}

/// The identity of a repository URL: trailing `/` and, for remote URLs, `.git` do not make a
/// different repository; `file://` and a plain path to the same directory are the same.
///
/// `.git` is kept for local paths because `/srv/app` and `/srv/app.git` can be two repositories.
fn normalise_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if let Some(path) = url.strip_prefix("file://") {
        return path.trim_end_matches('/').to_owned();
    }
    if url.starts_with('/') || url.starts_with('.') {
        return url.to_owned();
    }
    let url = url
        .strip_suffix(".git")
        .unwrap_or(url)
        .trim_end_matches('/');
    // Scheme and host are case-insensitive; the path is not.
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            format!(
                "{}://{}/{}",
                scheme.to_ascii_lowercase(),
                authority.to_ascii_lowercase(),
                path
            )
        }
        None => url.to_owned(),
    }
}

/// Remove a password from `scheme://user:password@host/...` so it never reaches messages, logs
/// or metrics labels.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_that_name_one_repository_normalise_alike() {
        let a = normalise_url("https://GitHub.com/org/Repo.git/");
        assert_eq!(a, "https://github.com/org/Repo");
        assert_eq!(normalise_url("https://github.com/org/Repo"), a);
        assert_ne!(
            normalise_url("https://github.com/org/repo"),
            a,
            "paths are case-sensitive"
        );
        assert_eq!(normalise_url("file:///srv/x/"), normalise_url("/srv/x"));
        assert_ne!(normalise_url("/srv/x.git"), normalise_url("/srv/x"));
        assert_eq!(
            normalise_url("git@github.com:org/repo.git"),
            "git@github.com:org/repo"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("https://bot:tok@h.io/r.git"),
            "https://bot@h.io/r.git"
        );
        assert_eq!(redact_url("https://h.io/a@b"), "https://h.io/a@b");
        assert_eq!(redact_url("/srv/r"), "/srv/r");
    }

    #[test]
    fn one_fetcher_per_repository_and_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let sources = Sources::new(dir.path());
        let basic = |p: &str| Auth::Basic {
            username: "u".into(),
            password: p.into(),
        };
        let a = sources.fetcher("https://example.invalid/r.git", Some(basic("p")));
        let b = sources.fetcher("https://example.invalid/r/", Some(basic("p")));
        assert!(Arc::ptr_eq(&a, &b), "same repository, same credentials");
        assert_eq!(a.auth(), Some(basic("p")));
        let wrong = sources.fetcher("https://example.invalid/r", Some(basic("wrong")));
        assert!(
            !Arc::ptr_eq(&a, &wrong),
            "other credentials never share a local copy"
        );
        let none = sources.fetcher("https://example.invalid/r", None);
        assert!(!Arc::ptr_eq(&a, &none));
        let c = sources.fetcher("https://example.invalid/other", Some(basic("p")));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_ne!(basic("p").fingerprint(), basic("q").fingerprint());
        assert!(!basic("secret").fingerprint().contains("secret"));
    }
}

#[cfg(test)]
mod abandoned_tests {
    use super::*;

    #[test]
    fn only_old_temporary_checkouts_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let checkouts = dir.path().join("checkouts");
        std::fs::create_dir_all(checkouts.join(".tmp-abc/sub")).unwrap();
        std::fs::create_dir_all(checkouts.join("0123abcd")).unwrap();
        // Young: kept (another process may be writing it).
        remove_abandoned_checkouts(&checkouts, std::time::Duration::from_secs(600));
        assert!(checkouts.join(".tmp-abc").exists());
        // Old enough: removed; finished checkouts never are.
        remove_abandoned_checkouts(&checkouts, std::time::Duration::ZERO);
        assert!(!checkouts.join(".tmp-abc").exists());
        assert!(checkouts.join("0123abcd").exists());
        // A missing dir is fine.
        remove_abandoned_checkouts(&dir.path().join("nothing"), std::time::Duration::ZERO);
    }
}
