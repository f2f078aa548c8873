//! The requests each target expects, built from one fact. Pure: no I/O, so
//! every shape is unit-tested against the documented one.
//!
//! - `webhook`: tether's own JSON (documented in docs/notifications.md),
//!   signed `X-Tether-Signature: sha256=<hex HMAC-SHA256 of the body>`.
//! - `slack`: an incoming webhook message (`text`, and an attachment with a
//!   colour and fields).
//! - `teams`: a message carrying an Adaptive Card, which both Teams incoming
//!   webhooks and Workflows webhooks accept.
//! - `github`: `POST {api}/repos/{owner}/{repo}/statuses/{sha}` with
//!   `Authorization: Bearer`.
//! - `gitlab`: `POST {api}/projects/{id}/statuses/{sha}` with `PRIVATE-TOKEN`.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tether_engine::report::{Fact, FactKind, Severity};
use tether_model::NotifierSpec;
use tether_model::notifier::TargetType;

use super::filter::AppInfo;

pub const DEFAULT_GITHUB_API: &str = "https://api.github.com";
pub const DEFAULT_GITLAB_API: &str = "https://gitlab.com/api/v4";
/// The generic webhook's signature header.
pub const SIGNATURE_HEADER: &str = "X-Tether-Signature";

/// What the Notifier's Secret holds. Never logged, never in a status.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub address: Option<String>,
    pub token: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets([redacted])")
    }
}

impl Secrets {
    /// The values to scrub from anything shown.
    pub fn values(&self) -> Vec<&str> {
        [self.address.as_deref(), self.token.as_deref()]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// One HTTP request to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL and headers may be secret (a Slack hook, a token).
        f.debug_struct("Outgoing")
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish_non_exhaustive()
    }
}

/// Where one delivery goes and what it says.
pub struct Context<'a> {
    /// `namespace/name` of the Notifier.
    pub notifier: &'a str,
    pub spec: &'a NotifierSpec,
    pub secrets: &'a Secrets,
    pub app: &'a AppInfo,
    pub fact: &'a Fact,
    /// Stable across retries, so a receiver can drop repeats.
    pub delivery_id: &'a str,
}

/// The request for one delivery, or why none can be made (a missing address
/// or token, a repository that cannot be told). The error names no secret.
pub fn build(cx: &Context) -> Result<Outgoing, String> {
    match cx.spec.target {
        TargetType::Webhook => webhook(cx),
        TargetType::Slack => {
            let url = address(cx)?;
            Ok(json_request(url, vec![], &slack_body(cx.app, cx.fact)))
        }
        TargetType::Teams => {
            let url = address(cx)?;
            Ok(json_request(url, vec![], &teams_body(cx.app, cx.fact)))
        }
        TargetType::Github => github(cx),
        TargetType::Gitlab => gitlab(cx),
    }
}

/// An http(s) URL. The error does not repeat the URL: it may be a secret.
pub fn check_url(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(()),
        "http" | "https" => Err("the URL has no host".into()),
        other => Err(format!("scheme {other:?}: only http and https")),
    }
}

fn address(cx: &Context) -> Result<String, String> {
    let url = cx
        .secrets
        .address
        .clone()
        .or_else(|| cx.spec.address.clone())
        .ok_or_else(|| {
            "no address: set spec.address or an `address` key in the Secret".to_string()
        })?;
    let url = url.trim().to_string();
    check_url(&url).map_err(|e| format!("the address: {e}"))?;
    Ok(url)
}

