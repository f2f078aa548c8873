//! Which Notifiers apply to an app, and which of its facts each wants. Pure.
//!
//! Scope: a Notifier applies to the apps in its own namespace, and a Notifier
//! in the agent's own namespace (where only the cluster's admins write) to
//! apps in every namespace, like Argo CD's default subscriptions. A team that
//! may create Notifiers in its namespace cannot subscribe to another team's
//! apps.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use tether_engine::report::{Fact, Severity};
use tether_model::notifier::{NotifyEvent, NotifySeverity};
use tether_model::{Application, Notifier, NotifierSpec};

/// What filters and payloads need of an Application.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppInfo {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub repo_url: String,
    pub path: String,
}

impl AppInfo {
    pub fn of(app: &Application) -> AppInfo {
        AppInfo {
            namespace: app.namespace().unwrap_or_default(),
            name: app.name_any(),
            labels: app.labels().clone(),
            repo_url: app.spec.source.repo_url.clone(),
            path: app.spec.source.path.clone().unwrap_or_default(),
        }
    }

    /// `namespace/name`, as the audit log and the status name apps.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The Notifiers that apply to `app` (scope, suspension aside, name globs and
/// label selector), in the order given. What `tether app get` and the API show.
/// `agent_namespace` is where cluster-wide Notifiers live.
pub fn matching<'a>(
    app: &Application,
    notifiers: &'a [Notifier],
    agent_namespace: &str,
) -> Vec<&'a Notifier> {
    let info = AppInfo::of(app);
    notifiers
        .iter()
        .filter(|n| applies(n, &info, agent_namespace))
        .collect()
}

/// Whether Notifier `n` covers `app`.
pub fn applies(n: &Notifier, app: &AppInfo, agent_namespace: &str) -> bool {
    let ns = n.namespace().unwrap_or_default();
    (ns == app.namespace || ns == agent_namespace) && selects(&n.spec, app)
}

/// The spec's app filters: name globs and label selector.
pub fn selects(spec: &NotifierSpec, app: &AppInfo) -> bool {
    (spec.apps.is_empty() || spec.apps.iter().any(|g| glob(g, &app.name)))
        && spec
            .selector
            .as_ref()
            .is_none_or(|s| selector_matches(s, &app.labels))
}

/// Whether the spec wants this fact: its event, severity and target.
pub fn wants(spec: &NotifierSpec, fact: &Fact) -> bool {
    let Some(event) = NotifyEvent::parse(fact.kind.name()) else {
        return false;
    };
    if spec.suspend {
        return false;
    }
    // A commit status needs the commit: a Source failure has none.
    if spec.target.is_commit_status() && (!event.shows_on_commit() || fact.commit.is_none()) {
        return false;
    }
    if !spec.events.is_empty() && !spec.events.contains(&event) {
        return false;
    }
    severity_at_least(fact.severity(), spec.severity.unwrap_or_default())
}

fn severity_at_least(s: Severity, min: NotifySeverity) -> bool {
    let rank = match s {
        Severity::Info => NotifySeverity::Info,
        Severity::Warning => NotifySeverity::Warning,
        Severity::Error => NotifySeverity::Error,
    };
    rank >= min
}

/// Shell-style glob over a whole name: `*` any run, `?` one character.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A Kubernetes label selector (matchLabels and matchExpressions) against labels.
/// An unknown operator matches nothing, as the API server would refuse it.
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_label = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expr = sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    });
    by_label && by_expr
}

