//! The RBAC authorizer, pure: an index of Roles, ClusterRoles, RoleBindings
//! and ClusterRoleBindings, and the decision for one request's attributes,
//! evaluated as the real RBAC authorizer does it. Members of `system:masters`
//! are allowed everything before RBAC is asked, as on the real server.
//!
//! The index is built once from the stored objects and rebuilt only when an
//! RBAC object changes; a decision looks up the bindings of the user's name
//! and groups and checks their roles' rules.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::UserInfo;

/// The group whose members bypass authorization.
pub const MASTERS: &str = "system:masters";

/// One rule of a Role or ClusterRole.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    fn is_resource_rule(&self) -> bool {
        !self.resources.is_empty() || !self.api_groups.is_empty()
    }
}

/// What a request asks to do, as the real server's RequestInfo resolver
/// derives it (see `attributes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub resource_request: bool,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The URL path, for non-resource requests.
    pub path: String,
}

impl Attributes {
    /// `resource` or `resource/subresource`.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// The authorizer's answer, with the reason the real server gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `RBAC: allowed by ...` when allowed; when denied, empty or the roles that
    /// bindings name but that do not exist (`RBAC: clusterrole... not found`).
    pub reason: String,
}

/// A subject of a binding, resolved to what it matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum SubjectKey {
    User(String),
    Group(String),
}

/// A binding with its role's rules resolved at index time.
#[derive(Debug)]
struct IndexedBinding {
    /// Empty for ClusterRoleBindings.
    namespace: String,
    name: String,
    role_kind: String,
    role_name: String,
    /// The rules of the referenced role, or why they could not be found.
    rules: Result<Arc<Vec<PolicyRule>>, String>,
    /// How each subject is described in an "allowed by" reason.
    subjects: Vec<(SubjectKey, String)>,
}

impl IndexedBinding {
    fn describe(&self, subject: &str) -> String {
        if self.namespace.is_empty() {
            format!(
                "ClusterRoleBinding {:?} of {} {:?} to {subject}",
                self.name, self.role_kind, self.role_name
            )
        } else {
            format!(
                "RoleBinding {:?} of {} {:?} to {subject}",
                format!("{}/{}", self.name, self.namespace),
                self.role_kind,
                self.role_name
            )
        }
    }
}

/// The RBAC objects, indexed by subject.
#[derive(Debug, Default)]
pub struct Index {
    bindings: Vec<IndexedBinding>,
    /// Subject to the bindings naming it (ClusterRoleBindings first, then
    /// RoleBindings; each in name order, as listed).
    by_subject: HashMap<SubjectKey, Vec<usize>>,
}

fn rules_of(role: &Value) -> Vec<PolicyRule> {
    serde_json::from_value(role.get("rules").cloned().unwrap_or(Value::Null)).unwrap_or_default()
}

fn str_of<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("")
}

/// The user name of a ServiceAccount.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

