//! What a repository may cost: local repositories only when allowed, files and checkouts
//! within their limits (refused before anything is written), objects over the allocation limit
//! refused while fetching, and collection of what no Application references.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::repo::TestRepo;
use tether_source::{References, SourceError, SourceOptions, Sources};

const LONG: Duration = Duration::from_secs(3600);

fn options(max_file: u64, max_checkout: u64) -> SourceOptions {
    SourceOptions {
        max_file_size: max_file,
        max_checkout_size: max_checkout,
        allow_local: true,
    }
}

/// Everything under `dir`, as relative paths (to show that nothing was left behind).
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        out.push(e.file_name().to_string_lossy().into_owned());
    }
    out.sort();
    out
}

/// A blob of `size` zero bytes added as `path` (via `git hash-object --stdin`, so no file of
/// that size is ever written to the work tree), committed.
fn commit_zeros(repo: &TestRepo, path: &str, size: u64) -> String {
    let mut zeros = Command::new("head")
        .args(["-c", &size.to_string(), "/dev/zero"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new("git")
        .args(["hash-object", "-w", "--stdin"])
        .current_dir(&repo.path)
        .stdin(zeros.stdout.take().unwrap())
        .output()
        .unwrap();
    zeros.wait().unwrap();
    assert!(out.status.success());
    let blob = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("100644,{blob},{path}"),
    ]);
    repo.git(&["commit", "-q", "-m", &format!("add {path}")]);
    repo.head()
}

/// Proves `file://` URLs and plain paths are refused unless allowed, with an error that says
/// which flag allows them, before anything is fetched; and that allowing them reads them.
#[tokio::test]
async fn local_repositories_only_when_allowed() {
    let root = tempfile::tempdir().unwrap();
    let repo = TestRepo::init(root.path(), "origin");
    repo.write("app/a.yaml", "kind: ConfigMap\n");
    let head = repo.commit("one");
    let cache = tempfile::tempdir().unwrap();

    let refusing = Sources::new(cache.path());
    let plain_path = repo.path.display().to_string();
    for url in [repo.file_url(), plain_path] {
        let fetcher = refusing.fetcher(&url, None);
        let err = fetcher.resolve(None, LONG).await.unwrap_err();
        assert!(
            matches!(err, SourceError::LocalNotAllowed { .. }),
            "{url}: {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&url) && text.contains("--allow-local-repos"),
            "{text}"
        );
        let err = fetcher.checkout(&head).await.unwrap_err();
        assert!(
            matches!(err, SourceError::LocalNotAllowed { .. }),
            "{err:?}"
        );
        assert_eq!(fetcher.polls(), 0, "refused before connecting");
    }
    assert!(
        listing(&cache.path().join("repos")).is_empty(),
        "nothing fetched"
    );

    let allowing = Sources::with_options(cache.path(), SourceOptions::local());
    let fetcher = allowing.fetcher(&repo.file_url(), None);
    assert_eq!(fetcher.resolve(None, LONG).await.unwrap().commit, head);
    assert!(
        fetcher
            .checkout(&head)
            .await
            .unwrap()
            .join("app/a.yaml")
            .is_file()
    );
}

/// Proves a file over the per-file limit is refused at checkout from its header, naming the
/// file, its size and the limit, with nothing written; and that a tree over the per-checkout
/// limit is refused the same way, naming the limit and the largest file.
#[tokio::test]
async fn oversized_files_and_checkouts_are_refused_before_writing() {
    let root = tempfile::tempdir().unwrap();
    let repo = TestRepo::init(root.path(), "origin");
    repo.write("app/small.yaml", "kind: ConfigMap\n");
    repo.write("docs/big.bin", &"x".repeat(3000));
    let head = repo.commit("big");
    let cache = tempfile::tempdir().unwrap();

    let sources = Sources::with_options(cache.path(), options(2048, 1 << 30));
    let fetcher = sources.fetcher(&repo.file_url(), None);
    fetcher.resolve(None, LONG).await.unwrap();
    let err = fetcher.checkout(&head).await.unwrap_err();
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("docs/big.bin")
            && text.contains("2.9 KiB")
            && text.contains("2.0 KiB")
            && text.contains("--max-file-size")
            && text.contains(&head[..8]),
        "{text}"
    );
    assert!(
        listing(&cache.path().join("checkouts")).is_empty(),
        "nothing written: {:?}",
        listing(&cache.path().join("checkouts"))
    );

    // Many small files: each counts at least a 4 KiB block; 20 files and 3 directories
    // need more than 64 KiB.
    for i in 0..20 {
        repo.write(&format!("many/f{i}.yaml"), "a: 1\n");
    }
    repo.git(&["rm", "-q", "docs/big.bin"]);
    let many = repo.commit("many");
    let cache = tempfile::tempdir().unwrap();
    let sources = Sources::with_options(cache.path(), options(1 << 20, 64 * 1024));
    let fetcher = sources.fetcher(&repo.file_url(), None);
    fetcher.resolve(None, LONG).await.unwrap();
    let err = fetcher.checkout(&many).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, SourceError::TooLarge { .. })
            && text.contains("64.0 KiB")
            && text.contains("--max-checkout-size"),
        "{text}"
    );
    assert!(listing(&cache.path().join("checkouts")).is_empty());

    // Within the limits, the same commit checks out.
    let cache = tempfile::tempdir().unwrap();
    let sources = Sources::with_options(cache.path(), options(1 << 20, 1 << 20));
    let fetcher = sources.fetcher(&repo.file_url(), None);
    fetcher.resolve(None, LONG).await.unwrap();
    assert!(
        fetcher
            .checkout(&many)
            .await
            .unwrap()
            .join("many/f19.yaml")
            .is_file()
    );
}

