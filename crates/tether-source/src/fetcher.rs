//! Polling a remote, fetching what is new, and resolving revisions to commits.
//!
//! A poll is one connection: the handshake and a ref listing (protocol v2 `ls-refs`, filtered to
//! branches, tags and HEAD). A pack is asked for only when an advertised ref points at an object
//! that is not already local, so a poll of an unchanged repository transfers no objects.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::remote::Direction;
use gix::remote::fetch::Shallow;
use sha2::Digest as _;

use crate::auth::{self, Auth};
use crate::collect::{self, Checkout, InUse};
use crate::error::{self, Phase};
use crate::limits::{self, SourceOptions, format_size};
use crate::{CommitMeta, Resolved, SourceError, checkout};

/// What a poll asks for: branches and tags mirrored under their own names, and HEAD listed (no
/// destination: it is only read, to answer "the remote's default branch").
const REFSPECS: [&str; 3] = [
    "+refs/heads/*:refs/heads/*",
    "+refs/tags/*:refs/tags/*",
    "HEAD",
];

/// Fetches one repository and answers questions about its commits. Shared by every app that
/// reads the repository; see [`crate::Sources::fetcher`].
pub struct Fetcher {
    /// The URL as given, used to connect.
    url: String,
    /// The URL without any password, for messages and logs.
    display_url: String,
    options: SourceOptions,
    /// Checkouts in use by this process's reconciles, shared by every fetcher.
    in_use: Arc<InUse>,
    repo_dir: PathBuf,
    checkouts_dir: PathBuf,
    remembered_hosts: PathBuf,
    /// Serialises fetches into the repository even if a caller's future is dropped mid-poll:
    /// the blocking fetch runs on, and the next poll must not write refs alongside it. Holds
    /// whether this process has cleared the lock files a killed one may have left.
    fetch_lock: Arc<Mutex<bool>>,
    auth: Mutex<Option<Auth>>,
    /// Held across a poll, so concurrent callers wait for it and then share its result.
    state: tokio::sync::Mutex<PollState>,
    polls: AtomicU64,
    /// Commits known to be in the local repository. Objects never leave it,
    /// so each commit is looked up once, not on every reconcile (opening the
    /// repository costs more than the rest of an idle re-plan).
    present: Mutex<std::collections::HashSet<ObjectId>>,
    /// What each ref target resolved to (the peeled commit and its metadata),
    /// so an unchanged ref costs no repository access.
    resolved: Mutex<std::collections::HashMap<ObjectId, Resolved>>,
    /// When a webhook last said the remote changed: a listing older than this is stale
    /// whatever `max_age` a caller allows.
    woken: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct PollState {
    /// When the last successful poll started; its listing is `refs`.
    last_success: Option<Instant>,
    refs: Arc<RemoteRefs>,
    /// When the last failed poll started, and why it failed: callers who asked before it started
    /// get this answer instead of each retrying an unreachable remote in turn.
    last_failure: Option<(Instant, SourceError)>,
}

/// What the remote advertised: ref name → the object it points at (the tag object for annotated
/// tags; peeled locally when resolving).
#[derive(Default, Debug)]
struct RemoteRefs {
    by_name: HashMap<String, ObjectId>,
    /// Whether this poll downloaded a pack (something was new), for metrics.
    fetched_pack: bool,
}

/// How much history a poll fetches when something is new.
#[derive(Clone, Copy, PartialEq, Eq)]
enum History {
    /// Depth 1 while the local copy is shallow: enough to render the tips.
    Shallow,
    /// Everything, to find a commit id that is not a tip (a pinned older commit).
    Full,
}

/// Outcome of looking a revision up in the local copy.
enum Lookup {
    Found(Resolved),
    /// Not known locally; `shallow` tells whether fetching the full history could still find it.
    Missing {
        shallow: bool,
    },
}

/// Everything the blocking side needs, cloned out of the fetcher so it can move to a thread.
#[derive(Clone)]
pub(crate) struct Paths {
    pub(crate) url: String,
    pub(crate) display_url: String,
    pub(crate) options: SourceOptions,
    pub(crate) repo_dir: PathBuf,
    pub(crate) checkouts_dir: PathBuf,
    remembered_hosts: PathBuf,
    fetch_lock: Arc<Mutex<bool>>,
}

impl Fetcher {
    pub(crate) fn new(
        url: &str,
        key: &str,
        cache_dir: &Path,
        options: SourceOptions,
        in_use: Arc<InUse>,
    ) -> Self {
        Self {
            url: url.to_owned(),
            display_url: crate::redact_url(url),
            options,
            in_use,
            repo_dir: cache_dir.join("repos").join(repo_dir_name(key)),
            checkouts_dir: cache_dir.join("checkouts"),
            remembered_hosts: cache_dir.join("ssh").join("known_hosts"),
            fetch_lock: Arc::default(),
            auth: Mutex::new(None),
            state: tokio::sync::Mutex::new(PollState::default()),
            polls: AtomicU64::new(0),
            present: Mutex::new(Default::default()),
            resolved: Mutex::new(Default::default()),
            woken: Mutex::new(None),
        }
    }

