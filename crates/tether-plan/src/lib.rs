//! Plan, the pure core of tether: given desired objects (from Render), live
//! objects (from the cluster) and the inventory (from the app's status), decide
//! per object create, update, unchanged or prune, with a reason and a diff, in
//! apply order. Also the health rules (Assess is pure too). No I/O here.

pub mod diff;
pub mod health;
pub mod names;
pub mod order;
pub mod owner;
pub mod plan;
pub mod select;

pub use diff::{CompareOptions, Comparison, FieldChange, compare, compare_ignored, rules_for};
pub use order::{Stage, kind_rank, sort_key, wave};
pub use plan::{Action, Plan, PlanError, PlanInput, Step, decorate, plan};
