//! Bounded Git, end to end with the real agent: a repository too large for the agent's limits
//! fails its own app (SourceTooLarge) without the agent holding or writing it; local
//! repositories are read only with `--allow-local-repos` (LocalRepoNotAllowed otherwise);
//! checkouts and mirrors no Application references are collected. In each case a neighbouring
//! healthy app on the same agent keeps syncing new commits.

mod common;
#[path = "../../tether-source/tests/support/git_http.rs"]
mod git_http;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn ready(app: &Value) -> (&str, &str) {
    let c = condition(app, "Ready");
    (
        c["reason"].as_str().unwrap_or(""),
        c["message"].as_str().unwrap_or(""),
    )
}

fn synced_at(app: &Value, commit: &str) -> bool {
    sync(app) == "Synced" && health(app) == "Healthy" && app["status"]["sync"]["revision"] == commit
}

/// `size` zero bytes committed as `path` on `main` with `git fast-import`, which streams a
/// blob this large into a pack (about 1 MiB for 1 GiB of zeros) without holding it or writing
/// it to the work tree. The work tree is left as it was.
fn commit_zeros(repo: &Repo, path: &str, size: u64, message: &str) -> String {
    let parent = repo.git(&["rev-parse", "HEAD"]);
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet", "--force"])
        .current_dir(&repo.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("git fast-import");
    {
        let mut w = std::io::BufWriter::new(child.stdin.take().expect("stdin"));
        write!(w, "blob\nmark :1\ndata {size}\n").unwrap();
        let chunk = vec![0u8; MIB as usize];
        let mut left = size;
        while left > 0 {
            let n = left.min(MIB);
            w.write_all(&chunk[..n as usize]).unwrap();
            left -= n;
        }
        write!(
            w,
            "\ncommit refs/heads/main\ncommitter Ada Lovelace <ada@example.com> 1700000000 +0000\ndata {}\n{message}\nfrom {parent}\nM 100644 :1 {path}\n\n",
            message.len()
        )
        .unwrap();
    }
    assert!(child.wait().unwrap().success(), "fast-import failed");
    repo.git(&["rev-parse", "refs/heads/main"])
}

/// A status line of `/proc/<pid>/status`, in KiB.
fn proc_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Bytes under `dir` (files' lengths; `du`'s view).
fn disk_use(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(e.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

/// The names in `dir` that are not temporary (`.tmp-*`).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A healthy neighbour: a repository with one ConfigMap, synced automatically.
fn neighbour(env: &Env, url_of: impl Fn(&Repo) -> String) -> (Repo, String) {
    let repo = Repo::init(&env.path("served/neighbour"));
    repo.write("app/cm.yaml", &configmap("neighbour", "one"));
    let first = repo.commit("one");
    env.apply_yaml(&app_yaml(
        "neighbour",
        &url_of(&repo),
        "app",
        "neighbour",
        AUTO_PRUNE,
        "",
    ));
    (repo, first)
}

/// The neighbour takes a new commit and syncs it.
fn neighbour_moves_on(env: &Env, repo: &Repo, value: &str) {
    repo.write("app/cm.yaml", &configmap("neighbour", value));
    let next = repo.commit(value);
    env.wait_app(
        "neighbour",
        "the neighbour syncs its new commit",
        Duration::from_secs(30),
        |a| synced_at(a, &next),
    );
    let cm = env.get("configmap", "neighbour", "neighbour").expect("cm");
    assert_eq!(cm["data"]["value"], value);
}

/// Proves a 1 GiB blob of zeros (a 1 MiB repository) is refused while it is fetched: the app
/// fails with SourceTooLarge naming the branch and the limit, keeps what it had deployed
/// (nothing pruned), the agent's peak memory stays far below the blob and nothing large lands
/// in its state dir; the neighbour on the same agent syncs a new commit meanwhile.
#[test]
fn a_huge_blob_fails_its_app_alone_without_memory_or_disk() {
    let mut env = Env::start();
    env.agent(&[]);
    let (nrepo, nfirst) = neighbour(&env, Repo::url);
    let repo = Repo::init(&env.path("served/hostile"));
    repo.write("app/cm.yaml", &configmap("kept", "deployed"));
    let good = repo.commit("good");
    env.apply_yaml(&app_yaml(
        "hostile",
        &repo.url(),
        "app",
        "hostile",
        AUTO_PRUNE,
        "",
    ));
    env.wait_app("hostile", "first sync", Duration::from_secs(30), |a| {
        synced_at(a, &good)
    });
    env.wait_app("neighbour", "first sync", Duration::from_secs(30), |a| {
        synced_at(a, &nfirst)
    });
    let pid = env.agent_pid();
    let before = proc_kib(pid, "VmHWM");

    let huge = commit_zeros(&repo, "app/zeros.bin", GIB, "a gigabyte of zeros");
    let packed = disk_use(&repo.path.join(".git/objects"));
    assert!(packed < 16 * MIB, "the repository is small: {packed} bytes");
    let app = env.wait_app("hostile", "SourceTooLarge", Duration::from_secs(30), |a| {
        ready(a).0 == "SourceTooLarge"
    });
    let (_, message) = ready(&app);
    assert!(
        message.contains("refs/heads/main")
            && message.contains(&huge[..8])
            && message.contains("64.0 MiB")
            && message.contains("--max-file-size"),
        "{message}"
    );
    assert_eq!(condition(&app, "Stalled")["status"], "True");
    assert_eq!(
        app["status"]["operationState"]["revision"], good,
        "the last sync is still the good commit"
    );
    let kept = env
        .get("configmap", "hostile", "kept")
        .expect("nothing pruned");
    assert_eq!(kept["data"]["value"], "deployed");

    // The neighbour is unaffected, while the hostile app keeps being retried.
    neighbour_moves_on(&env, &nrepo, "two");
    neighbour_moves_on(&env, &nrepo, "three");
    let app = env.app("hostile");
    assert_eq!(ready(&app).0, "SourceTooLarge");

    let peak = proc_kib(pid, "VmHWM") * 1024;
    let state = disk_use(&env.path("agent-state"));
    eprintln!(
        "agent peak RSS {} MiB (before the blob {} MiB); state dir {} KiB",
        peak / MIB,
        before / 1024,
        state / 1024
    );
    assert!(
        peak < 256 * MIB,
        "the agent's peak RSS is {} MiB for a 1 GiB blob",
        peak / MIB
    );
    assert!(
        state < 32 * MIB,
        "the state dir holds {} MiB after refusing a 1 GiB blob",
        state / MIB
    );
}

/// Proves the checks made from object headers at checkout: a file over `--max-file-size`
/// fails its app with SourceTooLarge naming the file, its size and the limit; a commit over
/// `--max-checkout-size` fails its app naming that limit; nothing of either is written to the
/// checkouts, what they had deployed stays, and the neighbour syncs meanwhile.
#[test]
fn oversized_files_and_checkouts_name_themselves() {
    let mut env = Env::start();
    env.agent(&["--max-file-size", "1Mi", "--max-checkout-size", "3Mi"]);
    let (nrepo, nfirst) = neighbour(&env, Repo::url);
    let big = Repo::init(&env.path("served/bigfile"));
    big.write("app/cm.yaml", &configmap("kept", "deployed"));
    let big_good = big.commit("good");
    let wide = Repo::init(&env.path("served/wide"));
    wide.write("app/cm.yaml", &configmap("kept", "deployed"));
    let wide_good = wide.commit("good");
    env.apply_yaml(&app_yaml(
        "bigfile",
        &big.url(),
        "app",
        "bigfile",
        AUTO_PRUNE,
        "",
    ));
    env.apply_yaml(&app_yaml(
        "wide",
        &wide.url(),
        "app",
        "wide",
        AUTO_PRUNE,
        "",
    ));
    for (name, commit) in [
        ("bigfile", &big_good),
        ("wide", &wide_good),
        ("neighbour", &nfirst),
    ] {
        env.wait_app(name, "first sync", Duration::from_secs(30), |a| {
            synced_at(a, commit)
        });
    }

    let too_big = commit_zeros(&big, "docs/image.raw", 2 * MIB, "a 2 MiB file");
    // Four files of 900 KiB each: every one under the file limit, 3.5 MiB together.
    for i in 0..4 {
        wide.write(&format!("assets/part{i}.txt"), &"x".repeat(900 * 1024));
    }
    let too_wide = wide.commit("many parts");

    let app = env.wait_app("bigfile", "SourceTooLarge", Duration::from_secs(30), |a| {
        ready(a).0 == "SourceTooLarge"
    });
    let (_, message) = ready(&app);
    assert!(
        message.contains("docs/image.raw")
            && message.contains("2.0 MiB")
            && message.contains("1.0 MiB")
            && message.contains("--max-file-size")
            && message.contains(&too_big[..8]),
        "{message}"
    );
    let app = env.wait_app("wide", "SourceTooLarge", Duration::from_secs(30), |a| {
        ready(a).0 == "SourceTooLarge"
    });
    let (_, message) = ready(&app);
    assert!(
        message.contains("3.0 MiB")
            && message.contains("--max-checkout-size")
            && message.contains(&too_wide[..8]),
        "{message}"
    );
    let checkouts = entries(&env.path("agent-state/git/checkouts"));
    assert!(
        !checkouts.contains(&too_big) && !checkouts.contains(&too_wide),
        "nothing of the refused commits is written: {checkouts:?}"
    );
    for ns in ["bigfile", "wide"] {
        let kept = env.get("configmap", ns, "kept").expect("nothing pruned");
        assert_eq!(kept["data"]["value"], "deployed");
    }
    neighbour_moves_on(&env, &nrepo, "two");
}

/// Proves both sides of `--allow-local-repos`: without it, `file://` URLs and plain paths
/// fail their apps with LocalRepoNotAllowed saying which flag allows them, while a neighbour
/// served over HTTP syncs new commits on the same agent; restarted with the flag, the same
/// apps sync.
#[test]
fn local_repositories_need_the_flag() {
    let mut env = Env::start();
    env.agent(&["--allow-local-repos=false"]);
    let served = env.path("served");
    let (nrepo, nfirst) = {
        std::fs::create_dir_all(&served).unwrap();
        let repo = Repo::init(&served.join("neighbour"));
        repo.write("app/cm.yaml", &configmap("neighbour", "one"));
        let first = repo.commit("one");
        (repo, first)
    };
    let server = git_http::GitHttpServer::start(&served, None);
    env.apply_yaml(&app_yaml(
        "neighbour",
        &server.url("neighbour"),
        "app",
        "neighbour",
        AUTO_PRUNE,
        "",
    ));
    let local = Repo::init(&env.path("local"));
    local.write("app/cm.yaml", &configmap("local", "one"));
    let head = local.commit("one");
    let plain = local.path.display().to_string();
    env.apply_yaml(&app_yaml(
        "by-url",
        &local.url(),
        "app",
        "by-url",
        AUTO_PRUNE,
        "",
    ));
    env.apply_yaml(&app_yaml(
        "by-path", &plain, "app", "by-path", AUTO_PRUNE, "",
    ));
    for (name, url) in [("by-url", local.url()), ("by-path", plain.clone())] {
        let app = env.wait_app(name, "LocalRepoNotAllowed", Duration::from_secs(30), |a| {
            ready(a).0 == "LocalRepoNotAllowed"
        });
        let (_, message) = ready(&app);
        assert!(
            message.contains(&url) && message.contains("--allow-local-repos"),
            "{message}"
        );
        assert_eq!(condition(&app, "Stalled")["status"], "True");
    }
    env.wait_app("neighbour", "first sync", Duration::from_secs(30), |a| {
        synced_at(a, &nfirst)
    });
    assert_eq!(
        entries(&env.path("agent-state/git/repos")).len(),
        1,
        "only the neighbour's repository was fetched"
    );
    nrepo.write("app/cm.yaml", &configmap("neighbour", "two"));
    let next = nrepo.commit("two");
    env.wait_app("neighbour", "second sync", Duration::from_secs(30), |a| {
        synced_at(a, &next)
    });
    assert!(!env.exists("configmap", "by-url", "local"));

    // The other side: allowed, they sync.
    env.stop_agent();
    env.restart_agent(&["--allow-local-repos"]);
    for name in ["by-url", "by-path"] {
        env.wait_app(name, "synced once allowed", Duration::from_secs(30), |a| {
            synced_at(a, &head)
        });
    }
    assert!(env.exists("configmap", "by-path", "local"));
}

/// Proves the cache is bounded by the apps, not by the commits: with collection every
/// second, after an app syncs six commits one after another only the checkouts its status
/// references are left; deleting an app removes its checkout and its mirror; and no reconcile
/// failed for a checkout collected from under it.
#[test]
fn checkouts_and_mirrors_no_app_references_are_collected() {
    let mut env = Env::start();
    env.agent(&["--gc-interval", "1"]);
    let busy = Repo::init(&env.path("served/busy"));
    busy.write("app/cm.yaml", &configmap("busy", "0"));
    let mut head = busy.commit("0");
    let (other, other_head) = neighbour(&env, Repo::url);
    env.apply_yaml(&app_yaml(
        "busy",
        &busy.url(),
        "app",
        "busy",
        AUTO_PRUNE,
        "",
    ));
    env.wait_app("neighbour", "first sync", Duration::from_secs(30), |a| {
        synced_at(a, &other_head)
    });
    let checkouts_dir = env.path("agent-state/git/checkouts");
    let repos_dir = env.path("agent-state/git/repos");
    for i in 1..=6 {
        env.wait_app("busy", "synced", Duration::from_secs(30), |a| {
            synced_at(a, &head)
        });
        busy.write("app/cm.yaml", &configmap("busy", &i.to_string()));
        head = busy.commit(&i.to_string());
    }
    env.wait_app(
        "busy",
        "the last commit synced",
        Duration::from_secs(30),
        |a| synced_at(a, &head),
    );
    let mut expected = vec![head.clone(), other_head.clone()];
    expected.sort();
    eventually(
        "only referenced checkouts are left",
        Duration::from_secs(20),
        || (entries(&checkouts_dir) == expected).then_some(()),
    );
    assert_eq!(entries(&repos_dir).len(), 2);
    let cm = env.get("configmap", "busy", "busy").expect("cm");
    assert_eq!(cm["data"]["value"], "6");

    // The neighbour goes: its checkout and its mirror follow.
    env.kubectl_ok(&[
        "delete",
        "applications.tether.dev",
        "neighbour",
        "-n",
        "tether",
    ]);
    eventually(
        "the deleted app's checkout and mirror are collected",
        Duration::from_secs(20),
        || {
            (entries(&checkouts_dir) == vec![head.clone()] && entries(&repos_dir).len() == 1)
                .then_some(())
        },
    );
    let log = env.agent_log();
    assert!(log.contains("collected checkouts and mirrors"), "{log}");
    for reason in ["PathNotFound", "RenderFailed", "SourceFailed"] {
        assert!(
            !log.contains(reason),
            "a reconcile failed ({reason}) while collection ran:\n{log}"
        );
    }
    // The busy app still follows Git.
    busy.write("app/cm.yaml", &configmap("busy", "7"));
    let last = busy.commit("7");
    env.wait_app(
        "busy",
        "synced after collection",
        Duration::from_secs(30),
        |a| synced_at(a, &last),
    );
    drop(other);
}