    pub(crate) fn set_auth(&self, auth: Option<Auth>) {
        *self.auth.lock().unwrap_or_else(|e| e.into_inner()) = auth;
    }

    pub(crate) fn auth(&self) -> Option<Auth> {
        self.auth.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The repository URL this fetcher reads.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many network polls (connections) this fetcher has made, failed ones included.
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// The remote is known to have changed (a verified webhook push): the next
    /// [`resolve`](Self::resolve) polls, whatever `max_age` it is given. Callers that arrive
    /// while that poll runs share it, so N apps woken together still cost one poll.
    pub fn expire(&self) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    pub(crate) fn repo_dir(&self) -> &Path {
        &self.repo_dir
    }

    /// Refuse a repository on the agent's own disk unless local repositories are allowed.
    fn check_allowed(&self) -> Result<(), SourceError> {
        if !self.options.allow_local && limits::is_local_url(&self.url) {
            return Err(SourceError::LocalNotAllowed {
                url: self.display_url.clone(),
            });
        }
        Ok(())
    }

    fn paths(&self) -> Paths {
        Paths {
            url: self.url.clone(),
            display_url: self.display_url.clone(),
            options: self.options,
            repo_dir: self.repo_dir.clone(),
            checkouts_dir: self.checkouts_dir.clone(),
            remembered_hosts: self.remembered_hosts.clone(),
            fetch_lock: self.fetch_lock.clone(),
        }
    }

    /// Resolve `revision` to a commit: `None` or `"HEAD"` is the remote's HEAD; otherwise a
    /// branch, then a tag, then a full or abbreviated (at least 7 hex digits) commit id.
    ///
    /// The remote is polled only when the last successful poll is older than `max_age`;
    /// `Duration::ZERO` always polls. Callers arriving while a poll is under way wait for it; if
    /// it started after they asked they use its result, so N concurrent callers cost one poll.
    /// A revision that appeared on the remote after the last poll is not found until the next.
    pub async fn resolve(
        &self,
        revision: Option<&str>,
        max_age: Duration,
    ) -> Result<Resolved, SourceError> {
        self.check_allowed()?;
        let revision = revision
            .map(str::trim)
            .filter(|r| !r.is_empty() && *r != "HEAD")
            .map(str::to_owned);
        let asked = Instant::now();
        let refs = {
            let mut state = self.state.lock().await;
            if let Some((started, failure)) = &state.last_failure
                && *started >= asked
            {
                return Err(failure.duplicate());
            }
            let woken = *self.woken.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = state.last_success.is_some_and(|t| {
                t >= asked || (t.elapsed() < max_age && woken.is_none_or(|w| t >= w))
            });
            if !fresh {
                self.poll(&mut state, History::Shallow).await?;
            }
            state.refs.clone()
        };

        // A ref pointing where it pointed before resolves as it did then,
        // without opening the repository.
        let target = ref_target(&refs, revision.as_deref()).copied();
        if let Some(id) = target
            && let Some(known) = self
                .resolved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
        {
            return Ok(known.clone());
        }
        let paths = self.paths();
        let first = {
            let (refs, revision) = (refs.clone(), revision.clone());
            blocking(move || lookup(&paths, &refs, revision.as_deref())).await?
        };
        match first {
            Lookup::Found(resolved) => {
                if let Some(id) = target {
                    let mut memo = self.resolved.lock().unwrap_or_else(|e| e.into_inner());
                    // A long-lived agent sees many commits: keep the memo small.
                    if memo.len() >= 256 {
                        memo.clear();
                    }
                    memo.insert(id, resolved.clone());
                }
                Ok(resolved)
            }
            Lookup::Missing { shallow: true } => {
                // Perhaps an older commit hidden by the shallow boundary: fetch all history once.
                let refs = {
                    let mut state = self.state.lock().await;
                    let paths = self.paths();
                    let still_shallow =
                        blocking(move || is_shallow(&open(&paths, Vec::new())?, &paths)).await?;
                    if still_shallow {
                        self.poll(&mut state, History::Full).await?;
                    }
                    state.refs.clone()
                };
                let paths = self.paths();
                let revision2 = revision.clone();
                match blocking(move || lookup(&paths, &refs, revision2.as_deref())).await? {
                    Lookup::Found(resolved) => Ok(resolved),
                    Lookup::Missing { .. } => Err(self.not_found(revision)),
                }
            }
            Lookup::Missing { shallow: false } => Err(self.not_found(revision)),
        }
    }

    fn not_found(&self, revision: Option<String>) -> SourceError {
        SourceError::RevisionNotFound {
            url: self.display_url.clone(),
            revision: revision.unwrap_or_else(|| "HEAD".to_owned()),
        }
    }

    /// One network round: list refs, fetch what is new, record the listing. Called with the
    /// state lock held.
    async fn poll(&self, state: &mut PollState, history: History) -> Result<(), SourceError> {
        let started = Instant::now();
        self.polls.fetch_add(1, Ordering::Relaxed);
        let (paths, auth) = (self.paths(), self.auth());
        let result = blocking(move || poll_blocking(&paths, auth, history)).await;
        crate::metrics::record_poll(
            &self.display_url,
            result.as_ref().is_ok_and(|r| r.fetched_pack),
            result.is_err(),
            started.elapsed(),
        );
        match result {
            Ok(refs) => {
                tracing::debug!(url = %self.display_url, refs = refs.by_name.len(), elapsed = ?started.elapsed(), "polled");
                state.last_success = Some(started);
                state.last_failure = None;
                state.refs = Arc::new(refs);
                Ok(())
            }
            Err(err) => {
                tracing::debug!(url = %self.display_url, error = %err, "poll failed");
                state.last_failure = Some((started, err.duplicate()));
                Err(err)
            }
        }
    }

    /// Make sure `commit` is in the local copy, fetching (and deepening) if needed, and return its id.
    async fn local_commit(&self, commit: &str) -> Result<ObjectId, SourceError> {
        self.check_allowed()?;
        let not_found = || SourceError::RevisionNotFound {
            url: self.display_url.clone(),
            revision: commit.to_owned(),
        };
        let id = ObjectId::from_hex(commit.trim().as_bytes()).map_err(|_| not_found())?;
        if self
            .present
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
        {
            return Ok(id);
        }
        let paths = self.paths();
        let present = blocking(move || Ok(open(&paths, Vec::new())?.has_object(id))).await?;
        if present {
            self.present
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id);
        } else {
            // Duration::MAX: poll only if never polled in this process; deepen if shallow.
            // Remembered as present by the next call, after it has looked.
            self.resolve(Some(commit), Duration::MAX).await?;
        }
        Ok(id)
    }

