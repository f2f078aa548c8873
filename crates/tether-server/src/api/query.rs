//! The list's query: what `GET /api/v1/applications` (and the live stream's
//! list subscription) accepts, as a pure value: parsing, matching, sorting,
//! paging with opaque continue tokens, and the totals by status. No I/O here.
//!
//! Paging continues *after a position* (the last row's sort value and key),
//! never at an offset, so a page boundary holds while apps are added, removed
//! or change status between requests: no row is shown twice or skipped
//! because another row moved in front of it.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use tether_model::Application;
use tether_model::status::{HealthCode, OperationPhase, SyncCode};

use super::error::ApiError;

/// The page size when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page a caller may ask for.
pub const MAX_LIMIT: usize = 1000;
/// The longest free-text search, so one request cannot make every row scan
/// a megabyte.
const MAX_Q: usize = 256;

/// Every parameter the list accepts (also used in error messages).
pub const PARAMETERS: &[&str] = &[
    "sync",
    "health",
    "q",
    "label",
    "selector",
    "namespace",
    "appNamespace",
    "name",
    "cluster",
    "repo",
    "drift",
    "sort",
    "limit",
    "continue",
];

/// What a sort orders by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Namespace,
    Repo,
    Sync,
    Health,
    LastSync,
    Drift,
}

impl SortKey {
    const ALL: &'static [(&'static str, SortKey)] = &[
        ("name", SortKey::Name),
        ("namespace", SortKey::Namespace),
        ("repo", SortKey::Repo),
        ("sync", SortKey::Sync),
        ("health", SortKey::Health),
        ("lastSync", SortKey::LastSync),
        ("drift", SortKey::Drift),
    ];

    fn parse(text: &str) -> Option<SortKey> {
        SortKey::ALL
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, k)| *k)
    }

    fn as_str(self) -> &'static str {
        SortKey::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("name")
    }
}

/// `sort=name` or `sort=-lastSync`: one key, ascending or descending. Ties are
/// always broken by `namespace/name` ascending, so the order is total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Sort {
        Sort {
            key: SortKey::Name,
            descending: false,
        }
    }
}

impl Sort {
    pub fn parse(text: &str) -> Result<Sort, ApiError> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let key = SortKey::parse(name).ok_or_else(|| {
            let names: Vec<&str> = SortKey::ALL.iter().map(|(n, _)| *n).collect();
            ApiError::bad_request(format!(
                "sort={text:?} is not accepted: use one of {}, with a leading '-' for descending (e.g. sort=-lastSync)",
                names.join(", ")
            ))
        })?;
        Ok(Sort { key, descending })
    }

    pub fn as_string(self) -> String {
        format!(
            "{}{}",
            if self.descending { "-" } else { "" },
            self.key.as_str()
        )
    }
}

/// One requirement of a Kubernetes label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelReq {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl LabelReq {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelReq::Equals(k, v) => labels.get(k) == Some(v),
            // As in Kubernetes: `a!=b` also matches objects without `a`.
            LabelReq::NotEquals(k, v) => labels.get(k) != Some(v),
            LabelReq::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            LabelReq::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            LabelReq::Exists(k) => labels.contains_key(k),
            LabelReq::NotExists(k) => !labels.contains_key(k),
        }
    }
}

const SELECTOR_HELP: &str = "use Kubernetes selector syntax: `a=b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, joined by commas";

