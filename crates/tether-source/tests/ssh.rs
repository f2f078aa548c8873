//! The ssh transport, without an ssh server: a fake `ssh` first on PATH records how it was called
//! (and what the key and known_hosts files held at that moment), then runs the remote command
//! (`git-upload-pack '<path>'`) locally, as sshd would on the far side.
//!
//! PATH can only be changed for a child process (`set_var` is unsafe, and this crate forbids
//! unsafe code), so the parent test re-runs this binary for the ignored `ssh_child` test with the
//! fake first on PATH, then checks the log it left.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::repo::TestRepo;
use tether_source::{Auth, SourceError, Sources};

const FAKE_SSH: &str = r#"#!/bin/sh
# Record the call, then act as the remote end by running the requested git command locally.
n=$(ls "$FAKE_SSH_LOG" | wc -l)
dir="$FAKE_SSH_LOG/$n"
mkdir -p "$dir"
printf '%s\n' "$@" > "$dir/args"
prev=""
for a in "$@"; do
  if [ "$prev" = "-i" ]; then stat -c %a "$a" > "$dir/key_mode"; cat "$a" > "$dir/key"; fi
  case "$a" in UserKnownHostsFile=*) f="${a#UserKnownHostsFile=}"; echo "$f" > "$dir/known_hosts_path"; cat "$f" > "$dir/known_hosts" 2>/dev/null;; esac
  prev="$a"
done
# Options, then the host, then the remote command (which real ssh joins with spaces).
while [ $# -gt 0 ]; do
  case "$1" in -i|-o|-F|-l) shift 2;; -*) shift;; *) break;; esac
done
if [ "$1" = "git@denied.example.invalid" ]; then
  echo "git@denied.example.invalid: Permission denied (publickey)." >&2
  exit 255
fi
shift
exec sh -c "$*"
"#;

const KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----";
const KNOWN_HOSTS: &str = "git.example.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFake\n";

/// Proves an `Auth::SshKey` reaches the system ssh as documented: the key in a 0600 file passed
/// with `-i` and `IdentitiesOnly=yes`, `BatchMode=yes`; with known_hosts given, exactly those
/// lines and `StrictHostKeyChecking=yes`; without, `accept-new` against the persistent
/// `<cache>/ssh/known_hosts`; the key file is deleted after the poll; both `ssh://` and
/// scp-style `user@host:path` URLs resolve and check out over it; and ssh's "Permission denied"
/// becomes `SourceError::Auth`.
#[test]
fn ssh_key_is_passed_to_the_system_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let repo = TestRepo::init(dir.path(), "origin");
    repo.write("deploy.yaml", "kind: ConfigMap\n");
    let head = repo.commit("first");

    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("ssh"), FAKE_SSH).unwrap();
    std::fs::set_permissions(bin.join("ssh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("log");
    std::fs::create_dir(&log).unwrap();
    let cache = dir.path().join("cache");

    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "ssh_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PATH", path)
        .env("FAKE_SSH_LOG", &log)
        .env("CHILD_REPO", &repo.path)
        .env("CHILD_CACHE", &cache)
        .env("CHILD_HEAD", &head)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let calls: Vec<_> = (0..2).map(|i| log.join(i.to_string())).collect();
    for call in &calls {
        let args = read(&call.join("args"));
        for expected in [
            "IdentitiesOnly=yes",
            "BatchMode=yes",
            "SendEnv=GIT_PROTOCOL",
            "git@git.example.invalid",
        ] {
            assert!(
                args.lines().any(|l| l == expected),
                "{expected} missing from ssh args:\n{args}"
            );
        }
        assert!(
            args.ends_with(&format!("git-upload-pack\n'{}'\n", repo.path.display())),
            "{args}"
        );
        assert_eq!(read(&call.join("key_mode")).trim(), "600");
        assert_eq!(
            read(&call.join("key")),
            format!("{KEY}\n"),
            "the key file holds the key, newline-terminated"
        );
        let key_path = args.lines().skip_while(|l| *l != "-i").nth(1).unwrap();
        assert!(
            !Path::new(key_path).exists(),
            "key file must be removed after the poll"
        );
    }
    // First fetcher: known_hosts given.
    let args = read(&calls[0].join("args"));
    assert!(
        args.lines().any(|l| l == "StrictHostKeyChecking=yes"),
        "{args}"
    );
    assert!(
        args.lines().any(|l| l == "GlobalKnownHostsFile=/dev/null"),
        "{args}"
    );
    assert_eq!(read(&calls[0].join("known_hosts")), KNOWN_HOSTS);
    // Second fetcher: no known_hosts, trust on first use remembered in the cache.
    let args = read(&calls[1].join("args"));
    assert!(
        args.lines()
            .any(|l| l == "StrictHostKeyChecking=accept-new"),
        "{args}"
    );
    assert_eq!(
        read(&calls[1].join("known_hosts_path")).trim(),
        cache.join("ssh/known_hosts").display().to_string()
    );
}

/// The half of the test above that runs with the fake ssh on PATH.
#[tokio::test]
#[ignore = "run by ssh_key_is_passed_to_the_system_ssh with a fake ssh on PATH"]
async fn ssh_child() {
    let env = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| panic!("{k} not set: run via the parent test"))
    };
    let (repo, head) = (env("CHILD_REPO"), env("CHILD_HEAD"));
    let sources = Sources::new(env("CHILD_CACHE"));
    let key = |known_hosts: Option<&str>| {
        Some(Auth::SshKey {
            private_key: KEY.to_owned(),
            known_hosts: known_hosts.map(str::to_owned),
        })
    };
    let urls = [
        (
            format!("ssh://git@git.example.invalid{repo}"),
            key(Some(KNOWN_HOSTS)),
        ),
        (format!("git@git.example.invalid:{repo}"), key(None)),
    ];
    for (url, auth) in urls {
        let fetcher = sources.fetcher(&url, auth);
        let resolved = fetcher.resolve(Some("main"), Duration::ZERO).await.unwrap();
        assert_eq!(resolved.commit, head, "{url}");
        let out = fetcher.checkout(&resolved.commit).await.unwrap();
        assert!(out.join("deploy.yaml").is_file());
        assert_eq!(fetcher.polls(), 1);
    }

    // A host that refuses the key: reported as an authentication problem, naming the URL.
    let url = format!("git@denied.example.invalid:{repo}");
    let err = sources
        .fetcher(&url, key(None))
        .resolve(None, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
    eprintln!("denied: {err}");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
