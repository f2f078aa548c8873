//! What the fetchers cost, for `/metrics`: requests to each repository and how long
//! polls take. Process-wide (one registry of fetchers per agent, and a leader that steps
//! down and back keeps counting), registered into the server's registry by
//! [`register`].
//!
//! Labels are bounded: `repo` is a repository URL an Application names (without any
//! password), so there are as many as the configuration has; never a commit or a ref.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// `[("repo", url), ("kind", poll|fetch|error)]`.
type RequestLabels = Vec<(&'static str, String)>;
type RepoLabels = Vec<(&'static str, String)>;

/// What one request to a remote was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// A connection that listed the remote's refs (every poll).
    Poll,
    /// A pack was downloaded (something was new).
    Fetch,
    /// The poll failed (unreachable, refused credentials, too large).
    Error,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Poll => "poll",
            RequestKind::Fetch => "fetch",
            RequestKind::Error => "error",
        }
    }
}

static REQUESTS: LazyLock<Family<RequestLabels, Counter>> = LazyLock::new(Family::default);

/// Seconds from 10 ms to a minute: a poll of an unchanged repository is one round trip,
/// a first fetch of a large one can take that long.
fn poll_histogram() -> Histogram {
    Histogram::new([
        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ])
}

static POLL_DURATION: LazyLock<Family<RepoLabels, Histogram>> =
    LazyLock::new(|| Family::new_with_constructor(poll_histogram));

/// Count one poll of `repo` (password already removed) and how long it took.
pub(crate) fn record_poll(repo: &str, fetched_pack: bool, failed: bool, took: Duration) {
    let count = |kind: RequestKind| {
        REQUESTS
            .get_or_create(&vec![
                ("repo", repo.to_owned()),
                ("kind", kind.as_str().into()),
            ])
            .inc();
    };
    count(RequestKind::Poll);
    if fetched_pack {
        count(RequestKind::Fetch);
    }
    if failed {
        count(RequestKind::Error);
    }
    POLL_DURATION
        .get_or_create(&vec![("repo", repo.to_owned())])
        .observe(took.as_secs_f64());
}

/// Add the source's families to `registry`: `tether_git_requests_total{repo,kind}` and
/// `tether_git_poll_duration_seconds{repo}`.
pub fn register(registry: &mut Registry) {
    registry.register(
        "tether_git_requests",
        "Requests to Git remotes: kind=poll for each ref listing, fetch when a pack was downloaded, error when the poll failed",
        REQUESTS.clone(),
    );
    registry.register(
        "tether_git_poll_duration_seconds",
        "How long one poll of a repository took (ref listing plus any fetch)",
        POLL_DURATION.clone(),
    );
}

/// How many requests of `kind` this process made to `repo`: for tests.
pub fn requests(repo: &str, kind: RequestKind) -> u64 {
    REQUESTS
        .get_or_create(&vec![
            ("repo", repo.to_owned()),
            ("kind", kind.as_str().into()),
        ])
        .get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_counted_by_repo_and_kind() {
        let repo = "https://example.invalid/metrics-test";
        record_poll(repo, false, false, Duration::from_millis(20));
        record_poll(repo, true, false, Duration::from_millis(200));
        record_poll(repo, false, true, Duration::from_millis(2));
        assert_eq!(requests(repo, RequestKind::Poll), 3);
        assert_eq!(requests(repo, RequestKind::Fetch), 1);
        assert_eq!(requests(repo, RequestKind::Error), 1);
        let mut registry = Registry::default();
        register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains(
            "tether_git_requests_total{repo=\"https://example.invalid/metrics-test\",kind=\"fetch\"} 1"
        ), "{text}");
        assert!(text.contains("tether_git_poll_duration_seconds_count{repo=\"https://example.invalid/metrics-test\"} 3"), "{text}");
    }
}