fn json_request(url: String, mut headers: Vec<(String, String)>, body: &Value) -> Outgoing {
    headers.insert(0, ("Content-Type".into(), "application/json".into()));
    Outgoing {
        url,
        headers,
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

/// One line: what happened to which app at which commit.
pub fn title(app: &AppInfo, fact: &Fact) -> String {
    let what = match &fact.kind {
        FactKind::SyncStarted { .. } => "sync started",
        FactKind::SyncSucceeded { .. } => "sync succeeded",
        FactKind::SyncFailed { .. } => "sync failed",
        FactKind::ReconcileFailed { .. } => "reconcile failed",
        FactKind::HealthDegraded { .. } => "health degraded",
        FactKind::HealthRecovered => "health recovered",
        FactKind::DriftDetected { .. } => "drift detected",
        FactKind::SelfHealed { .. } => "self-healed",
        FactKind::RolledBack => "rolled back",
        FactKind::SyncBlocked { .. } => "sync blocked",
    };
    match &fact.commit {
        Some(c) => format!("{}: {what} at {}", app.key(), short(&c.revision)),
        None => format!("{}: {what}", app.key()),
    }
}

/// The detail: the error, the reason, the drifted object.
pub fn message(fact: &Fact) -> String {
    match &fact.kind {
        FactKind::SyncStarted { initiator, reason } => format!("{reason} (by {initiator})"),
        FactKind::SyncSucceeded { initiator, message } => {
            if message.is_empty() {
                format!("by {initiator}")
            } else {
                format!("{message} (by {initiator})")
            }
        }
        FactKind::SyncFailed {
            message, transient, ..
        } => {
            if *transient {
                format!("{message} (the cluster failed, not the commit; retrying)")
            } else {
                message.clone()
            }
        }
        FactKind::ReconcileFailed {
            stage,
            reason,
            message,
        } => format!("{reason} in {}: {message}", stage.as_str()),
        FactKind::HealthDegraded { message } => message.clone(),
        FactKind::HealthRecovered => "healthy again".into(),
        FactKind::DriftDetected {
            object,
            fields,
            manager,
        } => format!("{object} changed by {manager}: {}", fields.join(", ")),
        FactKind::SelfHealed { objects } => format!("{objects} object(s) put back as Git has them"),
        FactKind::RolledBack => "synced to the commit a rollback holds".into(),
        FactKind::SyncBlocked { reason } => reason.clone(),
    }
}

fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

fn severity(fact: &Fact) -> &'static str {
    match fact.severity() {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

/// Good news, a warning, or bad news (for colours).
fn mood(fact: &Fact) -> Mood {
    match (&fact.kind, fact.severity()) {
        (_, Severity::Error) => Mood::Bad,
        (_, Severity::Warning) => Mood::Warn,
        (FactKind::SyncSucceeded { .. } | FactKind::HealthRecovered, _) => Mood::Good,
        _ => Mood::Neutral,
    }
}

enum Mood {
    Good,
    Neutral,
    Warn,
    Bad,
}

/// tether's own JSON for the generic webhook.
pub fn webhook_body(cx: &Context) -> Value {
    let mut details = serde_json::to_value(&cx.fact.kind).unwrap_or(Value::Null);
    if let Some(d) = details.as_object_mut() {
        d.remove("type");
    }
    json!({
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Notification",
        "id": cx.delivery_id,
        "notifier": cx.notifier,
        "event": cx.fact.kind.name(),
        "severity": severity(cx.fact),
        "time": cx.fact.time,
        "app": {
            "namespace": cx.app.namespace,
            "name": cx.app.name,
            "repoURL": cx.app.repo_url,
            "path": cx.app.path,
        },
        "revision": cx.fact.commit.as_ref().map(|c| c.revision.clone()),
        "commit": cx.fact.commit,
        "title": title(cx.app, cx.fact),
        "message": message(cx.fact),
        "details": details,
    })
}

/// HMAC-SHA256 of `body` with `key`, as `sha256=<hex>`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    // new_from_slice accepts keys of any length for HMAC.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn webhook(cx: &Context) -> Result<Outgoing, String> {
    let url = address(cx)?;
    let body = serde_json::to_vec(&webhook_body(cx)).unwrap_or_default();
    let mut headers = vec![
        ("Content-Type".into(), "application/json".into()),
        ("X-Tether-Event".into(), cx.fact.kind.name().to_string()),
        ("X-Tether-Delivery".into(), cx.delivery_id.to_string()),
    ];
    if let Some(key) = &cx.secrets.token {
        headers.push((SIGNATURE_HEADER.into(), signature(key.as_bytes(), &body)));
    }
    Ok(Outgoing { url, headers, body })
}

/// A Slack incoming webhook message.
pub fn slack_body(app: &AppInfo, fact: &Fact) -> Value {
    let color = match mood(fact) {
        Mood::Good => "good",
        Mood::Neutral => "#439FE0",
        Mood::Warn => "warning",
        Mood::Bad => "danger",
    };
    let mut fields = vec![json!({"title": "Event", "value": fact.kind.name(), "short": true})];
    if let Some(c) = &fact.commit {
        fields.push(json!({"title": "Revision", "value": short(&c.revision), "short": true}));
        if !c.author.is_empty() {
            fields.push(json!({"title": "Author", "value": c.author, "short": true}));
        }
    }
    json!({
        "text": title(app, fact),
        "attachments": [{
            "color": color,
            "fallback": format!("{}: {}", title(app, fact), message(fact)),
            "text": message(fact),
            "fields": fields,
        }],
    })
}

/// A Teams message with an Adaptive Card.
pub fn teams_body(app: &AppInfo, fact: &Fact) -> Value {
    let color = match mood(fact) {
        Mood::Good => "Good",
        Mood::Neutral => "Default",
        Mood::Warn => "Warning",
        Mood::Bad => "Attention",
    };
    let mut facts = vec![
        json!({"title": "App", "value": app.key()}),
        json!({"title": "Event", "value": fact.kind.name()}),
    ];
    if let Some(c) = &fact.commit {
        facts.push(json!({"title": "Revision", "value": c.revision}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": title(app, fact), "weight": "Bolder",
                     "size": "Medium", "wrap": true, "color": color},
                    {"type": "TextBlock", "text": message(fact), "wrap": true},
                    {"type": "FactSet", "facts": facts},
                ],
            },
        }],
    })
}