/// Proves an object over the allocation limit (the file limit, at least 64 MiB) is refused
/// while the pack is fetched: a TooLarge error naming the branch and the limit, no pack
/// stored, and a branch without it in another repository unaffected.
#[tokio::test]
async fn an_object_over_the_limit_is_refused_while_fetching() {
    let root = tempfile::tempdir().unwrap();
    let repo = TestRepo::init(root.path(), "origin");
    repo.write("app/a.yaml", "kind: ConfigMap\n");
    repo.commit("one");
    commit_zeros(&repo, "blob.bin", 65 << 20);
    let cache = tempfile::tempdir().unwrap();
    let sources = Sources::with_options(cache.path(), SourceOptions::local());
    let fetcher = sources.fetcher(&repo.file_url(), None);
    let err = fetcher.resolve(None, LONG).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, SourceError::TooLarge { .. })
            && text.contains("refs/heads/main")
            && text.contains("64.0 MiB")
            && text.contains("--max-file-size"),
        "{text}"
    );
    let packs = listing(&fetcher_repo(cache.path()).join("objects/pack"));
    assert!(packs.is_empty(), "no pack kept: {packs:?}");
}

/// The one mirror under `cache/repos`.
fn fetcher_repo(cache: &Path) -> std::path::PathBuf {
    let repos = cache.join("repos");
    let names = listing(&repos);
    assert_eq!(names.len(), 1, "{names:?}");
    repos.join(&names[0])
}

/// Proves collection keeps referenced commits and repositories, and checkouts still held,
/// and removes the rest; and that a collected mirror is fetched again when needed.
#[tokio::test]
async fn collection_keeps_what_is_referenced_or_held() {
    let root = tempfile::tempdir().unwrap();
    let a = TestRepo::init(root.path(), "a");
    let b = TestRepo::init(root.path(), "b");
    a.write("x.yaml", "a: 1\n");
    let a1 = a.commit("a1");
    a.write("x.yaml", "a: 2\n");
    let a2 = a.commit("a2");
    b.write("y.yaml", "b: 1\n");
    let b1 = b.commit("b1");
    let cache = tempfile::tempdir().unwrap();
    let sources = Sources::with_options(cache.path(), SourceOptions::local());

    let fa = sources.fetcher(&a.file_url(), None);
    // a1 is checked out, then a2 (a1 is now history, no longer a tip: fetch all of it).
    fa.resolve(Some(&a1), LONG).await.unwrap();
    drop(fa.checkout(&a1).await.unwrap());
    let held = fa.checkout(&a2).await.unwrap();
    let fb = sources.fetcher(&b.file_url(), None);
    fb.resolve(None, LONG).await.unwrap();
    drop(fb.checkout(&b1).await.unwrap());
    drop((fa, fb));
    assert_eq!(listing(&cache.path().join("checkouts")).len(), 3);
    assert_eq!(listing(&cache.path().join("repos")).len(), 2);

    // Only repository a is read, at a2 (held by a render as well).
    let mut refs = References::new();
    refs.add_url(&a.file_url());
    refs.add_commit(&a2);
    let collected = sources.collect(&refs, Duration::ZERO);
    let mut gone = collected.checkouts.clone();
    gone.sort();
    let mut expected = vec![a1.clone(), b1.clone()];
    expected.sort();
    assert_eq!(gone, expected);
    assert_eq!(collected.mirrors.len(), 1, "{collected:?}");
    assert_eq!(listing(&cache.path().join("checkouts")), vec![a2.clone()]);
    assert_eq!(listing(&cache.path().join("repos")).len(), 1);

    // Nothing references a any more, but a2 is still being rendered: kept until dropped.
    let collected = sources.collect(&References::new(), Duration::ZERO);
    assert!(collected.checkouts.is_empty(), "{collected:?}");
    assert_eq!(collected.mirrors.len(), 1);
    assert!(held.join("x.yaml").is_file());
    drop(held);
    let collected = sources.collect(&References::new(), Duration::ZERO);
    assert_eq!(collected.checkouts, vec![a2.clone()]);
    assert!(listing(&cache.path().join("checkouts")).is_empty());
    assert!(listing(&cache.path().join("repos")).is_empty());

    // Used again: fetched and checked out again.
    let fb = sources.fetcher(&b.file_url(), None);
    assert_eq!(fb.resolve(None, LONG).await.unwrap().commit, b1);
    assert!(fb.checkout(&b1).await.unwrap().join("y.yaml").is_file());

    // A grace period keeps what was used lately, referenced or not.
    let collected = sources.collect(&References::new(), Duration::from_secs(600));
    assert!(collected.checkouts.is_empty() && collected.mirrors.is_empty());
}
