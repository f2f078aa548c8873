//! Which apps a push wakes: those on the pushed repository whose revision follows a ref
//! that moved. Apps on other branches, and apps pinned to a commit, stay asleep.

use super::payload::Push;
use super::repo_url::normalise;

/// What the matcher needs of an Application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSource {
    /// `namespace/name`.
    pub key: String,
    pub repo_url: String,
    pub revision: Option<String>,
}

/// What a push means for the apps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matched {
    /// Some app reads the pushed repository (on any revision).
    pub repo_known: bool,
    /// The apps to wake, grouped by the repository URL as each names it (every fetcher
    /// for it is expired).
    pub by_url: Vec<(String, Vec<String>)>,
}

impl Matched {
    pub fn apps(&self) -> impl Iterator<Item = &String> {
        self.by_url.iter().flat_map(|(_, apps)| apps)
    }
}

pub fn matching(push: &Push, apps: &[AppSource]) -> Matched {
    let pushed: Vec<String> = push.urls.iter().filter_map(|u| normalise(u)).collect();
    let mut out = Matched::default();
    for app in apps {
        let Some(key) = normalise(&app.repo_url) else {
            continue;
        };
        if !pushed.contains(&key) {
            continue;
        }
        out.repo_known = true;
        let moved = push.refs.is_empty()
            || push
                .refs
                .iter()
                .any(|r| follows(app.revision.as_deref(), r, push.default_branch.as_deref()));
        if !moved {
            continue;
        }
        match out.by_url.iter_mut().find(|(u, _)| *u == app.repo_url) {
            Some((_, keys)) => keys.push(app.key.clone()),
            None => out
                .by_url
                .push((app.repo_url.clone(), vec![app.key.clone()])),
        }
    }
    out
}

/// Whether an app at `revision` follows `git_ref` (`refs/heads/x`, `refs/tags/x`, or a
/// bare name from a generic push).
pub fn follows(revision: Option<&str>, git_ref: &str, default_branch: Option<&str>) -> bool {
    let revision = revision
        .map(str::trim)
        .filter(|r| !r.is_empty() && *r != "HEAD");
    let Some(revision) = revision else {
        // The remote's HEAD: its default branch, when the host says which; otherwise any
        // branch could be it, and a poll too many is cheap.
        return match default_branch {
            Some(d) => git_ref == format!("refs/heads/{d}") || git_ref == d,
            None => git_ref.starts_with("refs/heads/") || !git_ref.starts_with("refs/"),
        };
    };
    if revision.starts_with("refs/") || !git_ref.starts_with("refs/") {
        return revision == git_ref;
    }
    git_ref == format!("refs/heads/{revision}") || git_ref == format!("refs/tags/{revision}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(key: &str, url: &str, rev: Option<&str>) -> AppSource {
        AppSource {
            key: key.into(),
            repo_url: url.into(),
            revision: rev.map(Into::into),
        }
    }

    fn push(urls: &[&str], refs: &[&str], default: Option<&str>) -> Push {
        Push {
            urls: urls.iter().map(|s| s.to_string()).collect(),
            refs: refs.iter().map(|s| s.to_string()).collect(),
            default_branch: default.map(Into::into),
            changed_files: None,
        }
    }

    #[test]
    fn revisions_follow_refs() {
        assert!(follows(Some("main"), "refs/heads/main", None));
        assert!(follows(Some("refs/heads/main"), "refs/heads/main", None));
        assert!(follows(Some("v1"), "refs/tags/v1", None));
        assert!(!follows(Some("main"), "refs/heads/dev", None));
        assert!(!follows(Some("main"), "refs/heads/main-old", None));
        assert!(follows(None, "refs/heads/main", Some("main")));
        assert!(follows(Some("HEAD"), "refs/heads/trunk", None));
        assert!(!follows(None, "refs/heads/dev", Some("main")));
        assert!(!follows(None, "refs/tags/v1", None));
        // A pinned commit never moves.
        assert!(!follows(
            Some("0123456789abcdef0123456789abcdef01234567"),
            "refs/heads/main",
            None
        ));
        // Generic pushes may name the branch bare.
        assert!(follows(Some("main"), "main", None));
    }

    #[test]
    fn only_apps_on_the_pushed_repo_and_branch_wake() {
        let apps = [
            app("a/main", "https://github.com/org/repo.git", Some("main")),
            app("a/ssh", "git@github.com:org/repo", None),
            app("a/dev", "https://github.com/org/repo", Some("dev")),
            app("a/other", "https://github.com/org/other", Some("main")),
        ];
        let m = matching(
            &push(
                &["https://github.com/org/repo"],
                &["refs/heads/main"],
                Some("main"),
            ),
            &apps,
        );
        assert!(m.repo_known);
        let woken: Vec<&String> = m.apps().collect();
        assert_eq!(woken, ["a/main", "a/ssh"]);
        assert_eq!(m.by_url.len(), 2, "one entry per URL form the apps use");

        let m = matching(
            &push(
                &["https://github.com/org/repo"],
                &["refs/heads/feature"],
                Some("main"),
            ),
            &apps,
        );
        assert!(m.repo_known);
        assert_eq!(m.apps().count(), 0);

        let m = matching(
            &push(&["https://example.com/x"], &["refs/heads/main"], None),
            &apps,
        );
        assert!(!m.repo_known);

        // A generic push without a ref wakes every app on the repository.
        let m = matching(&push(&["https://github.com/org/repo"], &[], None), &apps);
        assert_eq!(m.apps().count(), 3);
    }
}
