//! Notifications: a sink of the engine's facts that delivers them to the
//! targets users declare in Git.
