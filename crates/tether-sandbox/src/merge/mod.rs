//! How objects are combined: server-side apply with managed fields
//! ([`ssa`] over [`fields`]) and the three other patch formats ([`patch`]).

pub mod fields;
pub mod patch;
pub mod ssa;
