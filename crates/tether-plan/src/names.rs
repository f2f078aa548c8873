//! Object names and namespaces, checked before anything is applied: an
//! invalid one is the commit's fault, reported on the file that declares it,
//! and not a cluster error. (Sent as is, a name with a space or a control
//! character makes the client fail to build its URL, which the agent would
//! otherwise blame on the cluster and retry as transient.)
//!
//! The rules are the API server's (`k8s.io/apimachinery/pkg/api/validation`
//! and each kind's registry strategy):
//! - `metadata.namespace`: a DNS-1123 label;
//! - Namespace names: a DNS-1123 label; Service names: a DNS-1035 label;
//! - RBAC kinds (Role, ClusterRole, RoleBinding, ClusterRoleBinding): any
//!   valid path segment (not `.` or `..`, no `/` or `%`). tether also refuses
//!   here what it cannot put in a URL path as is (controls, spaces, `?`, `#`
//!   and the like): its client does not percent-encode names;
//! - every other kind: a DNS-1123 subdomain (at most 253 characters).
//!
//! `generateName` objects have no name yet: their prefix is checked loosely
//! (the server appends 5 random characters and checks the result).

use serde_json::Value;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Why an object's name or namespace is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName {
    /// `metadata.name`, `metadata.generateName` or `metadata.namespace`.
    pub field: &'static str,
    /// The value as written (unescaped; escape it to show it).
    pub value: String,
    /// What the rule says.
    pub rule: String,
}

impl std::fmt::Display for InvalidName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // {:?} quotes the value and shows control characters as escapes.
        write!(
            f,
            "{} {:?} is invalid: {}",
            self.field, self.value, self.rule
        )
    }
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn is_dns1035(s: &str) -> bool {
    is_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

fn is_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_label)
}

/// A character a URL path can carry without percent-encoding (RFC 3986
/// `pchar` minus `%`, which the path-segment rule forbids anyway).
fn url_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c)
}

fn is_path_segment(s: &str) -> Result<(), String> {
    if s == "." || s == ".." {
        return Err(format!("may not be {s:?}"));
    }
    if let Some(c) = s.chars().find(|&c| c == '/' || c == '%') {
        return Err(format!("may not contain {c:?}"));
    }
    if let Some(c) = s.chars().find(|&c| !url_safe(c)) {
        return Err(format!(
            "contains {c:?}, which tether cannot send in a URL path (it does not percent-encode names)"
        ));
    }
    Ok(())
}

const LABEL_RULE: &str = "must be a lowercase RFC 1123 label: at most 63 characters, lower case \
    letters, digits or '-', starting and ending with a letter or digit";
const DNS1035_RULE: &str = "must be a DNS-1035 label: at most 63 characters, lower case letters, \
    digits or '-', starting with a letter and ending with a letter or digit";
const SUBDOMAIN_RULE: &str = "must be a lowercase RFC 1123 subdomain: at most 253 characters, \
    lower case letters, digits, '-' or '.', each dot-separated part starting and ending with a \
    letter or digit";

/// The naming rule of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    Label,
    Dns1035,
    PathSegment,
    Subdomain,
}

/// Which rule names of `group`/`kind` follow.
pub fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        (RBAC_GROUP, "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding") => {
            NameRule::PathSegment
        }
        _ => NameRule::Subdomain,
    }
}

fn check_name(rule: NameRule, name: &str) -> Result<(), String> {
    match rule {
        NameRule::Label if !is_label(name) => Err(LABEL_RULE.into()),
        NameRule::Dns1035 if !is_dns1035(name) => Err(DNS1035_RULE.into()),
        NameRule::Subdomain if !is_subdomain(name) => Err(SUBDOMAIN_RULE.into()),
        NameRule::PathSegment => is_path_segment(name),
        _ => Ok(()),
    }
}

/// A `generateName` prefix, checked loosely: the server appends five
/// characters from `[a-z0-9]` and checks the whole, so a prefix may end in
/// `-` or `.`, but must otherwise be what the rule allows, and leave room.
fn check_prefix(rule: NameRule, prefix: &str) -> Result<(), String> {
    match rule {
        NameRule::PathSegment => is_path_segment(prefix),
        _ => {
            let max = if rule == NameRule::Subdomain { 253 } else { 63 };
            check_name(rule, &format!("{prefix}abcde")).map_err(|rule_text| {
                if prefix.len() + 5 > max {
                    format!("is too long: the generated name would be over {max} characters")
                } else {
                    rule_text
                }
            })
        }
    }
}

