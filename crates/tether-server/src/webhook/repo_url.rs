//! One repository, however its URL is written.
//!
//! A push names its repository in several forms (`https://host/org/repo`, its `.git`
//! clone URL, `git@host:org/repo.git`, `ssh://git@host:7999/org/repo`), and an
//! Application names it in one of them. [`normalise`] maps every form to one key:
//! `host/path`, without scheme, user, password, port, `.git` or trailing `/`, in lower
//! case.
//!
//! Ports are dropped because one server answers https and ssh on different ports, and
//! case because GitHub and GitLab treat paths case-insensitively: a push is only a hint,
//! so matching one repository too many costs one poll, while missing one costs a whole
//! poll interval.

/// The key two URLs of one repository share; `None` for an empty URL.
pub fn normalise(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    // Local repositories: the path is the identity.
    if let Some(path) = url.strip_prefix("file://") {
        return Some(format!("/{}", trim_path(path))).filter(|p| p != "/");
    }
    if url.starts_with('/') {
        return Some(format!("/{}", trim_path(url)));
    }
    let (authority, path) = match url.split_once("://") {
        Some((_scheme, rest)) => rest.split_once('/').unwrap_or((rest, "")),
        // scp-like: `user@host:path`. A `:` after a `/` is not one (a relative path).
        None => match url.split_once(':') {
            Some((authority, path)) if !authority.contains('/') => (authority, path),
            _ => return Some(trim_path(url).to_ascii_lowercase()),
        },
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = strip_port(host_port);
    let path = trim_path(path);
    if host.is_empty() {
        return None;
    }
    Some(format!("{host}/{path}").to_ascii_lowercase())
}

fn strip_port(host_port: &str) -> &str {
    // `[::1]:8080` keeps its brackets; `host:22` loses the port.
    if let Some(end) = host_port.find(']') {
        return &host_port[..=end];
    }
    host_port.split(':').next().unwrap_or(host_port)
}

fn trim_path(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    path.trim_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_of_one_repository_match() {
        let key = Some("github.com/org/repo".to_owned());
        for url in [
            "https://github.com/org/repo",
            "https://github.com/org/repo.git",
            "https://GitHub.com/Org/Repo/",
            "http://github.com/org/repo",
            "https://bot:token@github.com:443/org/repo.git",
            "git@github.com:org/repo.git",
            "git@github.com:/org/repo",
            "ssh://git@github.com/org/repo.git",
            "ssh://git@github.com:22/org/repo",
            "git://github.com/org/repo",
            "  https://github.com/org/repo  ",
        ] {
            assert_eq!(normalise(url), key, "{url}");
        }
    }

    #[test]
    fn different_repositories_differ() {
        let a = normalise("https://github.com/org/repo");
        for url in [
            "https://github.com/org/repo2",
            "https://gitlab.com/org/repo",
            "https://github.com/other/repo",
            "https://github.com/org/repo/sub",
        ] {
            assert_ne!(normalise(url), a, "{url}");
        }
    }

    #[test]
    fn hosts_with_ports_and_ipv6() {
        assert_eq!(
            normalise("http://127.0.0.1:8080/fleet"),
            Some("127.0.0.1/fleet".into())
        );
        assert_eq!(
            normalise("http://[::1]:8080/a/b.git"),
            Some("[::1]/a/b".into())
        );
        assert_eq!(
            normalise("ssh://git@bitbucket.example.com:7999/proj/repo.git"),
            normalise("git@bitbucket.example.com:proj/repo")
        );
    }

    #[test]
    fn local_and_odd_inputs() {
        assert_eq!(normalise("file:///srv/x.git/"), Some("/srv/x".into()));
        assert_eq!(normalise("/srv/x"), Some("/srv/x".into()));
        assert_eq!(normalise(""), None);
        assert_eq!(normalise("   "), None);
        assert_eq!(normalise("https://"), None);
        assert_eq!(normalise("file://"), None);
        // Nothing panics on junk.
        for junk in ["://", ":", "@", "a:b:c", "[", "]:", "ssh://@:/", "\u{0}"] {
            let _ = normalise(junk);
        }
    }
}