/// What is wrong with a spec, before anything is sent; the status shows it.
pub fn validate(spec: &NotifierSpec) -> Result<(), String> {
    use tether_model::notifier::TargetType;
    if let Some(address) = &spec.address {
        super::payload::check_url(address).map_err(|e| format!("spec.address: {e}"))?;
    } else if spec.secret_ref.is_none() && !spec.target.is_commit_status() {
        return Err(format!(
            "a {} Notifier needs spec.address or a secretRef whose Secret has an `address` key",
            spec.target.as_str()
        ));
    }
    if spec.target.is_commit_status() && spec.secret_ref.is_none() {
        return Err(format!(
            "a {} Notifier needs a secretRef whose Secret has a `token` key",
            spec.target.as_str()
        ));
    }
    if spec.target == TargetType::Github
        && let Some(r) = &spec.repository
        && r.split('/').filter(|p| !p.is_empty()).count() != 2
    {
        return Err(format!(
            "spec.repository {r:?}: expected owner/repo for GitHub"
        ));
    }
    if spec.target.is_commit_status()
        && !spec.events.is_empty()
        && !spec.events.iter().any(|e| e.shows_on_commit())
    {
        return Err(
            "none of spec.events can be shown as a commit status (sync and health events can)"
                .into(),
        );
    }
    for e in spec
        .selector
        .iter()
        .flat_map(|s| s.match_expressions.iter().flatten())
    {
        if !["In", "NotIn", "Exists", "DoesNotExist"].contains(&e.operator.as_str()) {
            return Err(format!(
                "spec.selector: unknown operator {:?} (In, NotIn, Exists, DoesNotExist)",
                e.operator
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use tether_engine::report::FactKind;
    use tether_model::notifier::TargetType;

    fn notifier(ns: &str, spec: serde_json::Value) -> Notifier {
        let mut n = Notifier::new("n", serde_json::from_value(spec).unwrap());
        n.metadata.namespace = Some(ns.into());
        n
    }

    fn app(ns: &str, name: &str, labels: &[(&str, &str)]) -> AppInfo {
        AppInfo {
            namespace: ns.into(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn fact(kind: FactKind) -> Fact {
        Fact {
            namespace: "tether".into(),
            name: "web".into(),
            commit: None,
            time: String::new(),
            kind,
        }
    }

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("shop-*", "shop-web"));
        assert!(!glob("shop-*", "blog-web"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*-prod", "shop-eu-prod"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("web", "web"));
        assert!(!glob("web", "webs"));
        // Pathological patterns stay fast (no exponential backtracking).
        let long = "a".repeat(2000);
        assert!(!glob("*a*a*a*a*a*a*b", &long));
    }

    #[test]
    fn label_selectors() {
        let labels: BTreeMap<String, String> = [("team".to_string(), "shop".to_string())].into();
        let mut sel = LabelSelector {
            match_labels: Some([("team".to_string(), "shop".to_string())].into()),
            match_expressions: None,
        };
        assert!(selector_matches(&sel, &labels));
        sel.match_expressions = Some(vec![LabelSelectorRequirement {
            key: "tier".into(),
            operator: "DoesNotExist".into(),
            values: None,
        }]);
        assert!(selector_matches(&sel, &labels));
        sel.match_expressions = Some(vec![LabelSelectorRequirement {
            key: "team".into(),
            operator: "NotIn".into(),
            values: Some(vec!["shop".into()]),
        }]);
        assert!(!selector_matches(&sel, &labels));
        sel.match_expressions = Some(vec![LabelSelectorRequirement {
            key: "team".into(),
            operator: "Bogus".into(),
            values: None,
        }]);
        assert!(!selector_matches(&sel, &labels));
    }

    #[test]
    fn scope_is_own_namespace_or_the_agents() {
        let n = notifier("team-a", serde_json::json!({"type": "slack"}));
        assert!(applies(&n, &app("team-a", "web", &[]), "tether"));
        assert!(!applies(&n, &app("team-b", "web", &[]), "tether"));
        let global = notifier("tether", serde_json::json!({"type": "slack"}));
        assert!(applies(&global, &app("team-b", "web", &[]), "tether"));
    }

    #[test]
    fn names_and_labels_filter() {
        let n = notifier(
            "t",
            serde_json::json!({"type": "slack", "apps": ["shop-*", "blog"],
                "selector": {"matchLabels": {"env": "prod"}}}),
        );
        assert!(applies(&n, &app("t", "shop-web", &[("env", "prod")]), "x"));
        assert!(!applies(&n, &app("t", "shop-web", &[("env", "dev")]), "x"));
        assert!(!applies(&n, &app("t", "cart", &[("env", "prod")]), "x"));
        assert!(applies(&n, &app("t", "blog", &[("env", "prod")]), "x"));
    }

    #[test]
    fn events_severity_and_targets_filter() {
        let spec = |v| serde_json::from_value::<NotifierSpec>(v).unwrap();
        let failed = fact(FactKind::SyncFailed {
            initiator: "auto".into(),
            message: "boom".into(),
            transient: false,
        });
        let ok = fact(FactKind::SyncSucceeded {
            initiator: "auto".into(),
            message: String::new(),
        });
        let drift = fact(FactKind::DriftDetected {
            object: "x".into(),
            fields: vec![],
            manager: "kubectl".into(),
        });
        let all = spec(serde_json::json!({"type": "slack"}));
        assert!(wants(&all, &failed) && wants(&all, &ok) && wants(&all, &drift));
        let errors = spec(serde_json::json!({"type": "slack", "severity": "error"}));
        assert!(wants(&errors, &failed) && !wants(&errors, &ok) && !wants(&errors, &drift));
        let warnings = spec(serde_json::json!({"type": "slack", "severity": "warning"}));
        assert!(wants(&warnings, &drift) && !wants(&warnings, &ok));
        let only = spec(serde_json::json!({"type": "teams", "events": ["SyncSucceeded"]}));
        assert!(wants(&only, &ok) && !wants(&only, &failed));
        // A commit status cannot show drift, even when every event is asked for.
        let gh = spec(serde_json::json!({"type": "github"}));
        assert_eq!(gh.target, TargetType::Github);
        let mut failed_at = failed.clone();
        failed_at.commit = Some(Default::default());
        let mut drift_at = drift.clone();
        drift_at.commit = Some(Default::default());
        assert!(wants(&gh, &failed_at) && !wants(&gh, &drift_at));
        assert!(!wants(&gh, &failed), "no commit, no commit status");
        let mut suspended = all.clone();
        suspended.suspend = true;
        assert!(!wants(&suspended, &failed));
    }

    #[test]
    fn matching_lists_what_applies() {
        let mut a = Application::new("shop-web", Default::default());
        a.metadata.namespace = Some("team-a".into());
        let ns = [
            notifier(
                "team-a",
                serde_json::json!({"type": "slack", "apps": ["shop-*"]}),
            ),
            notifier(
                "team-a",
                serde_json::json!({"type": "slack", "apps": ["blog"]}),
            ),
            notifier("team-b", serde_json::json!({"type": "slack"})),
            notifier("tether", serde_json::json!({"type": "webhook"})),
        ];
        let got = matching(&a, &ns, "tether");
        assert_eq!(got.len(), 2);
        assert!(std::ptr::eq(got[0], &ns[0]) && std::ptr::eq(got[1], &ns[3]));
    }

    #[test]
    fn invalid_specs_are_explained() {
        let spec = |v| serde_json::from_value::<NotifierSpec>(v).unwrap();
        assert!(validate(&spec(serde_json::json!({"type": "slack"}))).is_err());
        assert!(
            validate(&spec(
                serde_json::json!({"type": "slack", "secretRef": "s"})
            ))
            .is_ok()
        );
        assert!(
            validate(&spec(
                serde_json::json!({"type": "webhook", "address": "ftp://x"})
            ))
            .is_err()
        );
        assert!(
            validate(&spec(serde_json::json!({"type": "github"})))
                .unwrap_err()
                .contains("token")
        );
        assert!(
            validate(&spec(
                serde_json::json!({"type": "github", "secretRef": "s", "repository": "justone"})
            ))
            .is_err()
        );
        assert!(
            validate(&spec(
                serde_json::json!({"type": "gitlab", "secretRef": "s", "events": ["DriftDetected"]})
            ))
            .is_err()
        );
    }
}