    /// The repository's whole tree at `commit` under `<cache_dir>/checkouts/<commit>/`.
    ///
    /// Written to a temporary directory and renamed into place, so a directory under that name
    /// is always complete; a second call returns at once. Symlinks are written as symlinks,
    /// unchecked: the render stage decides whether they escape. A file or a tree over the
    /// limits of [`SourceOptions`] is refused ([`SourceError::TooLarge`]) before anything is
    /// written.
    ///
    /// The checkout stays on disk while the returned guard lives: hold it until whatever reads
    /// the checkout is done, and [`crate::Sources::collect`] leaves it alone.
    pub async fn checkout(&self, commit: &str) -> Result<Checkout, SourceError> {
        let id = self.local_commit(commit).await?;
        let dest = self.checkouts_dir.join(id.to_string());
        // Registered before looking: from here on collection keeps it.
        let guard = Checkout::register(&self.in_use, &id.to_string(), dest.clone());
        if tokio::fs::try_exists(&dest).await? {
            // Used now, for collectors in other processes sharing the cache.
            collect::touch(&dest);
            return Ok(guard);
        }
        let paths = self.paths();
        let out = dest.clone();
        blocking(move || checkout::materialise(&paths, id, &out)).await?;
        Ok(guard)
    }

    /// The id of the object at `path` (relative; `""` or `"."` is the root) in `commit`: a tree
    /// for a directory (or a blob for a file), `None` when nothing is there. Equal ids mean equal
    /// content, so it keys the render cache.
    pub async fn tree_id(&self, commit: &str, path: &str) -> Result<Option<String>, SourceError> {
        let id = self.local_commit(commit).await?;
        let (paths, path) = (self.paths(), path.to_owned());
        blocking(move || checkout::tree_id(&paths, id, &path)).await
    }
}

/// `repos/<readable>-<hash>`: readable for people looking at the cache, hashed to be unique.
fn repo_dir_name(key: &str) -> String {
    let hash = sha2::Sha256::digest(key.as_bytes());
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    // Drop the scheme and any user info so a token in a URL never lands in a path.
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let mut readable: String = rest
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = readable.trim_matches(|c| c == '-' || c == '.').to_owned();
    readable = trimmed
        .chars()
        .rev()
        .take(48)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{readable}-{hex}")
}

/// Run blocking gix work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SourceError::Io(std::io::Error::other(format!("source task failed: {e}"))))?
}

