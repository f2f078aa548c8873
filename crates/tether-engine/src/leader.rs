//! Leader election through a `coordination.k8s.io/v1` Lease, so several agent
//! replicas can run on one cluster and only one of them writes.
//!
//! The protocol is client-go's `leaderelection`:
//!
//! - A candidate creates the Lease, or takes it over when it is free (no holder,
//!   e.g. released) or when the record has not changed for the holder's lease
//!   duration. That is measured on the candidate's own monotonic clock from the
//!   moment it first saw the record, never by comparing `renewTime` with the
//!   local wall clock, so clock skew between nodes does not matter.
//! - Every write of the Lease is an update with the resourceVersion read
//!   (a 409 means another replica wrote first: that attempt is lost, try again).
//! - The holder renews every retry period. Its [`Fence`] holds until the instant
//!   its last successful renew was *sent* plus the renew deadline; the kube
//!   client refuses every other write once it lapses (see
//!   [`tether_kube::fence`]). Because `renew_deadline < lease_duration`, the
//!   fence lapses before any other replica can take the lease over.
//! - On a graceful stop the holder releases the Lease (clears the holder, sets
//!   `leaseDurationSeconds: 1`) so a standby takes over at its next retry.

use std::future::Future;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tether_kube::Fence;

/// Where the lease lives, who we are, and the timings.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// Namespace of the Lease (must exist).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's name in `holderIdentity`; unique among the replicas.
    pub identity: String,
    /// How long a standby waits, after it last saw the record change, before it
    /// takes the lease over.
    pub lease_duration: Duration,
    /// How long the holder keeps writing after its last successful renew was
    /// sent. Must be shorter than `lease_duration`.
    pub renew_deadline: Duration,
    /// How often the holder renews and a standby tries to acquire.
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// The defaults: Lease `tether/tether-agent-<cluster>`, 15 s / 10 s / 2 s.
    pub fn new(cluster_name: &str) -> LeaderConfig {
        LeaderConfig {
            namespace: "tether".to_string(),
            name: default_lease_name(cluster_name),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// The timings must leave the fencing gap: retry < renew deadline < lease duration.
    pub fn validate(&self) -> Result<(), String> {
        if self.identity.is_empty() {
            return Err("the leader election identity is empty".into());
        }
        if self.retry_period.is_zero() {
            return Err("the retry period must be positive".into());
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?}): \
                 the gap is what keeps a replica that lost the lease from writing while another holds it",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period >= self.renew_deadline {
            return Err(format!(
                "the retry period ({:?}) must be shorter than the renew deadline ({:?}), \
                 or a single failed renew loses the lease",
                self.retry_period, self.renew_deadline
            ));
        }
        Ok(())
    }

    /// The fence guarding writes with this lease.
    pub fn fence(&self) -> Fence {
        Fence::new(&self.namespace, &self.name)
    }
}

/// `tether-agent-<cluster name>`, made a valid object name.
pub fn default_lease_name(cluster_name: &str) -> String {
    let cluster: String = cluster_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cluster = cluster.trim_matches(|c| c == '-' || c == '.');
    let mut name = format!(
        "tether-agent-{}",
        if cluster.is_empty() {
            "default"
        } else {
            cluster
        }
    );
    name.truncate(253);
    name
}

/// `<hostname>-<pid>-<random>`: in a Pod the hostname is the Pod's name. The
/// random part keeps two replicas apart even when hostname and pid match (two
/// host-network Pods on one node both run as pid 1); with one identity both
/// would think they hold the lease.
pub fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tether".to_string());
    let random: String = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|u| {
            u.trim()
                .chars()
                .filter(char::is_ascii_hexdigit)
                .take(8)
                .collect()
        })
        .unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            format!("{nanos:08x}")
        });
    format!("{host}-{}-{random}", std::process::id())
}

/// What to do about a Lease record, given how long it has stayed unchanged as
/// observed on this replica's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// We hold it: renew.
    Renew,
    /// It is free (no holder), or its holder let it expire: take it.
    Acquire,
    /// Another replica holds it; it expires after `expires_in` more without change.
    Wait {
        holder: String,
        expires_in: Duration,
    },
}

