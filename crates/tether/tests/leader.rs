//! Leader election with fencing: two agents on one sandbox, one Lease. Only
//! the holder writes; a paused leader loses the lease and, once resumed, does
//! not write; a killed leader is replaced.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const LEASE: &str = "tether-agent-in-cluster";

/// One agent process, killed on drop.
struct Replica {
    name: &'static str,
    child: Child,
}

impl Replica {
    fn start(env: &Env, name: &'static str) -> Replica {
        let child = env.spawn_agent(
            name,
            &[
                "--leader-elect",
                "--identity",
                name,
                "--lease-duration",
                "3",
                "--renew-deadline",
                "2",
                "--retry-period",
                "0.5",
            ],
        );
        Replica { name, child }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill runs");
        assert!(ok.success(), "kill {sig} {pid}");
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn holder(env: &Env) -> Option<String> {
    let lease = env.get("lease", "tether", LEASE)?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_string)
}

fn lease(env: &Env) -> Value {
    env.get("lease", "tether", LEASE).expect("the Lease exists")
}

/// Wait until `what` holds, with both agents' logs on timeout.
fn wait(env: &Env, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n--- a.log\n{}\n--- b.log\n{}",
            env.spawned_agent_log("a"),
            env.spawned_agent_log("b")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sync and self-heal records in an agent's audit log (none when it has
/// never led, so never opened one).
fn writes(env: &Env, name: &str) -> Vec<Value> {
    let dir = env.agent_state_dir(name);
    if !dir.join("audit.sqlite").exists() {
        return Vec::new();
    }
    audit_json(&dir, &["--kind", "sync", "--kind", "self-heal"])
}

fn value(env: &Env) -> String {
    env.get("configmap", "ha", "settings")
        .map(|c| c["data"]["value"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn two_agents_one_writer_and_failover() {
    let started = Instant::now();
    let env = Env::start();
    // The Lease's namespace must exist before the agents start.
    env.kubectl_ok(&["create", "namespace", "tether"]);
    let repo = Repo::init(&env.dir.path().join("repo"));
    repo.write("app/settings.yaml", &configmap("settings", "one"));
    repo.commit("one");

    let a = Replica::start(&env, "a");
    let b = Replica::start(&env, "b");

    // Exactly one holds the Lease, and it installs the CRD.
    wait(&env, "a leader", Duration::from_secs(20), || {
        holder(&env).is_some_and(|h| h == "a" || h == "b")
    });
    let first = holder(&env).unwrap();
    let (leader, standby) = if first == "a" { (a, b) } else { (b, a) };
    wait(&env, "the CRD", Duration::from_secs(30), || {
        env.kubectl(&["get", "crd", "applications.tether.dev"])
            .status
            .success()
    });
    env.apply_yaml(&app_yaml(
        "ha",
        &repo.url(),
        "app",
        "ha",
        "    automated: {prune: true, selfHeal: true}",
        "",
    ));
    env.wait_synced_healthy("ha");
    assert_eq!(value(&env), "one");
    assert_eq!(
        holder(&env).as_deref(),
        Some(leader.name),
        "the lease stayed put"
    );
    assert_eq!(lease(&env)["spec"]["leaseDurationSeconds"], 3);

    // Only the leader wrote; the standby says it is waiting.
    assert!(!writes(&env, leader.name).is_empty(), "the leader synced");
    assert!(
        writes(&env, standby.name).is_empty(),
        "the standby wrote: {:?}",
        writes(&env, standby.name)
    );
    wait(
        &env,
        "the standby's wait in its log",
        Duration::from_secs(5),
        || {
            env.spawned_agent_log(standby.name)
                .contains(&format!("waiting for leadership; held by {}", leader.name))
        },
    );
    assert!(env.spawned_agent_log(leader.name).contains("became leader"));
    assert!(
        !env.spawned_agent_log(standby.name)
            .contains("became leader")
    );

    // Pause the leader: it stops renewing and the standby takes over after the
    // lease duration.
    leader.signal("-STOP");
    let paused = Instant::now();
    wait(
        &env,
        "the standby to take over",
        Duration::from_secs(20),
        || holder(&env).as_deref() == Some(standby.name),
    );
    let failover = paused.elapsed();
    assert!(
        failover >= Duration::from_secs(2),
        "taken over after {failover:?}, before the old leader's fence could lapse"
    );
    let transitions = lease(&env)["spec"]["leaseTransitions"].as_i64().unwrap();
    assert!(transitions >= 1, "a takeover counts as a transition");

    // The new leader applies a new commit.
    repo.write("app/settings.yaml", &configmap("settings", "two"));
    repo.commit("two");
    wait(&env, "commit two applied", Duration::from_secs(20), || {
        value(&env) == "two"
    });
    env.wait_synced_healthy("ha");
    let new_leader_writes = writes(&env, standby.name).len();
    assert!(new_leader_writes > 0, "the new leader synced");

    // Resume the old leader. Its fence lapsed long ago: it must notice, stop,
    // and not write, while the new leader keeps the lease and keeps healing.
    let old_writes = writes(&env, leader.name).len();
    leader.signal("-CONT");
    wait(
        &env,
        "the old leader to notice",
        Duration::from_secs(10),
        || {
            env.spawned_agent_log(leader.name)
                .contains("lost leadership")
        },
    );
    wait(
        &env,
        "the old leader back in standby",
        Duration::from_secs(10),
        || {
            env.spawned_agent_log(leader.name)
                .contains(&format!("waiting for leadership; held by {}", standby.name))
        },
    );
    // Drift on a self-healing app: the leader heals it, the old leader must not.
    env.kubectl_ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "ha",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"value":"drifted"}}"#,
    ]);
    wait(&env, "the drift healed", Duration::from_secs(20), || {
        value(&env) == "two"
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holder(&env).as_deref(), Some(standby.name));
    assert_eq!(
        writes(&env, leader.name).len(),
        old_writes,
        "the old leader wrote after it lost the lease:\n{}",
        env.spawned_agent_log(leader.name)
    );
    assert!(
        writes(&env, standby.name)
            .iter()
            .any(|r| r["kind"] == "self-heal"),
        "the new leader healed: {:?}",
        writes(&env, standby.name)
    );

    // Kill the new leader outright: no release, so the old one waits out the
    // lease duration, takes over, and syncs the next commit.
    let survivor = leader;
    let mut killed = standby;
    killed.signal("-KILL");
    let _ = killed.child.wait();
    wait(
        &env,
        "the survivor to take over",
        Duration::from_secs(20),
        || holder(&env).as_deref() == Some(survivor.name),
    );
    let before = writes(&env, survivor.name).len();
    repo.write("app/settings.yaml", &configmap("settings", "three"));
    repo.commit("three");
    wait(
        &env,
        "commit three applied",
        Duration::from_secs(20),
        || value(&env) == "three",
    );
    wait(
        &env,
        "the survivor's sync in its audit log",
        Duration::from_secs(10),
        || writes(&env, survivor.name).len() > before,
    );
    assert!(
        lease(&env)["spec"]["leaseTransitions"].as_i64().unwrap() > transitions,
        "the second takeover counted"
    );
    eprintln!("leader test took {:?}", started.elapsed());
}

/// A graceful stop releases the lease, so the standby takes over at its next
/// retry instead of waiting out the lease duration.
#[test]
fn a_stopping_leader_hands_over_at_once() {
    let env = Env::start();
    env.kubectl_ok(&["create", "namespace", "tether"]);
    let a = Replica::start(&env, "a");
    wait(&env, "a to lead", Duration::from_secs(20), || {
        holder(&env).as_deref() == Some("a")
    });
    let b = Replica::start(&env, "b");
    wait(&env, "b waiting", Duration::from_secs(10), || {
        env.spawned_agent_log("b")
            .contains("waiting for leadership; held by a")
    });
    a.signal("-TERM");
    let stopped = Instant::now();
    wait(&env, "b to lead", Duration::from_secs(10), || {
        holder(&env).as_deref() == Some("b")
    });
    // Without the release b would wait out the 3 s lease duration; a released
    // lease is picked up within a retry period (0.5 s).
    assert!(
        stopped.elapsed() < Duration::from_millis(2500),
        "handover took {:?}",
        stopped.elapsed()
    );
    assert!(env.spawned_agent_log("a").contains("released the lease"));
    drop(b);
}