/// Parse a Kubernetes label selector (`a=b,c!=d,e in (x,y),!f`).
pub fn parse_selector(text: &str) -> Result<Vec<LabelReq>, ApiError> {
    let bad = |part: &str, why: &str| {
        ApiError::bad_request(format!(
            "label selector {text:?}: {part:?} {why}; {SELECTOR_HELP}"
        ))
    };
    let mut out = Vec::new();
    for part in split_top_level(text) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if let Some(key) = part.strip_prefix('!') {
            let key = key.trim();
            check_label_key(key).map_err(|why| bad(part, &why))?;
            out.push(LabelReq::NotExists(key.to_string()));
        } else if let Some((k, v)) = part.split_once("!=") {
            let (k, v) = (k.trim(), v.trim());
            check_label_key(k).map_err(|why| bad(part, &why))?;
            check_label_value(v).map_err(|why| bad(part, &why))?;
            out.push(LabelReq::NotEquals(k.into(), v.into()));
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            let (k, v) = (k.trim(), v.trim());
            check_label_key(k).map_err(|why| bad(part, &why))?;
            check_label_value(v).map_err(|why| bad(part, &why))?;
            out.push(LabelReq::Equals(k.into(), v.into()));
        } else if let Some(open) = part.find('(') {
            let Some(inner) = part[open + 1..].strip_suffix(')') else {
                return Err(bad(part, "has no closing ')'"));
            };
            let head: Vec<&str> = part[..open].split_whitespace().collect();
            let [key, op] = head.as_slice() else {
                return Err(bad(part, "must be `KEY in (…)` or `KEY notin (…)`"));
            };
            check_label_key(key).map_err(|why| bad(part, &why))?;
            let mut values = Vec::new();
            for v in inner.split(',') {
                let v = v.trim();
                check_label_value(v).map_err(|why| bad(part, &why))?;
                values.push(v.to_string());
            }
            match *op {
                "in" => out.push(LabelReq::In(key.to_string(), values)),
                "notin" => out.push(LabelReq::NotIn(key.to_string(), values)),
                _ => return Err(bad(part, "has an operator other than `in` or `notin`")),
            }
        } else {
            check_label_key(part).map_err(|why| bad(part, &why))?;
            out.push(LabelReq::Exists(part.to_string()));
        }
    }
    Ok(out)
}

/// Split on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A label key: an optional DNS prefix and `/`, then a name of at most 63
/// characters.
fn check_label_key(key: &str) -> Result<(), String> {
    let name = match key.rsplit_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty()
                || prefix.len() > 253
                || !prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
            {
                return Err("has an invalid key prefix".into());
            }
            name
        }
        None => key,
    };
    if name.is_empty() || name.len() > 63 || !name.chars().all(is_label_char) {
        return Err("has an invalid key".into());
    }
    Ok(())
}

fn check_label_value(value: &str) -> Result<(), String> {
    if value.len() > 63 || !value.chars().all(is_label_char) {
        return Err("has an invalid value".into());
    }
    Ok(())
}

/// A parsed list query. `Default` matches every app, sorted by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    /// Any of these (empty: any).
    pub sync: Vec<SyncCode>,
    pub health: Vec<HealthCode>,
    /// Lowercased; a substring of name, namespace, repo or path.
    pub q: Option<String>,
    /// Every requirement must hold.
    pub labels: Vec<LabelReq>,
    pub namespaces: Vec<String>,
    pub names: Vec<String>,
    /// The destination cluster (`in-cluster` when the app names none).
    pub clusters: Vec<String>,
    /// Repository URLs, compared without a trailing `.git` or `/` and case
    /// of the host.
    pub repos: Vec<String>,
    /// `Some(true)`: only apps with drifted objects; `Some(false)`: only without.
    pub drift: Option<bool>,
    pub sort: Sort,
    /// `None`: [`DEFAULT_LIMIT`].
    pub limit: Option<usize>,
    pub after: Option<Cursor>,
}

/// The cluster an app without `destination.cluster` deploys to.
pub const IN_CLUSTER: &str = "in-cluster";