impl Index {
    /// Builds the index from the stored objects (as JSON).
    pub fn build(
        cluster_roles: &[Arc<Value>],
        roles: &[Arc<Value>],
        cluster_role_bindings: &[Arc<Value>],
        role_bindings: &[Arc<Value>],
    ) -> Index {
        let cluster_rules: HashMap<&str, Arc<Vec<PolicyRule>>> = cluster_roles
            .iter()
            .map(|r| (str_of(r, &["metadata", "name"]), Arc::new(rules_of(r))))
            .collect();
        let role_rules: HashMap<(&str, &str), Arc<Vec<PolicyRule>>> = roles
            .iter()
            .map(|r| {
                (
                    (
                        str_of(r, &["metadata", "namespace"]),
                        str_of(r, &["metadata", "name"]),
                    ),
                    Arc::new(rules_of(r)),
                )
            })
            .collect();
        let mut index = Index::default();
        for b in cluster_role_bindings.iter().chain(role_bindings) {
            let namespace = str_of(b, &["metadata", "namespace"]).to_string();
            let role_kind = str_of(b, &["roleRef", "kind"]).to_string();
            let role_name = str_of(b, &["roleRef", "name"]).to_string();
            let rules = match role_kind.as_str() {
                "ClusterRole" => cluster_rules
                    .get(role_name.as_str())
                    .cloned()
                    .ok_or_else(|| {
                        format!("clusterrole.rbac.authorization.k8s.io {role_name:?} not found")
                    }),
                // A ClusterRoleBinding can only name a ClusterRole.
                "Role" if !namespace.is_empty() => role_rules
                    .get(&(namespace.as_str(), role_name.as_str()))
                    .cloned()
                    .ok_or_else(|| {
                        format!("role.rbac.authorization.k8s.io {role_name:?} not found")
                    }),
                _ => Err(format!("unknown role reference kind: {role_kind:?}")),
            };
            let mut subjects = Vec::new();
            for s in b["subjects"].as_array().into_iter().flatten() {
                let name = str_of(s, &["name"]);
                match str_of(s, &["kind"]) {
                    "User" => subjects
                        .push((SubjectKey::User(name.to_string()), format!("User {name:?}"))),
                    "Group" => subjects.push((
                        SubjectKey::Group(name.to_string()),
                        format!("Group {name:?}"),
                    )),
                    "ServiceAccount" => {
                        // A RoleBinding's ServiceAccount subject defaults to the binding's namespace.
                        let ns = match str_of(s, &["namespace"]) {
                            "" => namespace.as_str(),
                            ns => ns,
                        };
                        if ns.is_empty() {
                            continue;
                        }
                        subjects.push((
                            SubjectKey::User(service_account_user(ns, name)),
                            format!("ServiceAccount {:?}", format!("{ns}/{name}")),
                        ));
                    }
                    _ => {}
                }
            }
            let i = index.bindings.len();
            for (key, _) in &subjects {
                let list = index.by_subject.entry(key.clone()).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
            index.bindings.push(IndexedBinding {
                namespace,
                name: str_of(b, &["metadata", "name"]).to_string(),
                role_kind,
                role_name,
                rules,
                subjects,
            });
        }
        index
    }

    /// The bindings that apply to `user` in `namespace` (ClusterRoleBindings
    /// everywhere, RoleBindings in their namespace), with the subject that
    /// matched, in evaluation order.
    fn applicable<'a>(
        &'a self,
        user: &'a UserInfo,
        namespace: &'a str,
    ) -> impl Iterator<Item = (&'a IndexedBinding, &'a str)> + 'a {
        let keys = std::iter::once(SubjectKey::User(user.name.clone()))
            .chain(user.groups.iter().cloned().map(SubjectKey::Group));
        let mut hits: Vec<(usize, SubjectKey)> = Vec::new();
        for key in keys {
            for &i in self.by_subject.get(&key).into_iter().flatten() {
                hits.push((i, key.clone()));
            }
        }
        hits.sort_by_key(|(i, _)| *i);
        hits.dedup_by_key(|(i, _)| *i);
        hits.into_iter().filter_map(move |(i, key)| {
            let b = &self.bindings[i];
            if !b.namespace.is_empty() && b.namespace != namespace {
                return None;
            }
            let described = b
                .subjects
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, d)| d.as_str())
                .unwrap_or("");
            Some((b, described))
        })
    }

    /// The decision for a request.
    pub fn authorize(&self, user: &UserInfo, a: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == MASTERS) {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        let mut errors = Vec::new();
        for (b, subject) in self.applicable(user, &a.namespace) {
            match &b.rules {
                Ok(rules) => {
                    if rules.iter().any(|r| rule_allows(a, r)) {
                        return Decision {
                            allowed: true,
                            reason: format!("RBAC: allowed by {}", b.describe(subject)),
                        };
                    }
                }
                Err(e) => errors.push(e.clone()),
            }
        }
        let reason = match errors.len() {
            0 => String::new(),
            1 => format!("RBAC: {}", errors[0]),
            _ => format!("RBAC: [{}]", errors.join(", ")),
        };
        Decision {
            allowed: false,
            reason,
        }
    }

    /// Every rule that applies to `user` in `namespace` (SelfSubjectRulesReview),
    /// and the errors met resolving roles.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        if user.groups.iter().any(|g| g == MASTERS) {
            let all = |v: &str| vec![v.to_string()];
            return (
                vec![
                    PolicyRule {
                        verbs: all("*"),
                        api_groups: all("*"),
                        resources: all("*"),
                        ..Default::default()
                    },
                    PolicyRule {
                        verbs: all("*"),
                        non_resource_urls: all("*"),
                        ..Default::default()
                    },
                ],
                Vec::new(),
            );
        }
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (b, _) in self.applicable(user, namespace) {
            match &b.rules {
                Ok(r) => rules.extend(r.iter().cloned()),
                Err(e) => errors.push(e.clone()),
            }
        }
        (rules, errors)
    }
}

