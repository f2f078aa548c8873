//! The engine: runs the pipeline Source → Render → Plan → Apply → Assess →
//! Record for every Application on one cluster.
//!
//! - [`agent`] watches Applications and schedules reconciles (concurrency,
//!   poll interval, graceful shutdown).
//! - [`pipeline`] is one reconcile of one app, stage by stage.
//! - [`apply`] runs a plan against the cluster, wave by wave.
//! - [`record`] turns what happened into the Application's status.
//! - [`report`] the facts a reconcile established, and the sinks they go to.
//! - [`leader`] elects one writing replica through a Lease.
//! - [`source_gc`] removes checkouts and mirrors no Application needs.
//! - [`owner`] keeps one app per object: conflicts, adoption, take-over.
//! - [`wake`] lets the server (webhooks, metrics) reach the running agent.
//! - [`limits`] bounds one app's size and moves large apps' CPU work off
//!   the runtime's workers.

pub mod agent;
pub mod apply;
pub mod audit;
pub mod drift;
pub mod events;
pub mod flapping;
pub mod leader;
pub mod limits;
pub mod owner;
pub mod pipeline;
pub mod record;
pub mod report;
pub mod source_gc;
pub mod time;
pub mod wake;
pub mod watch;

pub use agent::{Agent, AgentConfig};
pub use pipeline::{Engine, Preview};