fn parse_list<T>(
    param: &str,
    value: &str,
    accepted: &[(&str, T)],
    out: &mut Vec<T>,
) -> Result<(), ApiError>
where
    T: Copy + PartialEq,
{
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let found = accepted
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(part))
            .map(|(_, v)| *v);
        match found {
            Some(v) if !out.contains(&v) => out.push(v),
            Some(_) => {}
            None => {
                let names: Vec<&str> = accepted.iter().map(|(n, _)| *n).collect();
                return Err(ApiError::bad_request(format!(
                    "{param}={part:?} is not accepted: use one or more of {} (repeat the parameter or separate with commas)",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(())
}

const SYNC_CODES: &[(&str, SyncCode)] = &[
    ("Synced", SyncCode::Synced),
    ("OutOfSync", SyncCode::OutOfSync),
    ("Unknown", SyncCode::Unknown),
];

const HEALTH_CODES: &[(&str, HealthCode)] = &[
    ("Healthy", HealthCode::Healthy),
    ("Progressing", HealthCode::Progressing),
    ("Degraded", HealthCode::Degraded),
    ("Suspended", HealthCode::Suspended),
    ("Missing", HealthCode::Missing),
    ("Unknown", HealthCode::Unknown),
];

fn push_strings(value: &str, out: &mut Vec<String>) {
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !out.iter().any(|v| v == part) {
            out.push(part.to_string());
        }
    }
}

/// A repository URL as compared: the one key every form of a repository's URL
/// shares (https and scp-style, with or without `.git`, user or port), as the
/// webhooks match pushes.
pub fn normalize_repo(url: &str) -> String {
    crate::webhook::repo_url::normalise(url).unwrap_or_default()
}

impl ListQuery {
    /// Parse a raw query string (`sync=OutOfSync&health=Degraded,Missing&…`).
    /// Repeated parameters add to each other; unknown parameters and bad
    /// values are refused with a message that says what is accepted.
    pub fn parse(raw: &str) -> Result<ListQuery, ApiError> {
        let mut query = ListQuery::default();
        let mut continue_token = None;
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            let value = value.as_ref();
            match name.as_ref() {
                "sync" => parse_list("sync", value, SYNC_CODES, &mut query.sync)?,
                "health" => parse_list("health", value, HEALTH_CODES, &mut query.health)?,
                "q" | "search" => {
                    if value.len() > MAX_Q {
                        return Err(ApiError::bad_request(format!(
                            "q is {} bytes long; use at most {MAX_Q}",
                            value.len()
                        )));
                    }
                    let text = value.trim().to_lowercase();
                    query.q = (!text.is_empty()).then_some(text);
                }
                // `selector` is Argo CD's name for it.
                "label" | "selector" => query.labels.extend(parse_selector(value)?),
                // `appNamespace` is Argo CD's name for it.
                "namespace" | "appNamespace" => push_strings(value, &mut query.namespaces),
                "name" => push_strings(value, &mut query.names),
                "cluster" => push_strings(value, &mut query.clusters),
                "repo" => {
                    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        query.repos.push(normalize_repo(part));
                    }
                }
                "drift" => {
                    query.drift = Some(match value {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "drift={value:?} is not accepted: use drift=true (apps with drifted objects) or drift=false"
                            )));
                        }
                    })
                }
                "sort" => query.sort = Sort::parse(value)?,
                "limit" => {
                    let n = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n));
                    query.limit = Some(n.ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "limit={value:?} is not accepted: use a whole number from 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"
                        ))
                    })?);
                }
                "continue" => {
                    if !value.is_empty() {
                        continue_token = Some(value.to_string());
                    }
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown query parameter {other:?}: the list accepts {}",
                        PARAMETERS.join(", ")
                    )));
                }
            }
        }
        // Decoded last: the token must match the sort, wherever it came in the query.
        if let Some(token) = continue_token {
            query.after = Some(Cursor::decode(&token, query.sort)?);
        }
        Ok(query)
    }

    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }

    /// Does `app` pass every filter?
    pub fn matches(&self, app: &Application) -> bool {
        let facts = Facts::of(app);
        self.matches_facts(app, &facts)
    }

    fn matches_facts(&self, app: &Application, f: &Facts) -> bool {
        if !self.sync.is_empty() && !self.sync.contains(&f.sync) {
            return false;
        }
        if !self.health.is_empty() && !self.health.contains(&f.health) {
            return false;
        }
        if !self.namespaces.is_empty() && !self.namespaces.iter().any(|n| n == f.namespace) {
            return false;
        }
        if !self.names.is_empty() && !self.names.iter().any(|n| n == f.name) {
            return false;
        }
        if !self.clusters.is_empty() && !self.clusters.iter().any(|c| c == f.cluster) {
            return false;
        }
        if !self.repos.is_empty() {
            let repo = normalize_repo(&app.spec.source.repo_url);
            if !self.repos.contains(&repo) {
                return false;
            }
        }
        if let Some(want) = self.drift
            && (f.drift_count > 0) != want
        {
            return false;
        }
        if !self.labels.is_empty() {
            let labels = app.labels();
            if !self.labels.iter().all(|r| r.matches(labels)) {
                return false;
            }
        }
        if let Some(q) = &self.q {
            let path = app.spec.source.path.as_deref().unwrap_or("");
            let hit = [f.name, f.namespace, app.spec.source.repo_url.as_str(), path]
                .iter()
                .any(|field| contains_ignore_ascii_case(field, q));
            if !hit {
                return false;
            }
        }
        true
    }

    /// Filter, count, sort and page `apps` (sorted by key, as the cache
    /// keeps them).
    pub fn run(&self, apps: &[Arc<Application>]) -> ListPage {
        let mut counts = Counts::default();
        let mut rows: Vec<(SortValue, &Arc<Application>)> = Vec::new();
        for app in apps {
            let facts = Facts::of(app);
            if !self.matches_facts(app, &facts) {
                continue;
            }
            counts.add(&facts);
            let value = sort_value(self.sort.key, app, &facts);
            let key = facts.key();
            if let Some(after) = &self.after
                && compare(self.sort, (&value, &key), (&after.value, &after.key))
                    != Ordering::Greater
            {
                continue;
            }
            rows.push((value, app));
        }
        let total = counts.total;
        let limit = self.limit();
        // Only the page is sorted in full; the rest only needs to be found.
        let sort = self.sort;
        let by = |a: &(SortValue, &Arc<Application>), b: &(SortValue, &Arc<Application>)| {
            compare(sort, (&a.0, &key_of(a.1)), (&b.0, &key_of(b.1)))
        };
        let more = rows.len() > limit;
        let remaining = rows.len().saturating_sub(limit);
        if more {
            rows.select_nth_unstable_by(limit, by);
            rows.truncate(limit);
        }
        rows.sort_unstable_by(by);
        let next = if more {
            rows.last().map(|(value, app)| {
                Cursor {
                    sort: self.sort,
                    value: value.clone(),
                    key: key_of(app),
                }
                .encode()
            })
        } else {
            None
        };
        ListPage {
            items: rows.iter().map(|(_, app)| AppSummary::of(app)).collect(),
            total,
            counts,
            next,
            remaining,
        }
    }
}