/// Open the local bare repository, creating it on first use.
///
/// It is opened isolated from the machine's and user's Git configuration and environment, so
/// an agent's behaviour does not depend on `~/.gitconfig` (credential helpers that prompt,
/// `insteadOf` rewrites); what it needs is passed as `overrides`.
pub(crate) fn open(paths: &Paths, overrides: Vec<String>) -> Result<gix::Repository, SourceError> {
    if !paths.repo_dir.join("HEAD").is_file() {
        // Creation is serialised with fetches; a poll creates it while holding the lock itself.
        let _creating = paths.fetch_lock.lock().unwrap_or_else(|e| e.into_inner());
        init_if_missing(paths)?;
    }
    // No object larger than the file limit is ever inflated into memory: gix checks each
    // object's size from its header against this before allocating, in a fetch (indexing the
    // pack) as in a checkout. At least 64 MiB, so a small --max-file-size does not trip on a
    // big repository's own bookkeeping (the pack's delta tree).
    let mut overrides = overrides;
    overrides.push(format!(
        "gitoxide.objects.allocLimit={}",
        alloc_limit(&paths.options)
    ));
    let options = gix::open::Options::isolated().config_overrides(overrides);
    gix::open_opts(&paths.repo_dir, options).map_err(|e| local_error(paths, &e))
}

/// Remove the `*.lock` files gix writes beside what it changes (`shallow`, `packed-refs`, refs,
/// `config`, `HEAD`) from the cache repository at `dir`. Call with `fetch_lock` held, before this
/// process fetches into it: the state dir belongs to one agent, so they are a dead process's.
fn remove_stale_locks(dir: &Path) {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            // Objects are written to temporary files and renamed; only refs nest.
            if kind.is_dir() {
                if d == dir && entry.file_name() != "refs" {
                    continue;
                }
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "lock") {
                match std::fs::remove_file(&path) {
                    Ok(()) => tracing::warn!(
                        lock = %path.display(),
                        "removed a lock file left by an agent that stopped mid-fetch"
                    ),
                    Err(e) => {
                        tracing::warn!(lock = %path.display(), "cannot remove a stale lock file: {e}")
                    }
                }
            }
        }
    }
}

/// `gix init --bare` the cache repository unless it exists. Call with `fetch_lock` held.
fn init_if_missing(paths: &Paths) -> Result<(), SourceError> {
    if paths.repo_dir.join("HEAD").is_file() {
        return Ok(());
    }
    // A directory without HEAD is a creation interrupted by a crash: start over.
    if paths.repo_dir.exists() {
        std::fs::remove_dir_all(&paths.repo_dir)?;
    }
    std::fs::create_dir_all(&paths.repo_dir)?;
    gix::init_bare(&paths.repo_dir).map_err(|e| local_error(paths, &e))?;
    record_url(paths);
    Ok(())
}

/// What `gitoxide.objects.allocLimit` is set to: the file limit, at least 64 MiB.
fn alloc_limit(options: &SourceOptions) -> u64 {
    options.max_file_size.max(limits::DEFAULT_MAX_FILE_SIZE)
}

/// Write which repository the mirror holds (no password), so collection in a later process
/// can tell whether an Application still reads it. Best effort.
fn record_url(paths: &Paths) {
    let file = paths.repo_dir.join(collect::URL_FILE);
    if !file.exists()
        && let Err(e) = std::fs::write(&file, collect::url_identity(&paths.url))
    {
        tracing::warn!(file = %file.display(), "cannot record the mirror's URL: {e}");
    }
}

