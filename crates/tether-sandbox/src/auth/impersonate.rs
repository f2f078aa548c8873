//! Impersonation headers (`Impersonate-User`, `Impersonate-Group`,
//! `Impersonate-Uid`, `Impersonate-Extra-*`), each authorized by the
//! `impersonate` verb on users, groups, serviceaccounts, uids or userextras,
//! as the real server's impersonation filter does.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use super::rbac::{Attributes, service_account_user};
use super::{ANONYMOUS_USER, AUTHENTICATED, UNAUTHENTICATED, UserInfo, forbidden};
use crate::api::Shared;
use crate::api::status::ApiError;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// What a request asks to be, from its headers; None when it asks nothing.
#[derive(Debug, Default, PartialEq)]
pub struct Requested {
    pub user: Option<String>,
    pub groups: Vec<String>,
    pub uid: Option<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 3 <= b.len()
            && let Some(h) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads the impersonation headers.
pub fn requested(headers: &HeaderMap) -> Result<Option<Requested>, ApiError> {
    let mut r = Requested::default();
    let mut any = false;
    for (name, value) in headers {
        let name = name.as_str();
        let Some(value) = value.to_str().ok() else {
            continue;
        };
        if name == USER {
            r.user = Some(value.to_string());
            any = true;
        } else if name == GROUP {
            r.groups.push(value.to_string());
            any = true;
        } else if name == UID {
            r.uid = Some(value.to_string());
            any = true;
        } else if let Some(key) = name.strip_prefix(EXTRA_PREFIX) {
            r.extra
                .entry(percent_decode(key).to_lowercase())
                .or_default()
                .push(value.to_string());
            any = true;
        }
    }
    if !any {
        return Ok(None);
    }
    if r.user.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "requested impersonation of groups, extra or uid without impersonating a user",
        ));
    }
    Ok(Some(r))
}

fn impersonate_attrs(group: &str, resource: &str, sub: &str, ns: &str, name: &str) -> Attributes {
    Attributes {
        verb: "impersonate".into(),
        resource_request: true,
        api_group: group.into(),
        namespace: ns.into(),
        resource: resource.into(),
        subresource: sub.into(),
        name: name.into(),
        ..Default::default()
    }
}

/// The checks a request needs: one attribute set per impersonated part.
pub fn checks(r: &Requested) -> Vec<Attributes> {
    let mut out = Vec::new();
    let user = r.user.as_deref().unwrap_or("");
    match parse_service_account(user) {
        Some((ns, name)) => out.push(impersonate_attrs("", "serviceaccounts", "", ns, name)),
        None => out.push(impersonate_attrs("", "users", "", "", user)),
    }
    for g in &r.groups {
        out.push(impersonate_attrs("", "groups", "", "", g));
    }
    for (key, values) in &r.extra {
        for v in values {
            out.push(impersonate_attrs(
                "authentication.k8s.io",
                "userextras",
                key,
                "",
                v,
            ));
        }
    }
    if let Some(uid) = &r.uid {
        out.push(impersonate_attrs(
            "authentication.k8s.io",
            "uids",
            "",
            "",
            uid,
        ));
    }
    out
}

/// `system:serviceaccount:NS:NAME` as (NS, NAME).
pub fn parse_service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// The identity a request acts as, from what it asked.
pub fn identity(r: &Requested) -> UserInfo {
    let name = r.user.clone().unwrap_or_default();
    let mut groups = r.groups.clone();
    if groups.is_empty()
        && let Some((ns, sa)) = parse_service_account(&name)
    {
        debug_assert_eq!(service_account_user(ns, sa), name);
        groups = vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
        ];
    }
    let implied = if name == ANONYMOUS_USER {
        UNAUTHENTICATED
    } else {
        AUTHENTICATED
    };
    if !groups.iter().any(|g| g == implied) {
        groups.push(implied.into());
    }
    UserInfo {
        name,
        uid: r.uid.clone().unwrap_or_default(),
        groups,
        extra: r.extra.clone(),
    }
}

/// Applies the request's impersonation headers: the user it acts as, once
/// `requester` is allowed to impersonate every part of it.
pub fn apply(sh: &Shared, requester: UserInfo, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let Some(r) = requested(headers)? else {
        return Ok(requester);
    };
    for a in checks(&r) {
        let d = sh.auth.authorize(sh, &requester, &a);
        if !d.allowed {
            return Err(forbidden(&requester.name, &a, &d.reason));
        }
    }
    Ok(identity(&r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn headers_become_checks_and_an_identity() {
        assert_eq!(requested(&headers(&[])).unwrap(), None);
        let r = requested(&headers(&[
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Extra-Scopes%2Fx", "view"),
            ("Impersonate-Uid", "u-1"),
        ]))
        .unwrap()
        .unwrap();
        let c: Vec<(String, String, String, String)> = checks(&r)
            .into_iter()
            .map(|a| (a.api_group, a.resource, a.subresource, a.name))
            .collect();
        let s = |a: &str, b: &str, c: &str, d: &str| (a.into(), b.into(), c.into(), d.into());
        assert_eq!(
            c,
            vec![
                s("", "users", "", "jane"),
                s("", "groups", "", "devs"),
                s("", "groups", "", "ops"),
                s("authentication.k8s.io", "userextras", "scopes/x", "view"),
                s("authentication.k8s.io", "uids", "", "u-1"),
            ]
        );
        let u = identity(&r);
        assert_eq!(u.groups, vec!["devs", "ops", "system:authenticated"]);
        assert_eq!(u.uid, "u-1");
    }

    #[test]
    fn service_accounts_are_checked_in_their_namespace_and_get_their_groups() {
        let r = requested(&headers(&[(
            "Impersonate-User",
            "system:serviceaccount:team:app",
        )]))
        .unwrap()
        .unwrap();
        let a = &checks(&r)[0];
        assert_eq!(
            (a.resource.as_str(), a.namespace.as_str(), a.name.as_str()),
            ("serviceaccounts", "team", "app")
        );
        assert_eq!(
            identity(&r).groups,
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:team",
                "system:authenticated"
            ]
        );
        assert_eq!(parse_service_account("system:serviceaccount:team"), None);
    }

    #[test]
    fn groups_without_a_user_are_refused() {
        let e = requested(&headers(&[("Impersonate-Group", "devs")])).unwrap_err();
        assert_eq!(e.code, 400);
    }
}
