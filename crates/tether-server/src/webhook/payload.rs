//! What a push event says, read from each host's published payload shapes:
//! which repository (in every URL form the host gives), which refs moved, the default
//! branch when the host names it, and the changed files when it lists them.
//!
//! Only what tether needs is read; everything else in a payload is ignored, and nothing
//! in it is trusted beyond "look at this repository now".

use serde_json::Value;

use super::Host;

/// One push: a hint that these refs of this repository moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Push {
    /// The repository's URLs as the host gives them (web, https clone, ssh clone).
    pub urls: Vec<String>,
    /// Full ref names that moved: `refs/heads/main`, `refs/tags/v1`. Empty: unknown
    /// (a generic push without `ref`), so every revision of the repository is woken.
    pub refs: Vec<String>,
    /// The repository's default branch, when the payload names it: apps without a revision
    /// (the remote's HEAD) follow it.
    pub default_branch: Option<String>,
    /// Files added, modified or removed, when the host lists them all.
    pub changed_files: Option<Vec<String>>,
}

/// What a request was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Push(Push),
    /// The host checking the hook works (GitHub `ping`, Bitbucket Data Center's test).
    Ping,
    /// Another event (a pull request, an issue): nothing to do.
    Other(String),
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the push has no {0}")]
    Missing(&'static str),
    #[error("the body is form-encoded; set the webhook's content type to application/json")]
    FormEncoded,
}

/// Read a request: the event type from its headers, the push from its JSON body.
pub fn parse<'a>(
    host: Host,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
) -> Result<Event, Malformed> {
    let event = match host {
        Host::GitHub => header("x-github-event").unwrap_or("push"),
        Host::Gitea => header("x-gitea-event")
            .or_else(|| header("x-gogs-event"))
            .or_else(|| header("x-github-event"))
            .unwrap_or("push"),
        Host::GitLab => header("x-gitlab-event").unwrap_or("Push Hook"),
        Host::Bitbucket => header("x-event-key").unwrap_or("repo:push"),
        Host::Generic => "push",
    };
    if body.starts_with(b"payload=") {
        return Err(Malformed::FormEncoded);
    }
    let json: Value =
        serde_json::from_slice(body).map_err(|e| Malformed::NotJson(e.to_string()))?;
    if !json.is_object() {
        return Err(Malformed::NotJson("expected a JSON object".into()));
    }
    match (host, event) {
        (Host::GitHub | Host::Gitea, "ping") | (Host::Bitbucket, "diagnostics:ping") => {
            Ok(Event::Ping)
        }
        (Host::GitHub | Host::Gitea, "push") => github_like(&json).map(Event::Push),
        (Host::GitLab, "Push Hook" | "Tag Push Hook" | "System Hook")
            if matches!(str_at(&json, "/object_kind"), Some("push" | "tag_push"))
                || event != "System Hook" =>
        {
            gitlab(&json).map(Event::Push)
        }
        (Host::Bitbucket, "repo:push") => bitbucket_cloud(&json).map(Event::Push),
        (Host::Bitbucket, "repo:refs_changed") => bitbucket_server(&json).map(Event::Push),
        (Host::Generic, _) => generic(&json).map(Event::Push),
        (_, other) => Ok(Event::Other(other.to_owned())),
    }
}

fn str_at<'v>(json: &'v Value, pointer: &str) -> Option<&'v str> {
    json.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn urls(json: &Value, pointers: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = pointers
        .iter()
        .filter_map(|p| str_at(json, p))
        .map(str::to_owned)
        .collect();
    out.dedup();
    out
}

/// Files of `commits[].{added,modified,removed}`; `None` when the list is cut short
/// (GitHub lists at most 20 commits, GitLab 20) or absent.
fn changed_files(json: &Value, total_commits: Option<u64>) -> Option<Vec<String>> {
    let commits = json.get("commits")?.as_array()?;
    if total_commits.is_some_and(|n| n as usize > commits.len()) || commits.len() >= 20 {
        return None;
    }
    let mut files = Vec::new();
    for c in commits {
        for field in ["added", "modified", "removed"] {
            for f in c.get(field)?.as_array()? {
                files.push(f.as_str()?.to_owned());
            }
        }
    }
    files.sort();
    files.dedup();
    Some(files)
}

