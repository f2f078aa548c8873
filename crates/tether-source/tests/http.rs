//! The Source stage over smart HTTP, served by `git http-backend` (tests/support/git_http.rs).

mod support;

use std::time::Duration;

use support::git_http::{Counts, GitHttpServer};
use support::repo::TestRepo;
use tether_source::{Auth, SourceError, Sources};

const MINUTE: Duration = Duration::from_secs(60);

fn repo_with_manifest(root: &std::path::Path) -> TestRepo {
    let repo = TestRepo::init(root, "app.git");
    repo.write("deploy/web.yaml", "kind: Deployment\n");
    repo.commit("first");
    repo
}

/// Proves resolve and checkout work end to end over HTTP (protocol v2 via http-backend), and
/// that the traffic is the expected shape: one ref advertisement, one ls-refs, one fetch.
#[tokio::test]
async fn resolve_and_checkout_over_http() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_manifest(root.path());
    let server = GitHttpServer::start(root.path(), None);
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Sources::new(cache.path()).fetcher(&server.url("app.git"), None);

    let resolved = fetcher.resolve(None, MINUTE).await.unwrap();
    assert_eq!(resolved.commit, repo.head());
    let dir = fetcher.checkout(&resolved.commit).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("deploy/web.yaml")).unwrap(),
        "kind: Deployment\n"
    );

    let c = server.counts();
    eprintln!("first poll: {c:?}");
    assert_eq!(
        (
            c.info_refs,
            c.ls_refs_commands,
            c.fetch_commands,
            c.packfiles_sent
        ),
        (1, 1, 1, 1),
        "{c:?}"
    );
}

/// Proves HTTP basic auth: the right credentials work (supplied through gix's credential hook,
/// not the URL); wrong and missing ones give SourceError::Auth naming the URL, never Unreachable;
/// and the right credentials then work (each set of credentials gets its own fetcher).
#[tokio::test]
async fn basic_auth_is_required_and_classified() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_manifest(root.path());
    let server = GitHttpServer::start(root.path(), Some(("bot", "s3cret")));
    let url = server.url("app.git");
    let cache = tempfile::tempdir().unwrap();
    let sources = Sources::new(cache.path());
    let basic = |password: &str| {
        Some(Auth::Basic {
            username: "bot".into(),
            password: password.into(),
        })
    };

    let err = sources
        .fetcher(&url, None)
        .resolve(None, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Auth { .. }),
        "missing creds: {err:?}"
    );
    assert!(err.to_string().contains(&url), "{err}");

    let err = sources
        .fetcher(&url, basic("wrong"))
        .resolve(None, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Auth { .. }),
        "wrong creds: {err:?}"
    );
    assert!(
        !err.to_string().contains("wrong"),
        "the password must not appear: {err}"
    );

    let fetcher = sources.fetcher(&url, basic("s3cret"));
    let resolved = fetcher.resolve(None, Duration::ZERO).await.unwrap();
    assert_eq!(resolved.commit, repo.head());
    assert!(
        fetcher
            .checkout(&resolved.commit)
            .await
            .unwrap()
            .join("deploy/web.yaml")
            .is_file()
    );
    assert!(server.counts().unauthorized >= 2, "{:?}", server.counts());
}

/// Proves the shared-poll promise and that a poll is cheap:
/// - 50 concurrent resolves on one fetcher with max_age 60s make ONE poll: `polls() == 1` and the
///   server saw exactly one ref advertisement and one ls-refs;
/// - a forced poll with nothing new costs one advertisement + one ls-refs POST and no fetch
///   command (no `want`), so no packfile is transferred;
/// - a forced poll after a new commit fetches exactly once and gets the new commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_apps_cost_one_poll_and_unchanged_polls_fetch_nothing() {
    let root = tempfile::tempdir().unwrap();
    let repo = repo_with_manifest(root.path());
    let server = GitHttpServer::start(root.path(), None);
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Sources::new(cache.path()).fetcher(&server.url("app.git"), None);

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let fetcher = fetcher.clone();
        let revision = if i % 2 == 0 { None } else { Some("main") };
        tasks.spawn(async move { fetcher.resolve(revision, MINUTE).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap().commit, repo.head());
    }
    let after_first = server.counts();
    assert_eq!(fetcher.polls(), 1);
    assert_eq!(after_first.info_refs, 1, "{after_first:?}");
    assert_eq!(after_first.ls_refs_commands, 1, "{after_first:?}");
    assert_eq!(
        after_first.fetch_commands, 1,
        "the first poll fetches the tip: {after_first:?}"
    );

    // Nothing changed on the remote: listing refs only.
    fetcher.resolve(None, Duration::ZERO).await.unwrap();
    let unchanged = server.counts().since(&after_first);
    eprintln!("no-change poll: {unchanged:?}");
    assert_eq!(fetcher.polls(), 2);
    assert_eq!(
        unchanged,
        Counts {
            requests: 2,
            info_refs: 1,
            upload_pack_posts: 1,
            ls_refs_commands: 1,
            ..Counts::default()
        },
        "a no-change poll must not ask for objects"
    );

    // A new commit: listed, then fetched in one more request.
    repo.write("deploy/web.yaml", "kind: Deployment\nreplicas: 2\n");
    let new = repo.commit("scale");
    let before = server.counts();
    assert_eq!(
        fetcher.resolve(None, Duration::ZERO).await.unwrap().commit,
        new
    );
    let changed = server.counts().since(&before);
    eprintln!("change poll: {changed:?}");
    assert_eq!(
        changed,
        Counts {
            requests: 3,
            info_refs: 1,
            upload_pack_posts: 2,
            ls_refs_commands: 1,
            fetch_commands: 1,
            packfiles_sent: 1,
            unauthorized: 0
        }
    );
}

/// Proves explicit refreshes coalesce: 20 concurrent resolves with max_age ZERO cost about two
/// polls, never one each: the poll in flight when they arrive may predate their request, so one
/// more, started after all of them, is shared (3 tolerates one caller scheduled late on a busy
/// machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_forced_polls_coalesce() {
    let root = tempfile::tempdir().unwrap();
    repo_with_manifest(root.path());
    let server = GitHttpServer::start(root.path(), None);
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Sources::new(cache.path()).fetcher(&server.url("app.git"), None);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (fetcher, barrier) = (fetcher.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            fetcher.resolve(None, Duration::ZERO).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let polls = fetcher.polls();
    assert!(
        (1..=3).contains(&polls),
        "20 forced resolves made {polls} polls"
    );
    assert_eq!(server.counts().info_refs, polls);
}

/// Proves an HTTP 404 (no such repository on a live server) is Unreachable, naming the URL.
#[tokio::test]
async fn missing_repository_is_unreachable() {
    let root = tempfile::tempdir().unwrap();
    let server = GitHttpServer::start(root.path(), None);
    let cache = tempfile::tempdir().unwrap();
    let url = server.url("nope.git");
    let err = Sources::new(cache.path())
        .fetcher(&url, None)
        .resolve(None, MINUTE)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
}