fn local_error(paths: &Paths, e: &gix::Error) -> SourceError {
    SourceError::Git {
        url: paths.display_url.clone(),
        detail: format!(
            "local cache {}: {}",
            paths.repo_dir.display(),
            error::describe(e)
        ),
    }
}

/// Connect, list refs, fetch what is missing. Returns what the remote advertised.
fn poll_blocking(
    paths: &Paths,
    auth: Option<Auth>,
    history: History,
) -> Result<RemoteRefs, SourceError> {
    let connect_err = |e: gix::Error| error::from_gix(&paths.display_url, Phase::Connect, &e);
    let mut fetching = paths.fetch_lock.lock().unwrap_or_else(|e| e.into_inner());
    if !*fetching {
        // The first fetch of this process: no fetch of ours can hold a lock yet, so any lock
        // file is a killed agent's, and would fail every fetch until removed by hand.
        remove_stale_locks(&paths.repo_dir);
        // Mirrors written before the URL was recorded get it now.
        if paths.repo_dir.join("HEAD").is_file() {
            record_url(paths);
        }
        *fetching = true;
    }
    init_if_missing(paths)?;
    // Polled now: collectors (here and in any process sharing the cache) keep it.
    collect::touch(&paths.repo_dir);

    // Keep the ssh key files alive until the connection is done.
    let mut overrides = Vec::new();
    let _ssh = match &auth {
        Some(Auth::SshKey {
            private_key,
            known_hosts,
        }) => {
            let files =
                auth::ssh_files(private_key, known_hosts.as_deref(), &paths.remembered_hosts)?;
            overrides.push(format!("core.sshCommand={}", files.command));
            // Known variant: skips gix's `ssh -G` probe and passes `-p`/`-o SendEnv` the OpenSSH way.
            overrides.push("ssh.variant=ssh".to_owned());
            Some(files)
        }
        _ => None,
    };
    let repo = open(paths, overrides)?;

    let remote = repo
        .remote_at(paths.url.as_str())
        .map_err(connect_err)?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(REFSPECS, Direction::Fetch)
        .map_err(connect_err)?;
    let connection = remote
        .connect(Direction::Fetch)
        .map_err(connect_err)?
        .with_credentials(auth::credentials(auth));
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(connect_err)?;

    let ref_map = prepare.ref_map();
    let mut refs = RemoteRefs::default();
    for remote_ref in &ref_map.remote_refs {
        let (name, target, _peeled) = remote_ref.unpack();
        if let Some(target) = target {
            refs.by_name.insert(name.to_string(), target.to_owned());
        }
    }

    let missing = refs.by_name.values().any(|id| !repo.has_object(id));
    let is_shallow = is_shallow(&repo, paths)?;
    let never_fetched = repo
        .references()
        .ok()
        .and_then(|r| r.all().ok().map(|mut all| all.next().is_none()))
        .unwrap_or(true);
    // gix asks the server for a pack whenever a shallow setting is given, so give one only when
    // there is something to fetch; otherwise it just updates local refs, without a round trip.
    let shallow = match history {
        History::Full if is_shallow => Shallow::undo(),
        _ if missing && (never_fetched || is_shallow) => Shallow::DepthAtRemote(NonZeroU32::MIN),
        _ => Shallow::NoChange,
    };
    let anything_to_map = ref_map.mappings.iter().any(|m| m.remote.as_id().is_some());
    if anything_to_map {
        let interrupt = AtomicBool::new(false);
        prepare
            .with_shallow(shallow)
            .receive(gix::progress::Discard, &interrupt)
            .map_err(|e| {
                if e.is_resource_exhausted() {
                    too_large_to_fetch(paths, &repo, &refs)
                } else {
                    error::from_gix(&paths.display_url, Phase::Transfer, &e)
                }
            })?;
        refs.fetched_pack = missing || history == History::Full;
    }
    Ok(refs)
}

/// A fetch refused because an object in the pack is over the allocation limit. gix stops
/// while indexing the pack, before inflating that object and before anything is stored, so
/// which file it is cannot be known: the message names the refs being fetched instead.
fn too_large_to_fetch(paths: &Paths, repo: &gix::Repository, refs: &RemoteRefs) -> SourceError {
    let mut new: Vec<String> = refs
        .by_name
        .iter()
        .filter(|(_, id)| !repo.has_object(*id))
        .map(|(name, id)| format!("{name} ({})", &id.to_string()[..8]))
        .collect();
    new.sort();
    let more = new.len().saturating_sub(3);
    new.truncate(3);
    let mut list = new.join(", ");
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    SourceError::TooLarge {
        url: paths.display_url.clone(),
        detail: format!(
            "the commits fetched for {list} hold an object larger than {}, the limit per file (--max-file-size); the fetch was stopped before that object was read or anything was stored",
            format_size(alloc_limit(&paths.options))
        ),
    }
}