/// GitHub and Gitea `push`: `ref`, `repository.{html_url,clone_url,ssh_url,…}`,
/// `repository.default_branch`, `commits[]` with their files.
fn github_like(json: &Value) -> Result<Push, Malformed> {
    let git_ref = str_at(json, "/ref").ok_or(Malformed::Missing("ref"))?;
    let urls = urls(
        json,
        &[
            "/repository/html_url",
            "/repository/clone_url",
            "/repository/ssh_url",
            "/repository/git_url",
            "/repository/url",
        ],
    );
    if urls.is_empty() {
        return Err(Malformed::Missing("repository URL"));
    }
    Ok(Push {
        urls,
        refs: vec![git_ref.to_owned()],
        default_branch: str_at(json, "/repository/default_branch").map(str::to_owned),
        changed_files: changed_files(json, None),
    })
}

/// GitLab `Push Hook` / `Tag Push Hook`: `ref`, `project.{git_http_url,git_ssh_url,web_url}`
/// (older payloads: `repository.{git_http_url,git_ssh_url,homepage}`),
/// `project.default_branch`, `commits[]` and `total_commits_count`.
fn gitlab(json: &Value) -> Result<Push, Malformed> {
    let git_ref = str_at(json, "/ref").ok_or(Malformed::Missing("ref"))?;
    let urls = urls(
        json,
        &[
            "/project/git_http_url",
            "/project/git_ssh_url",
            "/project/web_url",
            "/repository/git_http_url",
            "/repository/git_ssh_url",
            "/repository/homepage",
            "/repository/url",
        ],
    );
    if urls.is_empty() {
        return Err(Malformed::Missing("project URL"));
    }
    Ok(Push {
        urls,
        refs: vec![git_ref.to_owned()],
        default_branch: str_at(json, "/project/default_branch").map(str::to_owned),
        changed_files: changed_files(
            json,
            json.get("total_commits_count").and_then(Value::as_u64),
        ),
    })
}

/// Bitbucket Cloud `repo:push`: `repository.links.html.href` (clone URLs are that plus
/// `.git`, or `git@bitbucket.org:{full_name}.git`), `push.changes[].new.{type,name}`.
/// No file lists.
fn bitbucket_cloud(json: &Value) -> Result<Push, Malformed> {
    let mut urls = urls(json, &["/repository/links/html/href"]);
    if let Some(full) = str_at(json, "/repository/full_name") {
        urls.push(format!("https://bitbucket.org/{full}"));
    }
    if urls.is_empty() {
        return Err(Malformed::Missing("repository.links.html.href"));
    }
    let changes = json
        .pointer("/push/changes")
        .and_then(Value::as_array)
        .ok_or(Malformed::Missing("push.changes"))?;
    let mut refs = Vec::new();
    for change in changes {
        // `new` is null when a branch was deleted: nothing to deploy from it.
        let (Some(kind), Some(name)) = (str_at(change, "/new/type"), str_at(change, "/new/name"))
        else {
            continue;
        };
        match kind {
            "branch" | "named_branch" => refs.push(format!("refs/heads/{name}")),
            "tag" | "annotated_tag" => refs.push(format!("refs/tags/{name}")),
            _ => {}
        }
    }
    if refs.is_empty() {
        return Err(Malformed::Missing("push.changes[].new (a branch or tag)"));
    }
    Ok(Push {
        urls,
        refs,
        default_branch: str_at(json, "/repository/mainbranch/name").map(str::to_owned),
        changed_files: None,
    })
}

