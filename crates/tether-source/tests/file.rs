//! The Source stage against real repositories over `file://` (gix runs `git-upload-pack`).

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use support::repo::{AUTHOR, COMMITTER, TestRepo};
use tether_source::{SourceError, SourceOptions, Sources};

const LONG: Duration = Duration::from_secs(3600);

/// A registry that may read repositories on this disk, as every test here does.
fn local_sources(cache: &std::path::Path) -> Sources {
    Sources::with_options(cache, SourceOptions::local())
}

/// History used by several tests:
///
/// ```text
/// c0 ── c1 (tag v1, lightweight) ── c2 (main, HEAD, tag v2 annotated)
///        └── c3 (feature)
/// ```
/// c0 is no ref's tip, so a depth-1 fetch does not have it.
struct Fixture {
    _dir: tempfile::TempDir,
    repo: TestRepo,
    c: [String; 4],
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let repo = TestRepo::init(dir.path(), "origin");
    repo.write("README.md", "zero\n");
    let c0 = repo.commit("c0");
    repo.write("README.md", "one\n");
    let c1 = repo.commit("c1");
    repo.git(&["tag", "v1"]);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("feature.txt", "f\n");
    let c3 = repo.commit("c3");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("README.md", "two\n");
    let c2 = repo.commit("c2");
    repo.git(&["tag", "-a", "v2", "-m", "release two"]);
    Fixture {
        _dir: dir,
        repo,
        c: [c0, c1, c2, c3],
    }
}

/// Proves every revision form resolves to the right commit from one poll: HEAD (default and
/// explicit), branches, lightweight and annotated tags (peeled to the commit), full and
/// abbreviated ids of tips; and that a commit hidden by the depth-1 fetch is found by exactly one
/// more poll (the full-history fallback), after which older ids need no network.
#[tokio::test]
async fn resolves_every_revision_form() {
    let f = fixture();
    let [c0, c1, c2, c3] = &f.c;
    let cache = tempfile::tempdir().unwrap();
    let fetcher = local_sources(cache.path()).fetcher(&f.repo.file_url(), None);

    let cases: [(Option<&str>, &String); 8] = [
        (None, c2),
        (Some("HEAD"), c2),
        (Some("main"), c2),
        (Some("feature"), c3),
        (Some("v1"), c1),
        (Some("v2"), c2),
        (Some("refs/heads/feature"), c3),
        (Some(&c1[..7]), c1),
    ];
    for (revision, want) in cases {
        let got = fetcher.resolve(revision, LONG).await.unwrap();
        assert_eq!(&got.commit, want, "revision {revision:?}");
    }
    assert_eq!(fetcher.resolve(Some(c3), LONG).await.unwrap().commit, *c3);
    assert_eq!(fetcher.polls(), 1, "all answered from one poll");

    // c0 is behind the shallow boundary: one full fetch finds it.
    assert_eq!(fetcher.resolve(Some(c0), LONG).await.unwrap().commit, *c0);
    assert_eq!(
        fetcher.polls(),
        2,
        "the full-history fallback is one more poll"
    );
    assert_eq!(
        fetcher.resolve(Some(&c0[..10]), LONG).await.unwrap().commit,
        *c0
    );
    assert_eq!(fetcher.polls(), 2, "now local: no more polls");
}

/// Proves a revision that is none of branch/tag/commit yields RevisionNotFound naming the
/// revision and the URL, both for a name and for a well-formed but unknown commit id.
#[tokio::test]
async fn missing_revision_is_reported_by_name() {
    let f = fixture();
    let cache = tempfile::tempdir().unwrap();
    let url = f.repo.file_url();
    let fetcher = local_sources(cache.path()).fetcher(&url, None);
    for revision in [
        "no-such-branch",
        "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
        "deadbee",
    ] {
        let err = fetcher.resolve(Some(revision), LONG).await.unwrap_err();
        assert!(
            matches!(&err, SourceError::RevisionNotFound { revision: r, .. } if r == revision),
            "{revision}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(revision) && text.contains(&url), "{text}");
    }
    let err = fetcher
        .checkout("0123456789012345678901234567890123456789")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::RevisionNotFound { .. }),
        "{err:?}"
    );
}

