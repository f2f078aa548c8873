//! Real Git repositories for tests, made with the `git` CLI in temporary directories.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A working repository (non-bare) on branch `main`.
pub struct TestRepo {
    pub path: PathBuf,
}

/// Default author and committer of test commits.
pub const AUTHOR: (&str, &str) = ("Ada Lovelace", "ada@example.com");
pub const COMMITTER: (&str, &str) = ("Tether Bot", "bot@example.com");

impl TestRepo {
    /// `git init -b main` at `root/name`.
    pub fn init(root: &Path, name: &str) -> TestRepo {
        let path = root.join(name);
        std::fs::create_dir_all(&path).unwrap();
        let repo = TestRepo { path };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// Run git in the repository with a fixed identity and no user or system config, and
    /// return its trimmed stdout; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_env(args, &[])
    }

    pub fn git_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.path)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", AUTHOR.0)
            .env("GIT_AUTHOR_EMAIL", AUTHOR.1)
            .env("GIT_COMMITTER_NAME", COMMITTER.0)
            .env("GIT_COMMITTER_EMAIL", COMMITTER.1)
            .envs(env.iter().copied())
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Write `content` at `rel` (creating directories).
    pub fn write(&self, rel: &str, content: &str) {
        let path = self.path.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Stage everything and commit with `message`; returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// Like [`Self::commit`] with fixed author and committer dates (unix seconds).
    pub fn commit_at(&self, message: &str, author_time: i64, committer_time: i64) -> String {
        self.git(&["add", "-A"]);
        let (a, c) = (
            format!("@{author_time} +0000"),
            format!("@{committer_time} +0000"),
        );
        self.git_env(
            &["commit", "-q", "--allow-empty", "-m", message],
            &[("GIT_AUTHOR_DATE", &a), ("GIT_COMMITTER_DATE", &c)],
        );
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn rev_parse(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev])
    }
}