/// The commit status an event sets: GitHub's and GitLab's words.
pub fn commit_state(fact: &Fact) -> Option<(&'static str, &'static str)> {
    match &fact.kind {
        FactKind::SyncStarted { .. } => Some(("pending", "running")),
        FactKind::SyncSucceeded { .. } | FactKind::HealthRecovered => Some(("success", "success")),
        FactKind::SyncFailed { .. }
        | FactKind::ReconcileFailed { .. }
        | FactKind::HealthDegraded { .. } => Some(("failure", "failed")),
        _ => None,
    }
}

/// The status's context (GitHub) or name (GitLab): one check per app.
pub fn commit_context(app: &AppInfo) -> String {
    format!("tether/{}/{}", app.namespace, app.name)
}

/// A description within GitHub's 140 characters.
fn description(fact: &Fact) -> String {
    let text = format!("{}: {}", fact.kind.name(), message(fact));
    let text = text.replace(['\n', '\r'], " ");
    if text.chars().count() <= 140 {
        return text;
    }
    let mut cut: String = text.chars().take(139).collect();
    cut.push('…');
    cut
}

/// The repository path of a Git URL: `https://host/a/b.git`, `ssh://git@host/a/b`,
/// `git@host:a/b.git` all give `a/b`.
pub fn repo_path(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = if let Some((_, after)) = url.split_once("://") {
        after.split_once('/')?.1
    } else if let Some((host, path)) = url.split_once(':') {
        // scp-style user@host:path (a Windows drive letter is not a host here).
        if host.len() <= 1 {
            return None;
        }
        path
    } else {
        return None;
    };
    let rest = rest.trim_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    (!rest.is_empty()).then(|| rest.to_string())
}

fn api_base(cx: &Context, default: &str) -> Result<String, String> {
    let base = cx.spec.address.clone().unwrap_or_else(|| default.into());
    check_url(&base).map_err(|e| format!("spec.address: {e}"))?;
    Ok(base.trim().trim_end_matches('/').to_string())
}

fn token<'a>(cx: &'a Context) -> Result<&'a str, String> {
    cx.secrets
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "no token: the Secret needs a `token` key".to_string())
}