/// The takeover rule. `default_duration` is used when the record names no
/// duration; otherwise the holder's own `leaseDurationSeconds` counts (a
/// released lease says 1 s).
pub fn decide(
    identity: &str,
    record: &LeaseSpec,
    unchanged_for: Duration,
    default_duration: Duration,
) -> Decision {
    let holder = record.holder_identity.as_deref().unwrap_or("");
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::Acquire;
    }
    let duration = record
        .lease_duration_seconds
        .filter(|s| *s > 0)
        .map_or(default_duration, |s| Duration::from_secs(s as u64));
    if unchanged_for >= duration {
        Decision::Acquire
    } else {
        Decision::Wait {
            holder: holder.to_string(),
            expires_in: duration - unchanged_for,
        }
    }
}

/// The record that claims (creates, renews or takes over) the lease for `identity`.
pub fn claim(
    identity: &str,
    old: Option<&LeaseSpec>,
    now: Timestamp,
    lease_duration: Duration,
) -> LeaseSpec {
    let ours = old.and_then(|o| o.holder_identity.as_deref()) == Some(identity);
    let transitions = old.and_then(|o| o.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(identity.to_string()),
        lease_duration_seconds: Some(whole_seconds(lease_duration)),
        acquire_time: match old {
            Some(o) if ours => o.acquire_time.clone().or(Some(MicroTime(now))),
            _ => Some(MicroTime(now)),
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(match old {
            Some(_) if !ours => transitions.saturating_add(1),
            _ => transitions,
        }),
        preferred_holder: old.and_then(|o| o.preferred_holder.clone()),
        strategy: old.and_then(|o| o.strategy.clone()),
    }
}

/// The record that gives the lease up: no holder, a 1 s duration.
pub fn released(old: &LeaseSpec, now: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        renew_time: Some(MicroTime(now)),
        ..old.clone()
    }
}

/// Rounded up, so others never wait less than this replica's fence assumes.
fn whole_seconds(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
}

/// The outcome of one try at acquiring or renewing.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Attempt {
    Leader,
    HeldBy(String),
    /// Another replica wrote the Lease between our read and our write.
    Raced,
}

/// Why [`LeaderElector::hold`] returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// The stop future resolved; the lease is still ours (release it).
    Stopped,
    /// Leadership is gone: the fence lapsed or another replica holds the lease.
    Lost(String),
}

/// The last Lease record seen and when it was first seen, on this replica's
/// monotonic clock.
#[derive(Default)]
struct Observer {
    last: Option<(LeaseSpec, Instant)>,
}

impl Observer {
    /// How long `record` has stayed as it is; a changed record starts the clock again.
    fn observe(&mut self, record: &LeaseSpec, now: Instant) -> Duration {
        match &self.last {
            Some((seen, at)) if seen == record => now.saturating_duration_since(*at),
            _ => {
                self.last = Some((record.clone(), now));
                Duration::ZERO
            }
        }
    }
}

/// One replica's side of the election.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderConfig,
    fence: Fence,
    observed: Observer,
    /// The holder last logged while waiting, so the wait is logged once per holder.
    logged_holder: Option<String>,
    /// The last error logged, so a persistent error is logged once.
    last_error: Option<String>,
}

