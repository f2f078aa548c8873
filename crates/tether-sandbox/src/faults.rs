//! Fault injection for tests: latency and errors per verb and resource, set
//! through the admin endpoint `/_sandbox/faults`, which a real server does not
//! have and which sits outside the Kubernetes paths.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::status::ApiError;

/// One rule. Empty `verb`/`resource` match everything. `resource` matches the
/// plural (`deployments`) or the kind (`Deployment`), case-insensitively.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Added to every matching request.
    #[serde(default)]
    pub latency_ms: u64,
    /// 500, 429 or 409 (any 4xx/5xx is accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u16>,
    /// Fraction of matching requests that fail, 0.0 to 1.0 (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// After this many injected errors the rule stops erroring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    /// True while there are rules, so requests skip the lock when there are none.
    armed: AtomicBool,
    rng: AtomicU64,
}

/// What the rules say about one request.
pub struct Injected {
    pub latency: Duration,
    pub error: Option<ApiError>,
}

impl Faults {
    pub fn set(&self, rules: Vec<FaultRule>) {
        self.armed.store(!rules.is_empty(), Ordering::Release);
        *self.rules.lock().unwrap_or_else(|e| e.into_inner()) = rules;
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A cheap pseudo-random number in [0, 1): an xorshift over an atomic state, enough
    /// for error rates (tests that need exact counts use `count` or rate 1.0).
    fn random(&self) -> f64 {
        let mut x = self.rng.fetch_add(0x9E3779B97F4A7C15, Ordering::Relaxed) ^ 0x2545F4914F6CDD1D;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn check(&self, verb: &str, plural: &str, kind: &str) -> Injected {
        if !self.armed.load(Ordering::Acquire) {
            return Injected {
                latency: Duration::ZERO,
                error: None,
            };
        }
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Injected {
            latency: Duration::ZERO,
            error: None,
        };
        if rules.is_empty() {
            return out;
        }
        for rule in rules.iter_mut() {
            let verb_ok = rule
                .verb
                .as_deref()
                .is_none_or(|v| v.eq_ignore_ascii_case(verb));
            let res_ok = rule
                .resource
                .as_deref()
                .is_none_or(|r| r.eq_ignore_ascii_case(plural) || r.eq_ignore_ascii_case(kind));
            if !verb_ok || !res_ok {
                continue;
            }
            out.latency += Duration::from_millis(rule.latency_ms);
            let Some(code) = rule.error_code else {
                continue;
            };
            if out.error.is_some() || rule.count == Some(0) {
                continue;
            }
            if self.random() < rule.error_rate.unwrap_or(1.0) {
                if let Some(c) = rule.count.as_mut() {
                    *c -= 1;
                }
                out.error = Some(injected_error(code, verb, plural));
            }
        }
        out
    }
}

fn injected_error(code: u16, verb: &str, plural: &str) -> ApiError {
    match code {
        429 => ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            )
            .with_details(serde_json::json!({"retryAfterSeconds": 1}))
        },
        409 => ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {plural}: the object has been modified; please apply your changes to the latest version and try again"
            ),
        ),
        500 => ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: injected fault on {verb} {plural}"),
        ),
        503 => ApiError::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        other => ApiError::new(
            other,
            "InternalError",
            format!("injected fault {other} on {verb} {plural}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_by_verb_and_resource_and_count_down() {
        let f = Faults::default();
        f.set(vec![FaultRule {
            verb: Some("create".into()),
            resource: Some("ConfigMap".into()),
            error_code: Some(500),
            count: Some(1),
            ..Default::default()
        }]);
        assert!(f.check("get", "configmaps", "ConfigMap").error.is_none());
        assert_eq!(
            f.check("create", "configmaps", "ConfigMap")
                .error
                .map(|e| e.code),
            Some(500)
        );
        assert!(
            f.check("create", "configmaps", "ConfigMap").error.is_none(),
            "count exhausted"
        );
    }

    #[test]
    fn error_rate_is_roughly_honoured() {
        let f = Faults::default();
        f.set(vec![FaultRule {
            error_code: Some(429),
            error_rate: Some(0.5),
            ..Default::default()
        }]);
        let n = (0..2000)
            .filter(|_| f.check("list", "pods", "Pod").error.is_some())
            .count();
        assert!((800..1200).contains(&n), "{n} of 2000 failed");
    }
}