fn commit_of<'a>(cx: &'a Context) -> Result<&'a str, String> {
    let c = cx
        .fact
        .commit
        .as_ref()
        .ok_or("the event has no commit to set a status on")?;
    if c.revision.is_empty() || !c.revision.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return Err(format!("{:?} is not a commit id", c.revision));
    }
    Ok(&c.revision)
}

fn github(cx: &Context) -> Result<Outgoing, String> {
    let base = api_base(cx, DEFAULT_GITHUB_API)?;
    let token = token(cx)?;
    let sha = commit_of(cx)?;
    let (state, _) = commit_state(cx.fact).ok_or("not a commit status event")?;
    let repo = match &cx.spec.repository {
        Some(r) => r.trim_matches('/').to_string(),
        None => {
            let p = repo_path(&cx.app.repo_url)
                .ok_or("cannot tell owner/repo from the app's repoURL: set spec.repository")?;
            let parts: Vec<&str> = p.rsplitn(3, '/').collect();
            if parts.len() < 2 {
                return Err(
                    "cannot tell owner/repo from the app's repoURL: set spec.repository".into(),
                );
            }
            format!("{}/{}", parts[1], parts[0])
        }
    };
    let mut segments = repo.split('/');
    let (Some(owner), Some(name), None) = (segments.next(), segments.next(), segments.next())
    else {
        return Err(format!("repository {repo:?}: expected owner/repo"));
    };
    let url = format!(
        "{base}/repos/{}/{}/statuses/{sha}",
        encode_segment(owner),
        encode_segment(name)
    );
    let body = json!({
        "state": state,
        "description": description(cx.fact),
        "context": commit_context(cx.app),
    });
    Ok(json_request(
        url,
        vec![
            ("Accept".into(), "application/vnd.github+json".into()),
            ("Authorization".into(), format!("Bearer {token}")),
            ("X-GitHub-Api-Version".into(), "2022-11-28".into()),
        ],
        &body,
    ))
}

fn gitlab(cx: &Context) -> Result<Outgoing, String> {
    let base = api_base(cx, DEFAULT_GITLAB_API)?;
    let token = token(cx)?;
    let sha = commit_of(cx)?;
    let (_, state) = commit_state(cx.fact).ok_or("not a commit status event")?;
    let project = match &cx.spec.repository {
        Some(r) => r.trim_matches('/').to_string(),
        None => repo_path(&cx.app.repo_url)
            .ok_or("cannot tell the project from the app's repoURL: set spec.repository")?,
    };
    // A numeric id as is; a path URL-encoded into one segment (group%2Fproject).
    let url = format!(
        "{base}/projects/{}/statuses/{sha}",
        encode_segment(&project)
    );
    let body = json!({
        "state": state,
        "name": commit_context(cx.app),
        "description": description(cx.fact),
    });
    Ok(json_request(
        url,
        vec![("PRIVATE-TOKEN".into(), token.to_string())],
        &body,
    ))
}