fn key_of(app: &Application) -> String {
    format!(
        "{}/{}",
        app.metadata.namespace.as_deref().unwrap_or(""),
        app.metadata.name.as_deref().unwrap_or("")
    )
}

/// Case-insensitive (ASCII) substring test without allocating; `needle` is
/// already lowercase.
fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if !needle.is_ascii() {
        return hay.to_lowercase().contains(needle);
    }
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    h.len() >= n.len()
        && h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// What the filters, sorts and counts read from an app, computed once.
struct Facts<'a> {
    name: &'a str,
    namespace: &'a str,
    cluster: &'a str,
    sync: SyncCode,
    health: HealthCode,
    drift_count: usize,
}

impl<'a> Facts<'a> {
    fn of(app: &'a Application) -> Facts<'a> {
        let status = app.status.as_ref();
        Facts {
            name: app.metadata.name.as_deref().unwrap_or(""),
            namespace: app.metadata.namespace.as_deref().unwrap_or(""),
            cluster: app
                .spec
                .destination
                .cluster
                .as_deref()
                .filter(|c| !c.is_empty())
                .unwrap_or(IN_CLUSTER),
            sync: status
                .and_then(|s| s.sync.as_ref())
                .map(|s| s.status)
                .unwrap_or_default(),
            health: status
                .and_then(|s| s.health.as_ref())
                .map(|h| h.status)
                .unwrap_or_default(),
            drift_count: drift_count(app),
        }
    }

    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

fn drift_count(app: &Application) -> usize {
    app.status
        .as_ref()
        .map(|s| s.resources.iter().filter(|r| r.drift.is_some()).count())
        .unwrap_or(0)
}

/// When the app last finished a sync (RFC 3339), from the operation or the
/// history.
fn last_synced_at(app: &Application) -> Option<&str> {
    let status = app.status.as_ref()?;
    let op = status
        .operation_state
        .as_ref()
        .and_then(|o| o.finished_at.as_deref());
    let hist = status
        .history
        .last()
        .and_then(|h| h.finished_at.as_deref().or(Some(h.started_at.as_str())));
    match (op, hist) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A sort position: text, or a number for the ranked keys.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Rank(u64),
    Text(String),
}

fn sync_rank(code: SyncCode) -> u64 {
    // Worst last, as health's order: `sort=-sync` puts the problems first.
    match code {
        SyncCode::Synced => 0,
        SyncCode::Unknown => 1,
        SyncCode::OutOfSync => 2,
    }
}

fn sort_value(key: SortKey, app: &Application, f: &Facts) -> SortValue {
    match key {
        SortKey::Name => SortValue::Text(f.name.to_string()),
        SortKey::Namespace => SortValue::Text(f.namespace.to_string()),
        SortKey::Repo => SortValue::Text(app.spec.source.repo_url.clone()),
        SortKey::Sync => SortValue::Rank(sync_rank(f.sync)),
        // HealthCode is ordered best to worst.
        SortKey::Health => SortValue::Rank(f.health as u64),
        SortKey::LastSync => SortValue::Text(last_synced_at(app).unwrap_or("").to_string()),
        SortKey::Drift => SortValue::Rank(f.drift_count as u64),
    }
}

/// The order of two rows: by the sort value, then by key ascending.
fn compare(sort: Sort, a: (&SortValue, &str), b: (&SortValue, &str)) -> Ordering {
    let by_value = if sort.descending {
        b.0.cmp(a.0)
    } else {
        a.0.cmp(b.0)
    };
    by_value.then_with(|| a.1.cmp(b.1))
}

/// Where the next page starts: after the row with this sort value and key.
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    pub sort: Sort,
    pub value: SortValue,
    pub key: String,
}

#[derive(Serialize, Deserialize)]
struct CursorWire {
    /// Format version, so a token from a future format is refused clearly.
    v: u8,
    s: String,
    p: SortValue,
    k: String,
}

const CURSOR_VERSION: u8 = 1;

impl Cursor {
    pub fn encode(&self) -> String {
        let wire = CursorWire {
            v: CURSOR_VERSION,
            s: self.sort.as_string(),
            p: self.value.clone(),
            k: self.key.clone(),
        };
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Decode a token; it must have been made for the same sort.
    pub fn decode(token: &str, sort: Sort) -> Result<Cursor, ApiError> {
        let bad = || {
            ApiError::bad_request(
                "continue token is not valid: pass the `metadata.continue` value of the previous page unchanged, with the same sort",
            )
        };
        if token.len() > 2048 {
            return Err(bad());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| bad())?;
        let wire: CursorWire = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if wire.v != CURSOR_VERSION {
            return Err(bad());
        }
        if wire.s != sort.as_string() {
            return Err(ApiError::bad_request(format!(
                "continue token was made for sort={} but this request sorts by {}: keep the sort while paging",
                wire.s,
                sort.as_string()
            )));
        }
        Ok(Cursor {
            sort,
            value: wire.p,
            key: wire.k,
        })
    }
}

/// How many matching apps have each sync and health status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Counts {
    /// Every app that matches the filters (over all pages).
    pub total: usize,
    /// By sync status (`Synced`, `OutOfSync`, `Unknown`); absent: none.
    pub sync: BTreeMap<String, usize>,
    /// By health status; absent: none.
    pub health: BTreeMap<String, usize>,
}

impl Counts {
    fn add(&mut self, f: &Facts) {
        self.total += 1;
        *self.sync.entry(f.sync.as_str().to_string()).or_default() += 1;
        *self
            .health
            .entry(f.health.as_str().to_string())
            .or_default() += 1;
    }
}

/// One page of the list.
#[derive(Clone, Debug, PartialEq)]
pub struct ListPage {
    pub items: Vec<AppSummary>,
    pub total: usize,
    pub counts: Counts,
    /// The token for the next page; none: this is the last.
    pub next: Option<String>,
    /// Matching rows after this page.
    pub remaining: usize,
}

/// `GET /api/v1/applications`'s answer, shaped like a Kubernetes list (and
/// Argo CD's): `metadata.continue` pages on, `items` are the rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppList {
    pub metadata: ListMeta,
    pub items: Vec<AppSummary>,
    /// Totals over every app that matches the filters, not just this page.
    pub counts: Counts,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct ListMeta {
    /// Pass as `continue` for the next page; absent on the last page.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
    /// How many apps match the filters, over all pages.
    pub total: usize,
    /// How many matching apps come after this page.
    pub remaining_item_count: usize,
}

impl ListPage {
    /// The answer for this page.
    pub fn into_list(self) -> AppList {
        AppList {
            metadata: ListMeta {
                continue_: self.next,
                total: self.total,
                remaining_item_count: self.remaining,
            },
            items: self.items,
            counts: self.counts,
        }
    }
}

/// The commit an app is at, when the agent recorded it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct CommitSummary {
    pub author: String,
    /// The commit message's first line.
    pub message: String,
    /// Author time, RFC 3339.
    pub time: String,
}

