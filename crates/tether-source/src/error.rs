//! Errors of the Source stage, classified so an Application's status can say what to fix.

/// What went wrong while reading a Git repository.
///
/// Messages are shown to users on an Application, so each names the repository URL and, where it
/// applies, the revision.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The repository could not be reached: connection refused, DNS, TLS, HTTP 404, no such path.
    #[error("repository {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    /// The server refused the credentials, or wanted some and got none (HTTP 401/403, ssh denied).
    #[error("repository {url} refused authentication: {detail}")]
    Auth { url: String, detail: String },
    /// The revision is neither a branch, a tag nor a commit id known to the repository.
    #[error("revision {revision:?} not found in repository {url}")]
    RevisionNotFound { url: String, revision: String },
    /// The repository was reached but the Git operation failed (corrupt data, protocol error).
    #[error("git error in repository {url}: {detail}")]
    Git { url: String, detail: String },
    /// The repository holds a file, or a commit's tree adds up to, more than the agent's limits
    /// (`--max-file-size`, `--max-checkout-size`). Nothing was written.
    #[error("repository {url}: {detail}")]
    TooLarge { url: String, detail: String },
    /// A `file://` URL or a local path, and the agent was not started to allow them.
    #[error(
        "repository {url} is on the agent's own disk; this agent reads local repositories only when started with --allow-local-repos"
    )]
    LocalNotAllowed { url: String },
    /// Local file-system trouble in the cache directory.
    #[error("source cache I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl SourceError {
    /// A copy, for handing one failed poll's error to every caller that waited for it.
    pub(crate) fn duplicate(&self) -> SourceError {
        match self {
            SourceError::Unreachable { url, detail } => SourceError::Unreachable {
                url: url.clone(),
                detail: detail.clone(),
            },
            SourceError::Auth { url, detail } => SourceError::Auth {
                url: url.clone(),
                detail: detail.clone(),
            },
            SourceError::RevisionNotFound { url, revision } => SourceError::RevisionNotFound {
                url: url.clone(),
                revision: revision.clone(),
            },
            SourceError::Git { url, detail } => SourceError::Git {
                url: url.clone(),
                detail: detail.clone(),
            },
            SourceError::TooLarge { url, detail } => SourceError::TooLarge {
                url: url.clone(),
                detail: detail.clone(),
            },
            SourceError::LocalNotAllowed { url } => {
                SourceError::LocalNotAllowed { url: url.clone() }
            }
            SourceError::Io(e) => SourceError::Io(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}

/// Where in a fetch an error happened; it decides how an unclassified gix error is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connecting, the handshake and listing refs: a failure here means the remote is unreachable.
    Connect,
    /// Reading or writing objects after the remote answered, or local repository work.
    Transfer,
}

/// Turn a gix error into a [`SourceError`], by the classes gix attaches to its causes.
///
/// gix marks HTTP 401 and rejected credentials as `Unauthenticated` and HTTP 403 and ssh's
/// "Permission denied" as `PermissionDenied`; both mean the user must fix credentials. Anything
/// else before the remote has answered means it could not be reached.
pub(crate) fn from_gix(url: &str, phase: Phase, err: &gix::Error) -> SourceError {
    let detail = describe(err);
    let refused_identity = matches!(
        err.downcast_any_ref::<gix::protocol::transport::client::Error>(),
        Some(gix::protocol::transport::client::Error::AuthenticationRefused(_))
    );
    let auth = err.is_unauthenticated()
        || err.is_permission_denied()
        || refused_identity
        || looks_like_auth_failure(&detail);
    let url = url.to_owned();
    if auth && phase == Phase::Connect {
        SourceError::Auth { url, detail }
    } else if phase == Phase::Connect {
        SourceError::Unreachable { url, detail }
    } else {
        SourceError::Git { url, detail }
    }
}

/// Some transports (the ssh program, `git-upload-pack`) only report a denial on stderr, which gix
/// passes on as text; recognise the usual wordings so they are reported as credential problems.
fn looks_like_auth_failure(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("permission denied")
        || d.contains("authentication failed")
        || d.contains("host key verification failed")
}

/// The whole cause chain in one line, without repeating messages that wrap each other.
pub(crate) fn describe(err: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.iter_errors() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || parts.iter().any(|p| p.contains(text)) {
            continue;
        }
        parts.push(text.to_owned());
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}