/// Proves max_age: a commit pushed after a poll is invisible to resolve with a large max_age
/// (no network: the poll count stays) and visible with Duration::ZERO (a forced poll).
#[tokio::test]
async fn new_commits_appear_only_after_a_forced_poll() {
    let f = fixture();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = local_sources(cache.path()).fetcher(&f.repo.file_url(), None);
    assert_eq!(
        fetcher.resolve(Some("main"), LONG).await.unwrap().commit,
        f.c[2]
    );

    f.repo.write("README.md", "three\n");
    let c4 = f.repo.commit("c4");

    assert_eq!(
        fetcher.resolve(Some("main"), LONG).await.unwrap().commit,
        f.c[2]
    );
    assert_eq!(fetcher.polls(), 1);
    assert_eq!(
        fetcher
            .resolve(Some("main"), Duration::ZERO)
            .await
            .unwrap()
            .commit,
        c4
    );
    assert_eq!(fetcher.polls(), 2);
    // Its tree is usable straight away.
    let dir = fetcher.checkout(&c4).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("README.md")).unwrap(),
        "three\n"
    );
}

/// Proves commit metadata: author and committer as "Name <email>", the full message and its
/// first line, and the author (not committer) time.
#[tokio::test]
async fn commit_metadata_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let repo = TestRepo::init(dir.path(), "origin");
    repo.write("a.yaml", "a: 1\n");
    let id = repo.commit_at(
        "Scale web to 3\n\nBecause traffic doubled.\nSigned-off-by: Ada",
        1_700_000_000,
        1_700_000_500,
    );
    let cache = tempfile::tempdir().unwrap();
    let fetcher = local_sources(cache.path()).fetcher(&repo.file_url(), None);
    let resolved = fetcher.resolve(None, LONG).await.unwrap();
    assert_eq!(resolved.commit, id);
    let meta = resolved.meta;
    assert_eq!(meta.author, format!("{} <{}>", AUTHOR.0, AUTHOR.1));
    assert_eq!(meta.committer, format!("{} <{}>", COMMITTER.0, COMMITTER.1));
    assert_eq!(meta.summary, "Scale web to 3");
    assert_eq!(
        meta.message,
        "Scale web to 3\n\nBecause traffic doubled.\nSigned-off-by: Ada"
    );
    assert_eq!(meta.time, 1_700_000_000);
}

