//! `tether_notifications_total{notifier,result}`: one process-wide family, so
//! `/metrics` can register it before any agent term has started.
//!
//! `result` is one of:
//! - `delivered`: the target accepted it (2xx);
//! - `retry`: an attempt failed and will be retried;
//! - `failed`: given up (a 4xx the target will not change its mind on, a
//!   request that cannot be built, or retries past the give-up time);
//! - `dropped`: never attempted: the queue was full (the oldest waiting message
//!   is dropped), or the Notifier was deleted or suspended meanwhile.
//!
//! `notifier` is `namespace/name`: bounded by the Notifiers that exist.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    pub notifier: String,
    pub result: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Result {
    Delivered,
    Retry,
    Failed,
    Dropped,
}

impl Result {
    pub fn as_str(self) -> &'static str {
        match self {
            Result::Delivered => "delivered",
            Result::Retry => "retry",
            Result::Failed => "failed",
            Result::Dropped => "dropped",
        }
    }
}

fn family() -> &'static Family<NotifyLabels, Counter> {
    static FAMILY: OnceLock<Family<NotifyLabels, Counter>> = OnceLock::new();
    FAMILY.get_or_init(Family::default)
}

/// Count one outcome for one Notifier.
pub fn count(notifier: &str, result: Result) {
    family()
        .get_or_create(&NotifyLabels {
            notifier: notifier.to_string(),
            result: result.as_str().to_string(),
        })
        .inc();
}

/// The current value, for tests and the status.
pub fn value(notifier: &str, result: Result) -> u64 {
    family()
        .get_or_create(&NotifyLabels {
            notifier: notifier.to_string(),
            result: result.as_str().to_string(),
        })
        .get()
}

/// Register `tether_notifications_total` in `/metrics`' registry.
pub fn register(registry: &mut Registry) {
    registry.register(
        "tether_notifications",
        "Notifications by Notifier and result (delivered, retry, failed, dropped)",
        family().clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_exposed_in_the_text_format() {
        count("ns/metrics-test", Result::Delivered);
        count("ns/metrics-test", Result::Delivered);
        count("ns/metrics-test", Result::Dropped);
        assert_eq!(value("ns/metrics-test", Result::Delivered), 2);
        let mut registry = Registry::default();
        register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                r#"tether_notifications_total{notifier="ns/metrics-test",result="delivered"} 2"#
            ),
            "{text}"
        );
    }
}