/// Whether one rule allows the request.
pub fn rule_allows(a: &Attributes, rule: &PolicyRule) -> bool {
    if !verb_matches(rule, &a.verb) {
        return false;
    }
    if a.resource_request {
        api_group_matches(rule, &a.api_group)
            && resource_matches(rule, &a.combined_resource(), &a.subresource)
            && resource_name_matches(rule, &a.name)
    } else {
        non_resource_url_matches(rule, &a.path)
    }
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == "*" || v == verb)
}

fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    rule.api_groups.iter().any(|g| g == "*" || g == group)
}

/// `*` matches every resource and subresource; `*/scale` matches the `scale`
/// subresource of every resource; otherwise the rule names `resource` or
/// `resource/subresource` exactly.
fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        r == "*"
            || r == combined
            || (!subresource.is_empty()
                && r.len() == subresource.len() + 2
                && r.starts_with("*/")
                && r.ends_with(subresource))
    })
}

fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == name)
}

/// `*` matches every path; a rule ending in `*` matches paths with its prefix.
fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|u| {
        u == "*" || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
    })
}

/// Splits rules into SelfSubjectRulesReview's resource and non-resource rules (as JSON).
pub fn review_rules(rules: &[PolicyRule]) -> (Value, Value) {
    let mut resource = Vec::new();
    let mut non_resource = Vec::new();
    for r in rules {
        if r.is_resource_rule() {
            // Empty lists are left out, as the real server's JSON leaves them.
            let mut m = serde_json::Map::new();
            m.insert("verbs".into(), serde_json::json!(r.verbs));
            for (key, list) in [
                ("apiGroups", &r.api_groups),
                ("resources", &r.resources),
                ("resourceNames", &r.resource_names),
            ] {
                if !list.is_empty() {
                    m.insert(key.into(), serde_json::json!(list));
                }
            }
            resource.push(Value::Object(m));
        }
        if !r.non_resource_urls.is_empty() {
            non_resource.push(serde_json::json!({
                "verbs": r.verbs,
                "nonResourceURLs": r.non_resource_urls,
            }));
        }
    }
    (Value::Array(resource), Value::Array(non_resource))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    fn res(verb: &str, group: &str, resource: &str, ns: &str, name: &str) -> Attributes {
        let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            api_version: "v1".into(),
            namespace: ns.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            path: String::new(),
        }
    }

    fn path(verb: &str, p: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            path: p.into(),
            ..Default::default()
        }
    }

    fn obj(v: Value) -> Arc<Value> {
        Arc::new(v)
    }

    fn role(ns: &str, name: &str, rules: Value) -> Arc<Value> {
        obj(json!({"metadata": {"namespace": ns, "name": name}, "rules": rules}))
    }

    fn binding(ns: &str, name: &str, kind: &str, role: &str, subjects: Value) -> Arc<Value> {
        let mut m = json!({"name": name});
        if !ns.is_empty() {
            m["namespace"] = ns.into();
        }
        obj(
            json!({"metadata": m, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role}, "subjects": subjects}),
        )
    }

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            resource_names: v(names),
            non_resource_urls: Vec::new(),
        }
    }

    #[test]
    fn verbs_groups_resources_and_names() {
        let r = rule(
            &["get", "list"],
            &["", "apps"],
            &["pods", "deployments"],
            &[],
        );
        assert!(rule_allows(&res("get", "", "pods", "a", "x"), &r));
        assert!(rule_allows(
            &res("list", "apps", "deployments", "a", ""),
            &r
        ));
        assert!(!rule_allows(&res("delete", "", "pods", "a", "x"), &r));
        assert!(!rule_allows(&res("get", "batch", "pods", "a", "x"), &r));
        // A resource rule does not cover its subresources.
        assert!(!rule_allows(&res("get", "", "pods/log", "a", "x"), &r));
        let star = rule(&["*"], &["*"], &["*"], &[]);
        assert!(rule_allows(
            &res("impersonate", "x.io", "pods/log", "", "y"),
            &star
        ));
        let named = rule(&["get"], &[""], &["configmaps"], &["one"]);
        assert!(rule_allows(
            &res("get", "", "configmaps", "a", "one"),
            &named
        ));
        assert!(!rule_allows(
            &res("get", "", "configmaps", "a", "two"),
            &named
        ));
        // A list has no name, so a rule with resourceNames does not allow it.
        assert!(!rule_allows(
            &res("list", "", "configmaps", "a", ""),
            &named
        ));
    }

    #[test]
    fn subresource_forms() {
        let log = rule(&["get"], &[""], &["pods/log"], &[]);
        assert!(rule_allows(&res("get", "", "pods/log", "a", "p"), &log));
        assert!(!rule_allows(&res("get", "", "pods", "a", "p"), &log));
        let any_scale = rule(&["update"], &["apps"], &["*/scale"], &[]);
        assert!(rule_allows(
            &res("update", "apps", "deployments/scale", "a", "d"),
            &any_scale
        ));
        assert!(!rule_allows(
            &res("update", "apps", "deployments/status", "a", "d"),
            &any_scale
        ));
        assert!(!rule_allows(
            &res("update", "apps", "deployments", "a", "d"),
            &any_scale
        ));
        // `*/scale` does not match a subresource that only ends the same way.
        assert!(!rule_allows(
            &res("update", "apps", "deployments/rescale", "a", "d"),
            &any_scale
        ));
    }

    #[test]
    fn non_resource_urls() {
        let r = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/healthz".into(), "/apis/*".into()],
            ..Default::default()
        };
        assert!(rule_allows(&path("get", "/healthz"), &r));
        assert!(rule_allows(&path("get", "/apis/apps/v1"), &r));
        assert!(!rule_allows(&path("get", "/api"), &r));
        assert!(!rule_allows(&path("post", "/healthz"), &r));
        // A non-resource rule never allows a resource request.
        assert!(!rule_allows(&res("get", "", "pods", "a", ""), &r));
    }

    fn sample() -> Index {
        let cluster_roles = vec![
            role(
                "",
                "reader",
                json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]),
            ),
            role(
                "",
                "nodes",
                json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}]),
            ),
        ];
        let roles = vec![role(
            "team",
            "cm",
            json!([{"verbs": ["*"], "apiGroups": [""], "resources": ["configmaps"]}]),
        )];
        let crbs = vec![
            binding(
                "",
                "ops-nodes",
                "ClusterRole",
                "nodes",
                json!([{"kind": "Group", "name": "ops"}]),
            ),
            binding(
                "",
                "dangling",
                "ClusterRole",
                "missing",
                json!([{"kind": "User", "name": "dan"}]),
            ),
        ];
        let rbs = vec![
            binding(
                "team",
                "sa-cm",
                "Role",
                "cm",
                json!([{"kind": "ServiceAccount", "name": "app"}]),
            ),
            binding(
                "team",
                "alice-read",
                "ClusterRole",
                "reader",
                json!([{"kind": "User", "name": "alice"}]),
            ),
            binding(
                "team",
                "other-sa",
                "Role",
                "cm",
                json!([{"kind": "ServiceAccount", "name": "app", "namespace": "elsewhere"}]),
            ),
        ];
        Index::build(&cluster_roles, &roles, &crbs, &rbs)
    }

    #[test]
    fn bindings_apply_to_their_subjects_and_namespace() {
        let idx = sample();
        let sa = user(
            "system:serviceaccount:team:app",
            &["system:serviceaccounts"],
        );
        let d = idx.authorize(&sa, &res("create", "", "configmaps", "team", ""));
        assert!(d.allowed);
        assert_eq!(
            d.reason,
            r#"RBAC: allowed by RoleBinding "sa-cm/team" of Role "cm" to ServiceAccount "team/app""#
        );
        assert!(
            !idx.authorize(&sa, &res("create", "", "configmaps", "other", ""))
                .allowed
        );
        assert!(
            !idx.authorize(&sa, &res("list", "", "pods", "team", ""))
                .allowed
        );
        // The ServiceAccount subject with an explicit namespace names another account.
        let other = user("system:serviceaccount:elsewhere:app", &[]);
        assert!(
            idx.authorize(&other, &res("get", "", "configmaps", "team", "x"))
                .allowed
        );
        // A ClusterRole bound by a RoleBinding grants only in that namespace.
        let alice = user("alice", &[]);
        assert!(
            idx.authorize(&alice, &res("list", "", "pods", "team", ""))
                .allowed
        );
        assert!(
            !idx.authorize(&alice, &res("list", "", "pods", "", ""))
                .allowed
        );
        // Groups.
        let ops = user("bob", &["ops"]);
        let d = idx.authorize(&ops, &res("get", "", "nodes", "", "n1"));
        assert_eq!(
            d.reason,
            r#"RBAC: allowed by ClusterRoleBinding "ops-nodes" of ClusterRole "nodes" to Group "ops""#
        );
        assert!(
            !idx.authorize(&user("bob", &[]), &res("get", "", "nodes", "", "n1"))
                .allowed
        );
    }

    #[test]
    fn masters_bypass_and_missing_roles_are_reasons() {
        let idx = sample();
        let admin = user("kubernetes-admin", &[MASTERS]);
        assert!(
            idx.authorize(&admin, &res("delete", "x", "anything", "", ""))
                .allowed
        );
        let d = idx.authorize(&user("dan", &[]), &res("get", "", "pods", "a", "p"));
        assert_eq!(
            d,
            Decision {
                allowed: false,
                reason: r#"RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found"#.into()
            }
        );
        assert_eq!(
            idx.authorize(&user("nobody", &[]), &res("get", "", "pods", "a", "p"))
                .reason,
            ""
        );
    }

    #[test]
    fn rules_for_a_user_in_a_namespace() {
        let idx = sample();
        let sa = user("system:serviceaccount:team:app", &[]);
        let (rules, errors) = idx.rules_for(&sa, "team");
        assert_eq!(rules, vec![rule(&["*"], &[""], &["configmaps"], &[])]);
        assert!(errors.is_empty());
        assert!(idx.rules_for(&sa, "other").0.is_empty());
        let (resource, non) = review_rules(&rules);
        assert_eq!(
            resource,
            json!([{"verbs": ["*"], "apiGroups": [""], "resources": ["configmaps"]}])
        );
        assert_eq!(non, json!([]));
        let (admin_rules, _) = idx.rules_for(&user("a", &[MASTERS]), "x");
        assert_eq!(
            review_rules(&admin_rules).1,
            json!([{"verbs": ["*"], "nonResourceURLs": ["*"]}])
        );
    }
}