/// Check one rendered object's `metadata.name` (or `generateName`) and
/// `metadata.namespace` against the API server's rules for its kind.
pub fn check_object(obj: &Value) -> Result<(), InvalidName> {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or("");
    let rule = name_rule(group, kind);
    let meta = &obj["metadata"];
    let invalid = |field, value: &str, rule: String| InvalidName {
        field,
        value: value.to_string(),
        rule,
    };
    match (meta["name"].as_str(), meta["generateName"].as_str()) {
        (Some(name), _) if !name.is_empty() => {
            check_name(rule, name).map_err(|r| invalid("metadata.name", name, r))?
        }
        (_, Some(prefix)) if !prefix.is_empty() => {
            check_prefix(rule, prefix).map_err(|r| invalid("metadata.generateName", prefix, r))?
        }
        _ => {
            return Err(invalid(
                "metadata.name",
                "",
                "is required (or metadata.generateName)".into(),
            ));
        }
    }
    if let Some(ns) = meta["namespace"].as_str()
        && !ns.is_empty()
        && !is_label(ns)
    {
        return Err(invalid("metadata.namespace", ns, LABEL_RULE.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api_version: &str, kind: &str, meta: Value) -> Value {
        json!({"apiVersion": api_version, "kind": kind, "metadata": meta})
    }

    fn name_ok(api_version: &str, kind: &str, name: &str) -> bool {
        check_object(&obj(api_version, kind, json!({"name": name}))).is_ok()
    }

    #[test]
    fn most_kinds_take_subdomains() {
        let longest = format!(
            "{}{}",
            format!("{}.", "a".repeat(63)).repeat(3),
            "a".repeat(61)
        );
        assert_eq!(longest.len(), 253);
        for ok in ["web", "a.b-c.d", "0abc", &longest] {
            assert!(name_ok("v1", "ConfigMap", ok), "{ok}");
            assert!(name_ok("apps/v1", "Deployment", ok), "{ok}");
            assert!(name_ok("example.com/v1", "Widget", ok), "{ok}");
        }
        for bad in [
            "Web",
            "bad name",
            "a_b",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a\x1b[2J",
            "a\nb",
            "é",
            &"a".repeat(64),
            &format!("{longest}a"),
        ] {
            assert!(!name_ok("v1", "ConfigMap", bad), "{bad:?}");
        }
    }

    #[test]
    fn namespaces_and_services_take_labels() {
        assert!(name_ok("v1", "Namespace", "team-a"));
        assert!(!name_ok("v1", "Namespace", "team.a"));
        assert!(!name_ok("v1", "Namespace", &"a".repeat(64)));
        assert!(name_ok("v1", "Service", "web-1"));
        assert!(
            !name_ok("v1", "Service", "1web"),
            "DNS-1035 starts with a letter"
        );
        assert!(!name_ok("v1", "Service", "web.a"));
        // Only the core group's kinds: a CRD kind called Service takes subdomains.
        assert!(name_ok("example.com/v1", "Service", "1web.a"));
    }

    #[test]
    fn rbac_kinds_take_path_segments() {
        let rbac = "rbac.authorization.k8s.io/v1";
        for kind in ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"] {
            assert!(
                name_ok(rbac, kind, "system:controller:Deploy_Ctl"),
                "{kind}"
            );
            for bad in [
                ".", "..", "a/b", "a%2f", "a b", "a?b", "a#b", "a\x1bb", "a\nb",
            ] {
                assert!(!name_ok(rbac, kind, bad), "{kind} {bad:?}");
            }
        }
    }

    #[test]
    fn namespaces_are_labels() {
        let cm = |ns: &str| obj("v1", "ConfigMap", json!({"name": "a", "namespace": ns}));
        assert!(check_object(&cm("web")).is_ok());
        let err = check_object(&cm("Web Team")).unwrap_err();
        assert_eq!(err.field, "metadata.namespace");
        assert!(check_object(&cm("a.b")).is_err());
    }

    #[test]
    fn generate_name_prefixes_are_checked_loosely() {
        let job = |prefix: &str| obj("batch/v1", "Job", json!({"generateName": prefix}));
        assert!(check_object(&job("migrate-")).is_ok());
        assert!(
            check_object(&job("migrate.")).is_ok(),
            "migrate.abcde is a subdomain"
        );
        assert!(check_object(&job("Migrate-")).is_err());
        assert!(check_object(&job("bad prefix-")).is_err());
        let long = check_object(&job(&"a".repeat(250))).unwrap_err();
        assert!(long.rule.contains("too long"), "{long}");
        let svc = |prefix: &str| obj("v1", "Service", json!({"generateName": prefix}));
        assert!(check_object(&svc("web-")).is_ok());
        assert!(check_object(&svc("1web-")).is_err());
    }

    #[test]
    fn a_missing_name_is_an_error() {
        let err = check_object(&obj("v1", "ConfigMap", json!({}))).unwrap_err();
        assert_eq!(err.field, "metadata.name");
        assert!(check_object(&obj("v1", "ConfigMap", json!({"name": ""}))).is_err());
    }

    #[test]
    fn the_message_shows_the_value_escaped() {
        let err =
            check_object(&obj("v1", "ConfigMap", json!({"name": "a\x1b]0;x\x07"}))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("metadata.name \"a\\u{1b}]0;x\\u{7}\" is invalid: "),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
    }
}