/// One row of the list: what a table or a script needs, not the whole
/// Application (`GET /api/v1/applications/{ns}/{name}` has that).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct AppSummary {
    pub name: String,
    pub namespace: String,
    /// The source repository URL.
    pub repo: String,
    /// The path in the repository ("" for its root).
    pub path: String,
    /// The revision the app follows (branch, tag or commit; "" for the default branch).
    pub target_revision: String,
    /// The commit Git pointed at when last compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The commit of the last sync, when the agent recorded its metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitSummary>,
    /// The destination cluster (`in-cluster` when the app names none).
    pub cluster: String,
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub health: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub health_message: String,
    /// The phase of the last sync operation (`Running`, `Succeeded`, `Failed`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_phase: Option<String>,
    /// When the last sync finished (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<String>,
    /// How many objects have drifted from Git.
    pub drift_count: usize,
    pub labels: BTreeMap<String, String>,
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_string()
}

impl AppSummary {
    pub fn of(app: &Application) -> AppSummary {
        let status = app.status.as_ref();
        let f = Facts::of(app);
        let revision = status
            .and_then(|s| s.sync.as_ref())
            .and_then(|s| s.revision.clone());
        // The commit metadata is recorded per sync; show it when the newest
        // sync is of the revision shown.
        let commit = status
            .and_then(|s| s.history.last())
            .and_then(|h| h.commit.as_ref())
            .map(|c| CommitSummary {
                author: c.author.clone(),
                message: first_line(&c.message),
                time: c.time.clone(),
            });
        AppSummary {
            name: f.name.to_string(),
            namespace: f.namespace.to_string(),
            repo: app.spec.source.repo_url.clone(),
            path: app.spec.source.path.clone().unwrap_or_default(),
            target_revision: app.spec.source.revision.clone().unwrap_or_default(),
            revision,
            commit,
            cluster: f.cluster.to_string(),
            sync: f.sync.as_str().to_string(),
            health: f.health.as_str().to_string(),
            health_message: status
                .and_then(|s| s.health.as_ref())
                .map(|h| h.message.clone())
                .unwrap_or_default(),
            operation_phase: status
                .and_then(|s| s.operation_state.as_ref())
                .map(|o| phase_name(o.phase).to_string()),
            last_synced_at: last_synced_at(app).map(str::to_string),
            drift_count: f.drift_count,
            labels: app.labels().clone(),
        }
    }
}