/// Bitbucket Data Center `repo:refs_changed`: `repository.links.clone[].href`,
/// `changes[].ref.id` (`refs/heads/main`) or `changes[].refId`. No file lists.
fn bitbucket_server(json: &Value) -> Result<Push, Malformed> {
    let urls: Vec<String> = json
        .pointer("/repository/links/clone")
        .and_then(Value::as_array)
        .map(|links| {
            links
                .iter()
                .filter_map(|l| str_at(l, "/href").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if urls.is_empty() {
        return Err(Malformed::Missing("repository.links.clone"));
    }
    let changes = json
        .get("changes")
        .and_then(Value::as_array)
        .ok_or(Malformed::Missing("changes"))?;
    let refs: Vec<String> = changes
        .iter()
        .filter(|c| str_at(c, "/type") != Some("DELETE"))
        .filter_map(|c| str_at(c, "/ref/id").or_else(|| str_at(c, "/refId")))
        .map(str::to_owned)
        .collect();
    if refs.is_empty() {
        return Err(Malformed::Missing("changes[].ref.id"));
    }
    Ok(Push {
        urls,
        refs,
        default_branch: None,
        changed_files: None,
    })
}

/// tether's own shape, for any other host or a CI job:
/// `{"repository": URL, "ref": "refs/heads/main" | "main" (optional),
///   "defaultBranch": "main" (optional), "changedFiles": [..] (optional)}`.
fn generic(json: &Value) -> Result<Push, Malformed> {
    let url = str_at(json, "/repository").ok_or(Malformed::Missing("repository"))?;
    let refs = match str_at(json, "/ref") {
        Some(r) => vec![r.to_owned()],
        None => Vec::new(),
    };
    let changed_files = match json.get("changedFiles") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|f| f.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(Malformed::Missing("changedFiles as strings"))?,
        ),
        Some(_) => return Err(Malformed::Missing("changedFiles as a list")),
    };
    Ok(Push {
        urls: vec![url.to_owned()],
        refs,
        default_branch: str_at(json, "/defaultBranch").map(str::to_owned),
        changed_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(event: Option<(&'static str, &'static str)>) -> impl Fn(&str) -> Option<&'static str> {
        move |name: &str| {
            event
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        }
    }

    #[test]
    fn github_push() {
        let body = json!({
            "ref": "refs/heads/main", "before": "0", "after": "1",
            "repository": {"full_name": "org/repo", "html_url": "https://github.com/org/repo",
                "clone_url": "https://github.com/org/repo.git", "ssh_url": "git@github.com:org/repo.git",
                "default_branch": "main"},
            "commits": [{"id": "1", "added": ["a/x.yaml"], "modified": ["b/y.yaml"], "removed": []}]
        });
        let e = parse(
            Host::GitHub,
            with(Some(("X-GitHub-Event", "push"))),
            body.to_string().as_bytes(),
        )
        .unwrap();
        let Event::Push(p) = e else { panic!("{e:?}") };
        assert_eq!(p.refs, ["refs/heads/main"]);
        assert_eq!(p.urls.len(), 3);
        assert_eq!(p.default_branch.as_deref(), Some("main"));
        assert_eq!(
            p.changed_files,
            Some(vec!["a/x.yaml".into(), "b/y.yaml".into()])
        );
    }

    #[test]
    fn github_ping_and_other_events() {
        let body = br#"{"zen":"Design for failure.","hook_id":1}"#;
        assert_eq!(
            parse(Host::GitHub, with(Some(("X-GitHub-Event", "ping"))), body),
            Ok(Event::Ping)
        );
        assert_eq!(
            parse(Host::GitHub, with(Some(("X-GitHub-Event", "issues"))), body),
            Ok(Event::Other("issues".into()))
        );
    }

    #[test]
    fn gitlab_push_and_tag() {
        let body = json!({
            "object_kind": "tag_push", "ref": "refs/tags/v1.0.0",
            "project": {"git_http_url": "https://gitlab.com/g/p.git", "git_ssh_url": "git@gitlab.com:g/p.git",
                "web_url": "https://gitlab.com/g/p", "default_branch": "main"},
            "commits": [], "total_commits_count": 0
        });
        let Event::Push(p) = parse(
            Host::GitLab,
            with(Some(("X-Gitlab-Event", "Tag Push Hook"))),
            body.to_string().as_bytes(),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(p.refs, ["refs/tags/v1.0.0"]);
        assert_eq!(p.urls.len(), 3);
        // More commits than listed: the file list is incomplete, so none is given.
        let body = json!({"object_kind": "push", "ref": "refs/heads/main",
            "project": {"git_http_url": "https://gitlab.com/g/p.git"},
            "commits": [{"added": [], "modified": ["x"], "removed": []}], "total_commits_count": 30});
        let Event::Push(p) = parse(Host::GitLab, with(None), body.to_string().as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(p.changed_files, None);
    }

    #[test]
    fn bitbucket_cloud_and_server() {
        let cloud = json!({
            "repository": {"full_name": "team/repo", "links": {"html": {"href": "https://bitbucket.org/team/repo"}}},
            "push": {"changes": [
                {"new": {"type": "branch", "name": "main", "target": {"hash": "abc"}}, "old": null},
                {"new": null, "old": {"type": "branch", "name": "gone"}},
                {"new": {"type": "tag", "name": "v2"}}
            ]}
        });
        let Event::Push(p) = parse(
            Host::Bitbucket,
            with(Some(("X-Event-Key", "repo:push"))),
            cloud.to_string().as_bytes(),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(p.refs, ["refs/heads/main", "refs/tags/v2"]);
        let server = json!({
            "eventKey": "repo:refs_changed",
            "repository": {"slug": "repo", "project": {"key": "PRJ"}, "links": {"clone": [
                {"href": "ssh://git@bb.example.com:7999/prj/repo.git", "name": "ssh"},
                {"href": "https://bb.example.com/scm/prj/repo.git", "name": "http"}]}},
            "changes": [{"ref": {"id": "refs/heads/main", "displayId": "main", "type": "BRANCH"},
                "refId": "refs/heads/main", "fromHash": "a", "toHash": "b", "type": "UPDATE"}]
        });
        let Event::Push(p) = parse(
            Host::Bitbucket,
            with(Some(("X-Event-Key", "repo:refs_changed"))),
            server.to_string().as_bytes(),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(p.refs, ["refs/heads/main"]);
        assert_eq!(p.urls.len(), 2);
    }

    #[test]
    fn generic_push() {
        let Event::Push(p) = parse(
            Host::Generic,
            with(None),
            br#"{"repository":"https://h/r.git","ref":"main"}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(p.refs, ["main"]);
        let Event::Push(p) = parse(
            Host::Generic,
            with(None),
            br#"{"repository":"https://h/r.git"}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert!(p.refs.is_empty());
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let gh = with(Some(("X-GitHub-Event", "push")));
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"null",
            b"\xff\xfe",
            b"{\"ref\":1}",
            b"{\"ref\":\"refs/heads/x\"}",
            b"{\"ref\":\"refs/heads/x\",\"repository\":{\"html_url\":7}}",
        ] {
            assert!(
                parse(Host::GitHub, &gh, body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            parse(Host::GitHub, &gh, b"payload=%7B%7D"),
            Err(Malformed::FormEncoded)
        );
        assert!(
            parse(
                Host::Bitbucket,
                with(Some(("X-Event-Key", "repo:push"))),
                b"{\"repository\":{}}"
            )
            .is_err()
        );
        assert!(
            parse(
                Host::Generic,
                with(None),
                b"{\"repository\":\"x\",\"changedFiles\":[1]}"
            )
            .is_err()
        );
        // Deep nesting is refused by the JSON parser's recursion limit, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(parse(Host::Generic, with(None), deep.as_bytes()).is_err());
    }
}