/// Proves checkout materialises the whole tree: nested files with their content, the exec bit
/// on executables only, symlinks kept as symlinks (including one pointing outside, left for the
/// render stage to judge), no leftover temp dirs; and that a second call reuses the directory.
#[tokio::test]
async fn checkout_materialises_files_modes_and_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let repo = TestRepo::init(dir.path(), "origin");
    repo.write("apps/web/deploy.yaml", "kind: Deployment\n");
    repo.write("bin/run.sh", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        repo.path.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("deploy.yaml", repo.path.join("apps/web/link.yaml")).unwrap();
    std::os::unix::fs::symlink("../../../etc/passwd", repo.path.join("apps/web/escape")).unwrap();
    let id = repo.commit("tree");

    let cache = tempfile::tempdir().unwrap();
    let fetcher = local_sources(cache.path()).fetcher(&repo.file_url(), None);
    let out = fetcher.checkout(&id).await.unwrap();
    assert_eq!(out.path(), cache.path().join("checkouts").join(&id));
    assert_eq!(
        std::fs::read_to_string(out.join("apps/web/deploy.yaml")).unwrap(),
        "kind: Deployment\n"
    );
    let mode = |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode();
    assert_ne!(mode("bin/run.sh") & 0o111, 0, "executable bit kept");
    assert_eq!(
        mode("apps/web/deploy.yaml") & 0o111,
        0,
        "plain files not executable"
    );
    for (link, target) in [
        ("apps/web/link.yaml", "deploy.yaml"),
        ("apps/web/escape", "../../../etc/passwd"),
    ] {
        let meta = std::fs::symlink_metadata(out.join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link} must stay a symlink");
        assert_eq!(
            std::fs::read_link(out.join(link))
                .unwrap()
                .to_str()
                .unwrap(),
            target
        );
    }
    assert!(!out.join(".git").exists());

    // Cached: a marker written into the checkout survives a second call.
    std::fs::write(out.join("marker"), "x").unwrap();
    assert_eq!(fetcher.checkout(&id).await.unwrap().path(), out.path());
    assert!(
        out.join("marker").exists(),
        "second checkout must not rewrite the directory"
    );
    let leftovers: Vec<_> = std::fs::read_dir(cache.path().join("checkouts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Proves tree_id: the same id as git's own `<commit>:<path>` for a directory and the root
/// (all spellings of root agree), None for a missing path, unchanged across commits for a
/// directory that did not change, and changed for one that did.
#[tokio::test]
async fn tree_id_follows_directory_content() {
    let dir = tempfile::tempdir().unwrap();
    let repo = TestRepo::init(dir.path(), "origin");
    repo.write("apps/web/deploy.yaml", "replicas: 1\n");
    repo.write("apps/db/sts.yaml", "replicas: 1\n");
    let first = repo.commit("first");
    repo.write("apps/db/sts.yaml", "replicas: 3\n");
    let second = repo.commit("second");

    let cache = tempfile::tempdir().unwrap();
    let fetcher = local_sources(cache.path()).fetcher(&repo.file_url(), None);
    fetcher.resolve(None, LONG).await.unwrap();

    let web1 = fetcher
        .tree_id(&first, "apps/web")
        .await
        .unwrap()
        .expect("apps/web exists");
    assert_eq!(web1, repo.rev_parse(&format!("{first}:apps/web")));
    assert_eq!(
        fetcher.tree_id(&second, "apps/web/").await.unwrap(),
        Some(web1),
        "unchanged dir, same id"
    );
    let db1 = fetcher.tree_id(&first, "apps/db").await.unwrap();
    let db2 = fetcher.tree_id(&second, "./apps/db").await.unwrap();
    assert!(db1.is_some() && db1 != db2, "changed dir, new id");
    assert_eq!(
        fetcher.tree_id(&second, "apps/missing").await.unwrap(),
        None
    );
    assert_eq!(fetcher.tree_id(&second, "../apps").await.unwrap(), None);
    let root = repo.rev_parse(&format!("{second}^{{tree}}"));
    for spelling in ["", ".", "/"] {
        assert_eq!(
            fetcher.tree_id(&second, spelling).await.unwrap().as_deref(),
            Some(root.as_str())
        );
    }
}

/// Proves unreachable remotes are classified as Unreachable (not Git or Auth) and the message
/// names the URL: a file:// path that does not exist and an HTTP port nobody listens on.
#[tokio::test]
async fn unreachable_remotes_name_the_url() {
    let cache = tempfile::tempdir().unwrap();
    let sources = local_sources(cache.path());
    for url in ["file:///nonexistent/repo", "http://127.0.0.1:1/x"] {
        let fetcher = sources.fetcher(url, None);
        let err = fetcher.resolve(None, LONG).await.unwrap_err();
        assert!(
            matches!(err, SourceError::Unreachable { .. }),
            "{url}: {err:?}"
        );
        assert!(err.to_string().contains(url), "{err}");
        assert_eq!(fetcher.polls(), 1);
    }
}

/// Proves that a failed poll is shared, not repeated, by callers who were already waiting when
/// it started (an unreachable remote costs a couple of attempts, not one per app), and that a
/// later call tries again. The remote is a socket that accepts and, 300 ms later, hangs up, so
/// every caller arrives while the first attempt is under way: that attempt predates their
/// request, so exactly one more is made for all of them (3 tolerates one caller scheduled late).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_a_failed_poll() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/repo.git", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10) {
            std::thread::sleep(Duration::from_millis(300));
            drop(stream);
        }
    });
    let cache = tempfile::tempdir().unwrap();
    let fetcher = local_sources(cache.path()).fetcher(&url, None);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (fetcher, barrier) = (fetcher.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            fetcher.resolve(None, LONG).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        let err = result.unwrap().unwrap_err();
        assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
    }
    let attempts = fetcher.polls();
    assert!(
        (1..=3).contains(&attempts),
        "20 callers made {attempts} attempts"
    );
    assert!(fetcher.resolve(None, LONG).await.is_err());
    assert_eq!(fetcher.polls(), attempts + 1, "a new call retries");
}

/// Proves a cache left by an agent killed mid-fetch still works: the lock files gix writes
/// beside `shallow`, `packed-refs` and refs (which make every later fetch fail with "might need
/// manual deletion") are removed by the next process's first fetch, which then succeeds.
#[tokio::test]
async fn lock_files_of_a_killed_agent_do_not_stop_fetching() {
    let f = fixture();
    let cache = tempfile::tempdir().unwrap();
    let first = local_sources(cache.path()).fetcher(&f.repo.file_url(), None);
    first.resolve(Some("main"), LONG).await.unwrap();
    let repos: Vec<_> = std::fs::read_dir(cache.path().join("repos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(repos.len(), 1);
    let repo = &repos[0];
    // What a kill -9 during a fetch leaves behind.
    let locks = [
        repo.join("shallow.lock"),
        repo.join("packed-refs.lock"),
        repo.join("refs/heads/main.lock"),
    ];
    for lock in &locks {
        std::fs::write(lock, "").unwrap();
    }
    f.repo.write("README.md", "after the crash\n");
    let c4 = f.repo.commit("c4");

    // A new process (new Sources) fetches the new commit.
    let second = local_sources(cache.path()).fetcher(&f.repo.file_url(), None);
    let got = second.resolve(Some("main"), Duration::ZERO).await.unwrap();
    assert_eq!(got.commit, c4);
    for lock in &locks {
        assert!(!lock.exists(), "{} is left", lock.display());
    }
    let dir = second.checkout(&c4).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("README.md")).unwrap(),
        "after the crash\n"
    );
}