fn phase_name(phase: OperationPhase) -> &'static str {
    phase.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_model::status::{
        ApplicationStatus, CommitInfo, Drift, HealthStatus, HistoryEntry, ResourceStatus,
        SyncStatus,
    };
    use tether_model::{ApplicationSpec, Destination, Source};

    fn app(ns: &str, name: &str, sync: SyncCode, health: HealthCode) -> Application {
        let mut a = Application::new(
            name,
            ApplicationSpec {
                source: Source {
                    repo_url: format!("https://git.example.com/team/{name}.git"),
                    path: Some(format!("apps/{name}")),
                    ..Default::default()
                },
                destination: Destination::default(),
                ..Default::default()
            },
        );
        a.metadata.namespace = Some(ns.into());
        a.status = Some(ApplicationStatus {
            sync: Some(SyncStatus {
                status: sync,
                revision: Some("abc123".into()),
            }),
            health: Some(HealthStatus::new(health, "")),
            ..Default::default()
        });
        a
    }

    fn labelled(mut a: Application, labels: &[(&str, &str)]) -> Application {
        a.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        a
    }

    fn fleet(n: usize) -> Vec<Arc<Application>> {
        let mut apps: Vec<Application> = (0..n)
            .map(|i| {
                let sync = [SyncCode::Synced, SyncCode::OutOfSync, SyncCode::Unknown][i % 3];
                let health = [HealthCode::Healthy, HealthCode::Degraded][i % 2];
                let ns = if i % 4 == 0 { "team-a" } else { "team-b" };
                let env = if i % 5 == 0 { "prod" } else { "dev" };
                labelled(
                    app(ns, &format!("app-{i:04}"), sync, health),
                    &[("env", env)],
                )
            })
            .collect();
        apps.sort_by_key(key_of);
        apps.into_iter().map(Arc::new).collect()
    }

    fn q(raw: &str) -> ListQuery {
        ListQuery::parse(raw).unwrap_or_else(|e| panic!("{raw}: {}", e.message))
    }

    #[test]
    fn parses_every_parameter() {
        let query = q(
            "sync=OutOfSync&health=Degraded,Missing&health=healthy&q=Web&label=env%3Dprod&namespace=a,b&cluster=in-cluster&repo=HTTPS://Git.Example.com/x.git/&drift=true&sort=-lastSync&limit=5",
        );
        assert_eq!(query.sync, vec![SyncCode::OutOfSync]);
        assert_eq!(
            query.health,
            vec![
                HealthCode::Degraded,
                HealthCode::Missing,
                HealthCode::Healthy
            ]
        );
        assert_eq!(query.q.as_deref(), Some("web"));
        assert_eq!(
            query.labels,
            vec![LabelReq::Equals("env".into(), "prod".into())]
        );
        assert_eq!(query.namespaces, vec!["a", "b"]);
        assert_eq!(query.clusters, vec!["in-cluster"]);
        assert_eq!(query.repos, vec!["git.example.com/x"]);
        // Every form of one repository is the same repository.
        assert_eq!(
            normalize_repo("git@Git.Example.com:x.git"),
            normalize_repo("https://git.example.com/x/")
        );
        assert_eq!(query.drift, Some(true));
        assert_eq!(
            query.sort,
            Sort {
                key: SortKey::LastSync,
                descending: true
            }
        );
        assert_eq!(query.limit(), 5);
        assert_eq!(q("").limit(), DEFAULT_LIMIT);
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        for (raw, hint) in [
            ("sync=Green", "Synced, OutOfSync, Unknown"),
            ("health=ok", "Healthy"),
            ("drift=yes", "drift=true"),
            ("sort=size", "lastSync"),
            ("limit=0", "1 to 1000"),
            ("limit=-3", "1 to 1000"),
            ("limit=1001", "1 to 1000"),
            ("limit=ten", "1 to 1000"),
            ("label=a%20in%20(x", "closing"),
            ("label=a%3Db%3Dc", "invalid value"),
            ("label=%3Db", "invalid key"),
            ("label=a%20maybe%20(x)", "operator"),
            ("colour=red", "accepts sync, health"),
            ("continue=garbage!", "continue token"),
        ] {
            let e = ListQuery::parse(raw).unwrap_err();
            assert_eq!(e.status, 400, "{raw}");
            assert!(e.message.contains(hint), "{raw}: {}", e.message);
        }
        let long = format!("q={}", "x".repeat(MAX_Q + 1));
        assert!(ListQuery::parse(&long).is_err());
    }

    #[test]
    fn selectors_follow_kubernetes() {
        let reqs =
            parse_selector("a=b, c!=d,e in (x, y),f notin (z),g,!h,tether.dev/team==ops").unwrap();
        assert_eq!(
            reqs,
            vec![
                LabelReq::Equals("a".into(), "b".into()),
                LabelReq::NotEquals("c".into(), "d".into()),
                LabelReq::In("e".into(), vec!["x".into(), "y".into()]),
                LabelReq::NotIn("f".into(), vec!["z".into()]),
                LabelReq::Exists("g".into()),
                LabelReq::NotExists("h".into()),
                LabelReq::Equals("tether.dev/team".into(), "ops".into()),
            ]
        );
        let labels: BTreeMap<String, String> = [("a", "b"), ("e", "y"), ("g", "")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(reqs[..6].iter().all(|r| r.matches(&labels)));
        assert!(!LabelReq::In("e".into(), vec!["x".into()]).matches(&labels));
        assert!(LabelReq::NotIn("missing".into(), vec!["x".into()]).matches(&labels));
        assert!(!LabelReq::Exists("h".into()).matches(&labels));
    }

    #[test]
    fn filters_match_and_count() {
        let apps = fleet(200);
        let page = q("sync=OutOfSync&health=Degraded&limit=1000").run(&apps);
        // i % 3 == 1 and i % 2 == 1: i % 6 == 1 → 34 of 0..200 (1, 7, …, 199).
        assert_eq!(page.total, 34);
        assert_eq!(page.items.len(), 34);
        assert!(
            page.items
                .iter()
                .all(|r| r.sync == "OutOfSync" && r.health == "Degraded")
        );
        assert_eq!(page.counts.sync.get("OutOfSync"), Some(&34));
        assert_eq!(page.counts.sync.get("Synced"), None);

        let all = q("").run(&apps);
        assert_eq!(all.total, 200);
        assert_eq!(all.counts.health["Healthy"], 100);
        assert_eq!(all.counts.sync["Synced"], 67);
        assert_eq!(all.items.len(), DEFAULT_LIMIT);

        assert_eq!(q("namespace=team-a&limit=1000").run(&apps).total, 50);
        assert_eq!(q("label=env%3Dprod").run(&apps).total, 40);
        assert_eq!(q("label=env%20notin%20(prod)").run(&apps).total, 160);
        assert_eq!(q("q=APP-019").run(&apps).total, 10);
        assert_eq!(q("q=apps/app-0001").run(&apps).total, 1);
        assert_eq!(
            q("repo=https://GIT.example.com/team/app-0002/")
                .run(&apps)
                .total,
            1
        );
        assert_eq!(q("cluster=in-cluster").run(&apps).total, 200);
        assert_eq!(q("cluster=prod-eu").run(&apps).total, 0);
        assert_eq!(q("drift=true").run(&apps).total, 0);
        assert_eq!(q("drift=false").run(&apps).total, 200);
        assert_eq!(q("name=app-0003").run(&apps).total, 1);
    }

    #[test]
    fn pages_are_disjoint_complete_and_ordered_for_every_sort() {
        let apps = fleet(200);
        for sort in [
            "name",
            "-name",
            "health",
            "-health",
            "sync",
            "-sync",
            "namespace",
            "-lastSync",
            "repo",
            "drift",
        ] {
            let mut seen = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut raw = format!("sort={sort}&limit=7&health=Degraded");
                if let Some(t) = &token {
                    raw.push_str(&format!("&continue={t}"));
                }
                let page = q(&raw).run(&apps);
                assert_eq!(page.total, 100, "{sort}");
                assert_eq!(
                    page.remaining,
                    100 - seen.len() - page.items.len(),
                    "{sort}"
                );
                assert!(page.items.len() <= 7);
                seen.extend(
                    page.items
                        .iter()
                        .map(|r| format!("{}/{}", r.namespace, r.name)),
                );
                match page.next {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), 100, "{sort}: pages overlap or miss rows");
            assert_eq!(seen.len(), 100, "{sort}");
            // The concatenated pages equal one big sorted page.
            let whole: Vec<String> = q(&format!("sort={sort}&limit=1000&health=Degraded"))
                .run(&apps)
                .items
                .iter()
                .map(|r| format!("{}/{}", r.namespace, r.name))
                .collect();
            assert_eq!(seen, whole, "{sort}");
        }
    }

    #[test]
    fn sorts_put_worst_health_first_when_descending() {
        let apps = fleet(10);
        let page = q("sort=-health").run(&apps);
        assert_eq!(page.items[0].health, "Degraded");
        assert_eq!(page.items.last().unwrap().health, "Healthy");
        let names: Vec<String> = q("sort=-name")
            .run(&apps)
            .items
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names.first().map(String::as_str), Some("app-0009"));
    }

    #[test]
    fn continuing_survives_changes_between_pages() {
        let mut apps = fleet(20);
        let first = q("limit=5").run(&apps);
        let token = first.next.unwrap();
        // An app before the boundary disappears, one is added before it:
        // the next page still starts right after the last row shown.
        apps.remove(0);
        let mut extra = app("team-a", "aaa-new", SyncCode::Synced, HealthCode::Healthy);
        extra.metadata.labels = None;
        apps.insert(0, Arc::new(extra));
        let second = q(&format!("limit=5&continue={token}")).run(&apps);
        let last_shown = first.items.last().unwrap();
        let key = |r: &AppSummary| (r.name.clone(), r.namespace.clone());
        assert!(second.items.iter().all(|r| key(r) > key(last_shown)));
        assert!(!second.items.iter().any(|r| first.items.contains(r)));
    }

    #[test]
    fn a_token_from_another_sort_is_refused() {
        let apps = fleet(20);
        let token = q("limit=5&sort=-health").run(&apps).next.unwrap();
        let e = ListQuery::parse(&format!("continue={token}&sort=name")).unwrap_err();
        assert!(e.message.contains("sort=-health"), "{}", e.message);
        // Parameter order does not matter.
        assert!(ListQuery::parse(&format!("continue={token}&sort=-health")).is_ok());
    }

    #[test]
    fn summary_carries_commit_and_drift() {
        let mut a = app("ns", "web", SyncCode::OutOfSync, HealthCode::Healthy);
        let status = a.status.as_mut().unwrap();
        status.history.push(HistoryEntry {
            id: 1,
            revision: "abc123".into(),
            commit: Some(CommitInfo {
                author: "Ada <ada@example.com>".into(),
                message: "Scale web\n\nbecause".into(),
                time: "2026-01-01T00:00:00Z".into(),
            }),
            started_at: "2026-01-01T00:00:01Z".into(),
            finished_at: Some("2026-01-01T00:00:02Z".into()),
            ..Default::default()
        });
        status.resources.push(ResourceStatus {
            kind: "Deployment".into(),
            name: "web".into(),
            drift: Some(Drift::default()),
            ..Default::default()
        });
        let row = AppSummary::of(&a);
        assert_eq!(row.commit.as_ref().unwrap().message, "Scale web");
        assert_eq!(row.drift_count, 1);
        assert_eq!(row.last_synced_at.as_deref(), Some("2026-01-01T00:00:02Z"));
        assert_eq!(row.cluster, IN_CLUSTER);
        assert!(q("drift=true").matches(&a));
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["driftCount"], 1);
        assert_eq!(json["targetRevision"], "");
    }
}