/// Find `revision` in the advertised refs or, for a commit id, in the local objects.
fn lookup(paths: &Paths, refs: &RemoteRefs, revision: Option<&str>) -> Result<Lookup, SourceError> {
    let repo = open(paths, Vec::new())?;
    let git_err = |e: gix::Error| error::from_gix(&paths.display_url, Phase::Transfer, &e);
    let by_ref = ref_target(refs, revision);
    let id = match (by_ref, revision) {
        (Some(id), _) => Some(*id),
        (None, Some(rev)) if is_commit_id_like(rev) => find_by_hex(&repo, rev, &paths.display_url)?,
        _ => None,
    };
    let Some(id) = id else {
        let shallow = revision.is_some_and(is_commit_id_like) && is_shallow(&repo, paths)?;
        return Ok(Lookup::Missing { shallow });
    };
    let Some(object) = repo.try_find_object(id).map_err(git_err)? else {
        // Advertised but not fetched cannot happen after a successful poll; treat as unknown.
        return Ok(Lookup::Missing {
            shallow: is_shallow(&repo, paths)?,
        });
    };
    let commit = object.peel_to_commit().map_err(|e| SourceError::Git {
        url: paths.display_url.clone(),
        detail: format!(
            "revision {:?} is not a commit: {}",
            revision.unwrap_or("HEAD"),
            error::describe(&e)
        ),
    })?;
    Ok(Lookup::Found(Resolved {
        commit: commit.id.to_string(),
        meta: meta(&commit).map_err(git_err)?,
    }))
}

/// What a branch, tag, full ref name or HEAD points at in the remote's listing.
fn ref_target<'a>(refs: &'a RemoteRefs, revision: Option<&str>) -> Option<&'a ObjectId> {
    match revision {
        None => refs.by_name.get("HEAD"),
        Some(name) if name.starts_with("refs/") => refs.by_name.get(name),
        Some(name) => refs
            .by_name
            .get(&format!("refs/heads/{name}"))
            .or_else(|| refs.by_name.get(&format!("refs/tags/{name}"))),
    }
}

fn is_shallow(repo: &gix::Repository, paths: &Paths) -> Result<bool, SourceError> {
    repo.is_shallow()
        .map_err(|e| error::from_gix(&paths.display_url, Phase::Transfer, &e))
}

fn is_commit_id_like(rev: &str) -> bool {
    (7..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A full or abbreviated object id, if exactly one local object has it.
fn find_by_hex(
    repo: &gix::Repository,
    hex: &str,
    url: &str,
) -> Result<Option<ObjectId>, SourceError> {
    if hex.len() == 40 {
        let id = ObjectId::from_hex(hex.as_bytes()).map_err(|e| SourceError::Git {
            url: url.to_owned(),
            detail: e.to_string(),
        })?;
        return Ok(repo.has_object(id).then_some(id));
    }
    let prefix = gix::hash::Prefix::from_hex(hex).map_err(|e| SourceError::Git {
        url: url.to_owned(),
        detail: e.to_string(),
    })?;
    match repo.objects.lookup_prefix(prefix, None) {
        Ok(Some(Ok(id))) => Ok(Some(id)),
        Ok(Some(Err(()))) => Err(SourceError::Git {
            url: url.to_owned(),
            detail: format!("abbreviated commit id {hex} is ambiguous; use more digits"),
        }),
        Ok(None) => Ok(None),
        Err(e) => Err(SourceError::Git {
            url: url.to_owned(),
            detail: e.to_string(),
        }),
    }
}

fn meta(commit: &gix::Commit<'_>) -> gix::Result<CommitMeta> {
    let person = |s: gix::actor::SignatureRef<'_>| {
        let s = s.trim();
        format!("{} <{}>", s.name, s.email)
    };
    let author = commit.author()?;
    let time = author.seconds();
    let message = commit.message_raw()?.to_string().trim_end().to_owned();
    let summary = message.lines().next().unwrap_or_default().trim().to_owned();
    Ok(CommitMeta {
        author: person(author),
        committer: person(commit.committer()?),
        message,
        summary,
        time,
    })
}