/// Percent-encode everything but unreserved characters, so `/` becomes `%2F`.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `text` with every secret value replaced, for logs, status and the audit log.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let s = s.trim();
        // Very short values would redact ordinary words; real secrets are long.
        if s.len() >= 6 {
            out = out.replace(s, "[redacted]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_engine::report::{Commit, Stage};

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn app() -> AppInfo {
        AppInfo {
            namespace: "tether".into(),
            name: "web".into(),
            repo_url: "https://github.com/acme/deploy.git".into(),
            path: "apps/web".into(),
            ..Default::default()
        }
    }

    fn fact(kind: FactKind) -> Fact {
        Fact {
            namespace: "tether".into(),
            name: "web".into(),
            commit: Some(Commit {
                revision: SHA.into(),
                author: "Ada".into(),
                message: "bump".into(),
            }),
            time: "2026-01-01T00:00:00Z".into(),
            kind,
        }
    }

    fn failed() -> Fact {
        fact(FactKind::SyncFailed {
            initiator: "auto".into(),
            message: "Deployment web: spec.selector: Required value".into(),
            transient: false,
        })
    }

    fn spec(v: Value) -> NotifierSpec {
        serde_json::from_value(v).unwrap()
    }

    fn build_with(spec: &NotifierSpec, secrets: &Secrets, fact: &Fact) -> Result<Outgoing, String> {
        let app = app();
        build(&Context {
            notifier: "tether/n",
            spec,
            secrets,
            app: &app,
            fact,
            delivery_id: "d1",
        })
    }

    fn header<'a>(o: &'a Outgoing, name: &str) -> Option<&'a str> {
        o.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn body(o: &Outgoing) -> Value {
        serde_json::from_slice(&o.body).unwrap()
    }

    #[test]
    fn github_commit_status() {
        let s = spec(json!({"type": "github", "secretRef": "gh"}));
        let secrets = Secrets {
            token: Some("ghp_secret123".into()),
            ..Default::default()
        };
        let o = build_with(&s, &secrets, &failed()).unwrap();
        assert_eq!(
            o.url,
            format!("https://api.github.com/repos/acme/deploy/statuses/{SHA}")
        );
        assert_eq!(header(&o, "authorization"), Some("Bearer ghp_secret123"));
        assert_eq!(header(&o, "accept"), Some("application/vnd.github+json"));
        let b = body(&o);
        assert_eq!(b["state"], "failure");
        assert_eq!(b["context"], "tether/tether/web");
        assert!(b["description"].as_str().unwrap().chars().count() <= 140);
        let ok = fact(FactKind::SyncSucceeded {
            initiator: "auto".into(),
            message: String::new(),
        });
        assert_eq!(
            body(&build_with(&s, &secrets, &ok).unwrap())["state"],
            "success"
        );
        // Enterprise: the base URL is configurable.
        let ghe = spec(json!({"type": "github", "secretRef": "gh",
            "address": "https://ghe.example.com/api/v3/", "repository": "team/app"}));
        assert_eq!(
            build_with(&ghe, &secrets, &ok).unwrap().url,
            format!("https://ghe.example.com/api/v3/repos/team/app/statuses/{SHA}")
        );
        // No token: a clear error naming nothing secret.
        let e = build_with(&s, &Secrets::default(), &ok).unwrap_err();
        assert!(e.contains("token"));
    }

    #[test]
    fn gitlab_commit_status() {
        let s = spec(json!({"type": "gitlab", "secretRef": "gl",
            "address": "https://gitlab.example.com/api/v4"}));
        let secrets = Secrets {
            token: Some("glpat-secret".into()),
            ..Default::default()
        };
        let mut f = failed();
        let app = AppInfo {
            repo_url: "git@gitlab.example.com:group/sub/deploy.git".into(),
            ..app()
        };
        let o = build(&Context {
            notifier: "tether/n",
            spec: &s,
            secrets: &secrets,
            app: &app,
            fact: &f,
            delivery_id: "d",
        })
        .unwrap();
        assert_eq!(
            o.url,
            format!(
                "https://gitlab.example.com/api/v4/projects/group%2Fsub%2Fdeploy/statuses/{SHA}"
            )
        );
        assert_eq!(header(&o, "PRIVATE-TOKEN"), Some("glpat-secret"));
        assert_eq!(header(&o, "authorization"), None);
        let b = body(&o);
        assert_eq!(b["state"], "failed");
        assert_eq!(b["name"], "tether/tether/web");
        f.kind = FactKind::SyncStarted {
            initiator: "auto".into(),
            reason: "r".into(),
        };
        let started = build_with(&s, &secrets, &f).unwrap();
        assert_eq!(body(&started)["state"], "running");
        // A commit that is not a hex id is refused, not sent.
        f.commit.as_mut().unwrap().revision = "../../x".into();
        assert!(build_with(&s, &secrets, &f).is_err());
    }

    #[test]
    fn slack_and_teams_shapes() {
        let secrets = Secrets {
            address: Some("https://hooks.slack.com/services/T/B/X".into()),
            ..Default::default()
        };
        let s = spec(json!({"type": "slack", "secretRef": "s"}));
        let o = build_with(&s, &secrets, &failed()).unwrap();
        assert_eq!(o.url, "https://hooks.slack.com/services/T/B/X");
        assert_eq!(header(&o, "content-type"), Some("application/json"));
        let b = body(&o);
        assert_eq!(b["text"], "tether/web: sync failed at 0123456");
        assert_eq!(b["attachments"][0]["color"], "danger");
        assert!(
            b["attachments"][0]["text"]
                .as_str()
                .unwrap()
                .contains("selector")
        );

        let t = spec(json!({"type": "teams", "address": "https://example.webhook.office.com/x"}));
        let o = build_with(&t, &Secrets::default(), &failed()).unwrap();
        let b = body(&o);
        assert_eq!(b["type"], "message");
        let card = &b["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(card["content"]["body"][0]["color"], "Attention");
        // The Secret's address wins over the spec's.
        let o = build_with(&t, &secrets, &failed()).unwrap();
        assert!(o.url.starts_with("https://hooks.slack.com"));
    }

    #[test]
    fn webhook_is_signed_over_the_exact_body() {
        let s = spec(json!({"type": "webhook", "address": "http://127.0.0.1:9/hook"}));
        let secrets = Secrets {
            token: Some("signing-key".into()),
            ..Default::default()
        };
        let o = build_with(&s, &secrets, &failed()).unwrap();
        let sig = header(&o, SIGNATURE_HEADER).unwrap();
        assert_eq!(sig, signature(b"signing-key", &o.body));
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert_eq!(header(&o, "X-Tether-Event"), Some("SyncFailed"));
        assert_eq!(header(&o, "X-Tether-Delivery"), Some("d1"));
        let b = body(&o);
        assert_eq!(b["event"], "SyncFailed");
        assert_eq!(b["severity"], "error");
        assert_eq!(b["revision"], SHA);
        assert_eq!(b["app"]["name"], "web");
        assert_eq!(b["details"]["transient"], false);
        assert!(b["details"].get("type").is_none());
        // Unsigned without a key.
        let o = build_with(&s, &Secrets::default(), &failed()).unwrap();
        assert!(header(&o, SIGNATURE_HEADER).is_none());
    }

    #[test]
    fn hmac_matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn repo_paths() {
        assert_eq!(
            repo_path("https://github.com/a/b.git").as_deref(),
            Some("a/b")
        );
        assert_eq!(repo_path("ssh://git@host:22/a/b").as_deref(), Some("a/b"));
        assert_eq!(repo_path("git@github.com:a/b.git").as_deref(), Some("a/b"));
        assert_eq!(
            repo_path("https://gitlab.com/g/s/p").as_deref(),
            Some("g/s/p")
        );
        assert_eq!(repo_path("/srv/repo"), None);
        assert_eq!(repo_path("https://host"), None);
    }

    #[test]
    fn bad_addresses_are_refused_without_echoing_them() {
        let s = spec(json!({"type": "slack", "secretRef": "s"}));
        let secrets = Secrets {
            address: Some("file:///etc/passwd-secretish".into()),
            ..Default::default()
        };
        let e = build_with(&s, &secrets, &failed()).unwrap_err();
        assert!(!e.contains("secretish"), "{e}");
        let none = build_with(&s, &Secrets::default(), &failed()).unwrap_err();
        assert!(none.contains("address"));
    }

    #[test]
    fn redaction_and_messages() {
        assert_eq!(
            redact(
                "POST https://hooks/x/T0KEN1 failed",
                &["https://hooks/x/T0KEN1"]
            ),
            "POST [redacted] failed"
        );
        assert_eq!(redact("abc", &["a"]), "abc");
        let f = fact(FactKind::ReconcileFailed {
            stage: Stage::Render,
            reason: "RenderFailed".into(),
            message: "bad yaml".into(),
        });
        assert_eq!(message(&f), "RenderFailed in render: bad yaml");
        assert_eq!(
            format!(
                "{:?}",
                Secrets {
                    token: Some("t0ps3cret".into()),
                    address: None
                }
            ),
            "Secrets([redacted])"
        );
        let long = fact(FactKind::SyncFailed {
            initiator: "auto".into(),
            message: "x".repeat(500),
            transient: true,
        });
        assert_eq!(description(&long).chars().count(), 140);
    }
}
