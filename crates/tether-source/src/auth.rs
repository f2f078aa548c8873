//! Credentials for fetching: HTTP basic auth through gix's credential hook, ssh keys through the
//! system `ssh` binary.
//!
//! Secrets never go into URLs, command lines or logs: basic credentials are handed to gix only
//! when the server asks for them (a 401), and an ssh key is written to a 0600 file in a private
//! temporary directory that lives only as long as the poll that needs it.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Credentials for one repository.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP(S) basic authentication. A bearer or access token is passed as the password with any
    /// username, as GitHub, GitLab and Gitea accept. Sent only in answer to the server's 401,
    /// over plain `http://` too (as git does: in-cluster Git servers often have no TLS).
    Basic { username: String, password: String },
    /// An ssh private key (OpenSSH PEM text) for `ssh://` and scp-style `user@host:path` URLs,
    /// used through the system `ssh` binary.
    ///
    /// With `known_hosts` (lines in OpenSSH `known_hosts` format), the host key must match one of
    /// them (`StrictHostKeyChecking=yes`). Without, the first key seen for a host is accepted and
    /// remembered in `<cache_dir>/ssh/known_hosts`; a later different key is refused
    /// (`StrictHostKeyChecking=accept-new`).
    SshKey {
        private_key: String,
        known_hosts: Option<String>,
    },
}

impl Auth {
    /// A short one-way digest of the credentials: tells two sets apart without revealing them.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        match self {
            Auth::Basic { username, password } => {
                h.update(b"basic\0");
                h.update(username.as_bytes());
                h.update(b"\0");
                h.update(password.as_bytes());
            }
            Auth::SshKey {
                private_key,
                known_hosts,
            } => {
                h.update(b"ssh\0");
                h.update(private_key.as_bytes());
                h.update(b"\0");
                h.update(known_hosts.as_deref().unwrap_or("").as_bytes());
            }
        }
        h.finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Redacts secrets: `Auth` ends up in debug logs of callers.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Auth::SshKey { known_hosts, .. } => f
                .debug_struct("SshKey")
                .field("private_key", &"<redacted>")
                .field(
                    "known_hosts",
                    &known_hosts.as_ref().map(|k| k.lines().count()),
                )
                .finish(),
        }
    }
}

/// The credential hook gix calls when an HTTP server answers 401.
///
/// Without basic credentials it answers "none", so gix reports an authentication error instead
/// of falling back to credential helpers or a terminal prompt, which an agent must never do.
pub(crate) fn credentials(
    auth: Option<Auth>,
) -> impl FnMut(
    gix::credentials::helper::Action,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    move |action| match (action, &auth) {
        (gix::credentials::helper::Action::Get(ctx), Some(Auth::Basic { username, password })) => {
            Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: username.clone(),
                    password: password.clone(),
                    oauth_refresh_token: None,
                },
                next: ctx.into(),
            }))
        }
        (gix::credentials::helper::Action::Get(ctx), Some(Auth::SshKey { .. })) => {
            // gix asks here after an HTTP 401 and after ssh reports "Permission denied".
            let http = ctx.url.as_ref().is_some_and(|u| u.starts_with(b"http"));
            Err(gix::error::message(if http {
                "the server asks for HTTP credentials, but the credentials configured are an ssh key"
            } else {
                "the server refused the configured ssh key"
            })
            .unauthenticated_error())
        }
        (gix::credentials::helper::Action::Get(_), None) => Err(gix::error::message(
            "the server requires credentials and none are configured for this repository",
        )
        .unauthenticated_error()),
        // Store/erase are about persisting credentials, which the caller owns (a Secret).
        _ => Ok(None),
    }
}

/// Files backing one ssh connection; removed when dropped.
pub(crate) struct SshFiles {
    _dir: tempfile::TempDir,
    /// The `core.sshCommand` value: the system `ssh` with our key and host-key policy.
    pub(crate) command: String,
}

/// Write `private_key` (and `known_hosts`, if given) to a fresh private directory and build the
/// ssh command line that uses them.
///
/// `remembered_hosts` is the persistent file used for accept-new when no `known_hosts` is given,
/// so a host key learnt on the first connection is enforced on later ones.
pub(crate) fn ssh_files(
    private_key: &str,
    known_hosts: Option<&str>,
    remembered_hosts: &Path,
) -> std::io::Result<SshFiles> {
    // tempfile creates the directory 0700, so only this user can even list the key.
    let dir = tempfile::Builder::new().prefix("tether-ssh-").tempdir()?;
    let key_path = dir.path().join("id");
    let mut key = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)?;
    key.write_all(private_key.as_bytes())?;
    // OpenSSH rejects a key file whose last line lacks its newline ("invalid format").
    if !private_key.ends_with('\n') {
        key.write_all(b"\n")?;
    }
    drop(key);

    let (known_hosts_path, strict): (PathBuf, &str) = match known_hosts {
        Some(lines) => {
            let path = dir.path().join("known_hosts");
            std::fs::write(&path, lines)?;
            (path, "yes")
        }
        None => {
            if let Some(parent) = remembered_hosts.parent() {
                std::fs::create_dir_all(parent)?;
            }
            (remembered_hosts.to_path_buf(), "accept-new")
        }
    };
    let mut command = format!(
        "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking={strict} -o UserKnownHostsFile={}",
        shell_quote(&key_path),
        shell_quote(&known_hosts_path),
    );
    if known_hosts.is_some() {
        // Only the hosts the user gave count, not whatever the machine trusts.
        command.push_str(" -o GlobalKnownHostsFile=/dev/null");
    }
    Ok(SshFiles { _dir: dir, command })
}

/// gix runs a `core.sshCommand` with arguments through `sh -c`, so paths are single-quoted.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn debug_never_prints_secrets() {
        let basic = Auth::Basic {
            username: "bot".into(),
            password: "s3cret".into(),
        };
        let ssh = Auth::SshKey {
            private_key: "KEYDATA".into(),
            known_hosts: None,
        };
        let text = format!("{basic:?} {ssh:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("KEYDATA"),
            "{text}"
        );
        assert!(text.contains("bot"));
    }

    #[test]
    fn ssh_key_file_is_private_and_command_uses_it() {
        let cache = tempfile::tempdir().unwrap();
        let remembered = cache.path().join("ssh/known_hosts");
        let files = ssh_files("KEY", Some("host ssh-ed25519 AAAA"), &remembered).unwrap();
        let key = files._dir.path().join("id");
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "KEY\n");
        assert!(
            files.command.contains("StrictHostKeyChecking=yes"),
            "{}",
            files.command
        );
        assert!(files.command.contains("IdentitiesOnly=yes"));
        assert!(files.command.contains(&format!("-i '{}'", key.display())));

        let files = ssh_files("KEY\n", None, &remembered).unwrap();
        assert!(files.command.contains("StrictHostKeyChecking=accept-new"));
        assert!(files.command.contains(&remembered.display().to_string()));
        let dir = files._dir.path().to_path_buf();
        drop(files);
        assert!(!dir.exists(), "the key must not outlive the connection");
    }
}