impl LeaderElector {
    /// `client` should be the fenced client whose writes `fence` guards (its
    /// writes to this Lease are let through); `fence` must name this lease.
    pub fn new(client: kube::Client, config: LeaderConfig, fence: Fence) -> LeaderElector {
        debug_assert_eq!(fence.namespace(), config.namespace);
        debug_assert_eq!(fence.lease(), config.name);
        LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
            fence,
            observed: Observer::default(),
            logged_holder: None,
            last_error: None,
        }
    }

    /// Wait until this replica holds the lease. Logs the holder it waits for
    /// once, and "became leader" when it gets it.
    pub async fn acquire(&mut self) {
        loop {
            let attempt =
                tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(Attempt::Leader)) => {
                    self.last_error = None;
                    self.logged_holder = None;
                    tracing::info!(
                        lease = %self.lease_ref(),
                        identity = %self.config.identity,
                        "became leader"
                    );
                    return;
                }
                Ok(Ok(Attempt::HeldBy(holder))) => {
                    self.last_error = None;
                    if self.logged_holder.as_ref() != Some(&holder) {
                        tracing::info!(
                            lease = %self.lease_ref(),
                            identity = %self.config.identity,
                            "waiting for leadership; held by {holder}"
                        );
                        self.logged_holder = Some(holder);
                    }
                }
                Ok(Ok(Attempt::Raced)) => {
                    tracing::debug!(lease = %self.lease_ref(), "another replica wrote the lease first; retrying");
                }
                Ok(Err(e)) => self.log_error("acquiring the lease", &e.to_string()),
                Err(_) => self.log_error("acquiring the lease", "timed out"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Keep renewing the lease until `stop` resolves ([`Held::Stopped`]) or
    /// leadership is lost ([`Held::Lost`]): the fence lapsed because no renew
    /// succeeded within the renew deadline (API errors, a paused process), or
    /// another replica holds the lease. On loss the fence is revoked.
    pub async fn hold(&mut self, stop: impl Future<Output = ()>) -> Held {
        tokio::pin!(stop);
        loop {
            // Wake at the next renew, or when the fence would lapse, if sooner.
            let now = Instant::now();
            let wake = match self.fence.deadline() {
                Some(deadline) => deadline.min(now + self.config.retry_period),
                None => now,
            };
            tokio::select! {
                _ = &mut stop => return Held::Stopped,
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            if let Some(lost) = self.lapsed() {
                return lost;
            }
            let remaining = self.fence.deadline().map_or(Duration::ZERO, |d| {
                d.saturating_duration_since(Instant::now())
            });
            match tokio::time::timeout(remaining, self.try_acquire_or_renew()).await {
                Ok(Ok(Attempt::Leader)) => self.last_error = None,
                Ok(Ok(Attempt::HeldBy(holder))) => {
                    self.fence.revoke();
                    return Held::Lost(format!("the lease is now held by {holder}"));
                }
                Ok(Ok(Attempt::Raced)) => {
                    tracing::debug!(lease = %self.lease_ref(), "the lease changed under a renew; retrying");
                }
                Ok(Err(e)) => self.log_error(
                    "renewing the lease (retrying until the renew deadline)",
                    &e.to_string(),
                ),
                Err(_) => {}
            }
            if let Some(lost) = self.lapsed() {
                return lost;
            }
        }
    }

    fn lapsed(&mut self) -> Option<Held> {
        if self.fence.holds() {
            return None;
        }
        let late = self
            .fence
            .deadline()
            .map(|d| Instant::now().saturating_duration_since(d));
        self.fence.revoke();
        Some(Held::Lost(match late {
            Some(late) => format!(
                "the lease was not renewed within the renew deadline of {:?} (lapsed {:.1}s ago)",
                self.config.renew_deadline,
                late.as_secs_f64()
            ),
            None => "the lease was not held".to_string(),
        }))
    }

    /// Give the lease up so a standby takes over at once. Stops this replica's
    /// writes first. Errors are logged: the standby then takes over when the
    /// lease expires.
    pub async fn release(&mut self) {
        self.fence.revoke();
        let api = &self.api;
        let name = &self.config.name;
        let identity = &self.config.identity;
        let give_up = async {
            let Some(mut lease) = api.get_opt(name).await? else {
                return Ok::<bool, kube::Error>(false);
            };
            let record = lease.spec.clone().unwrap_or_default();
            if record.holder_identity.as_deref() != Some(identity.as_str()) {
                return Ok(false);
            }
            lease.spec = Some(released(&record, Timestamp::now()));
            lease.metadata.managed_fields = None;
            api.replace(name, &PostParams::default(), &lease).await?;
            Ok(true)
        };
        match tokio::time::timeout(self.config.renew_deadline, give_up).await {
            Ok(Ok(true)) => tracing::info!(lease = %self.lease_ref(), "released the lease"),
            Ok(Ok(false)) => {
                tracing::debug!(lease = %self.lease_ref(), "not the holder; nothing to release")
            }
            Ok(Err(e)) => tracing::warn!(
                lease = %self.lease_ref(),
                "releasing the lease: {e}; another replica takes over when it expires"
            ),
            Err(_) => tracing::warn!(
                lease = %self.lease_ref(),
                "releasing the lease timed out; another replica takes over when it expires"
            ),
        }
    }

    /// One round: read the Lease and create, renew or take it over when the
    /// rules allow. Extends the fence on success, revokes it when another
    /// replica holds the lease.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let identity = self.config.identity.clone();
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(claim(
                    &identity,
                    None,
                    Timestamp::now(),
                    self.config.lease_duration,
                )),
            };
            let sent = Instant::now();
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => Ok(self.won(created, sent)),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Raced),
                Err(e) => Err(e),
            };
        };
        let record = lease.spec.clone().unwrap_or_default();
        let unchanged_for = self.observed.observe(&record, Instant::now());
        match decide(
            &identity,
            &record,
            unchanged_for,
            self.config.lease_duration,
        ) {
            Decision::Wait { holder, expires_in } => {
                tracing::debug!(lease = %self.lease_ref(), %holder, "lease held; expires in {expires_in:?} unless renewed");
                self.fence.revoke();
                return Ok(Attempt::HeldBy(holder));
            }
            Decision::Acquire => {
                if let Some(holder) = record.holder_identity.as_deref().filter(|h| !h.is_empty()) {
                    tracing::info!(
                        lease = %self.lease_ref(),
                        "the lease held by {holder} expired (unchanged for {:.1}s); taking over",
                        unchanged_for.as_secs_f64()
                    );
                }
            }
            Decision::Renew => {}
        }
        let mut next = lease;
        next.spec = Some(claim(
            &identity,
            Some(&record),
            Timestamp::now(),
            self.config.lease_duration,
        ));
        next.metadata.managed_fields = None;
        // The resourceVersion read above is the precondition: a 409 means another
        // replica wrote in between.
        let sent = Instant::now();
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &next)
            .await
        {
            Ok(stored) => Ok(self.won(stored, sent)),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Raced),
            Err(e) => Err(e),
        }
    }

    /// Our write of the lease, sent at `sent`, was stored.
    fn won(&mut self, stored: Lease, sent: Instant) -> Attempt {
        self.fence.extend(sent, self.config.renew_deadline);
        self.observed
            .observe(&stored.spec.unwrap_or_default(), Instant::now());
        Attempt::Leader
    }

    fn log_error(&mut self, what: &str, error: &str) {
        if self.last_error.as_deref() == Some(error) {
            tracing::debug!(lease = %self.lease_ref(), "{what}: {error}");
        } else {
            tracing::warn!(lease = %self.lease_ref(), "{what}: {error}");
            self.last_error = Some(error.to_string());
        }
    }

    fn lease_ref(&self) -> String {
        format!("{}/{}", self.config.namespace, self.config.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: &str, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_string()),
            lease_duration_seconds: Some(secs),
            ..Default::default()
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_holder_renews() {
        assert_eq!(
            decide("a", &held_by("a", 15), S(100), S(15)),
            Decision::Renew
        );
    }

    #[test]
    fn a_free_lease_is_taken_at_once() {
        let released = LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            ..Default::default()
        };
        assert_eq!(decide("b", &released, S(0), S(15)), Decision::Acquire);
        assert_eq!(
            decide("b", &held_by("", 15), S(0), S(15)),
            Decision::Acquire
        );
    }

    #[test]
    fn a_held_lease_is_taken_only_after_its_duration_unchanged() {
        let r = held_by("a", 15);
        assert_eq!(
            decide("b", &r, S(0), S(3)),
            Decision::Wait {
                holder: "a".into(),
                expires_in: S(15)
            }
        );
        assert_eq!(
            decide("b", &r, Duration::from_millis(14_999), S(3)),
            Decision::Wait {
                holder: "a".into(),
                expires_in: Duration::from_millis(1)
            }
        );
        assert_eq!(decide("b", &r, S(15), S(3)), Decision::Acquire);
        // No duration in the record: ours counts.
        let r = LeaseSpec {
            holder_identity: Some("a".into()),
            ..Default::default()
        };
        assert!(matches!(decide("b", &r, S(2), S(3)), Decision::Wait { .. }));
        assert_eq!(decide("b", &r, S(3), S(3)), Decision::Acquire);
    }

    #[test]
    fn the_elector_measures_unchanged_time_on_its_own_clock() {
        // A renewTime far in the past (clock skew) does not matter; only how
        // long this replica has seen the same record.
        let mut e = Observer::default();
        let mut r = held_by("a", 15);
        r.renew_time = Some(MicroTime(Timestamp::UNIX_EPOCH));
        let t0 = Instant::now();
        assert_eq!(e.observe(&r, t0), S(0));
        assert_eq!(e.observe(&r, t0 + S(10)), S(10));
        // The holder renewed: the clock starts again.
        let mut renewed = r.clone();
        renewed.renew_time = Some(MicroTime(Timestamp::UNIX_EPOCH + S(1)));
        assert_eq!(e.observe(&renewed, t0 + S(11)), S(0));
        assert_eq!(e.observe(&renewed, t0 + S(20)), S(9));
    }

    #[test]
    fn claim_counts_transitions_and_keeps_acquire_time_on_renew() {
        let t0 = Timestamp::UNIX_EPOCH + S(1000);
        let t1 = t0 + S(2);
        let created = claim("a", None, t0, Duration::from_millis(2500));
        assert_eq!(created.holder_identity.as_deref(), Some("a"));
        assert_eq!(created.lease_transitions, Some(0));
        assert_eq!(created.lease_duration_seconds, Some(3), "rounded up");
        assert_eq!(created.acquire_time, Some(MicroTime(t0)));

        let renewed = claim("a", Some(&created), t1, S(3));
        assert_eq!(renewed.lease_transitions, Some(0));
        assert_eq!(renewed.acquire_time, Some(MicroTime(t0)));
        assert_eq!(renewed.renew_time, Some(MicroTime(t1)));

        let taken = claim("b", Some(&renewed), t1, S(3));
        assert_eq!(taken.holder_identity.as_deref(), Some("b"));
        assert_eq!(taken.lease_transitions, Some(1));
        assert_eq!(taken.acquire_time, Some(MicroTime(t1)));

        let given_up = released(&taken, t1);
        assert_eq!(given_up.holder_identity, None);
        assert_eq!(given_up.lease_duration_seconds, Some(1));
        assert_eq!(given_up.lease_transitions, Some(1));
        let again = claim("a", Some(&given_up), t1, S(3));
        assert_eq!(again.lease_transitions, Some(2));
    }

    #[test]
    fn timings_must_leave_the_fencing_gap() {
        let mut c = LeaderConfig::new("in-cluster");
        assert_eq!(c.name, "tether-agent-in-cluster");
        assert!(c.validate().is_ok());
        c.renew_deadline = c.lease_duration;
        assert!(
            c.validate()
                .unwrap_err()
                .contains("shorter than the lease duration")
        );
        c.renew_deadline = S(10);
        c.retry_period = S(10);
        assert!(c.validate().unwrap_err().contains("retry period"));
    }

    #[test]
    fn lease_names_are_valid_object_names() {
        assert_eq!(default_lease_name("Prod_EU"), "tether-agent-prod-eu");
        assert_eq!(default_lease_name(""), "tether-agent-default");
        assert!(default_identity().contains('-'));
        assert_ne!(default_identity(), default_identity(), "a random part");
    }
}
