//! How a part of the process that is not the agent (the webhook receiver, `/metrics`)
//! reaches the agent when this replica runs one.
//!
//! [`AgentLink`] is made before the agent (the server starts first, and with leader
//! election the agent comes and goes as the lease does). A running [`Agent`](crate::Agent)
//! attaches to it for its life; [`AgentLink::wake`] answers `false` while none runs, and
//! the caller falls back to what any replica can do (writing the refresh annotation).

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::pipeline::Engine;

/// "This repository changed: look now", for these apps (`namespace/name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wake {
    /// The repository URL as the apps name it; every fetcher for it polls next time.
    pub repo_url: String,
    /// The apps to reconcile now. Apps this agent does not manage are ignored.
    pub apps: Vec<String>,
}

struct Attached {
    id: u64,
    tx: mpsc::UnboundedSender<Wake>,
    engine: Arc<Engine>,
}

/// A handle on the agent this process runs, if any. Cheap to clone.
#[derive(Clone, Default)]
pub struct AgentLink {
    inner: Arc<Mutex<(u64, Option<Attached>)>>,
}

impl std::fmt::Debug for AgentLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentLink")
            .field("attached", &self.engine().is_some())
            .finish()
    }
}

impl AgentLink {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Option<Attached>)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hand `wake` to the running agent. `false` when no agent runs in this process (a
    /// standby replica) or it has stopped.
    pub fn wake(&self, wake: Wake) -> bool {
        match &self.lock().1 {
            Some(a) => a.tx.send(wake).is_ok(),
            None => false,
        }
    }

    /// The running agent's engine, to read its caches' sizes.
    pub fn engine(&self) -> Option<Arc<Engine>> {
        self.lock().1.as_ref().map(|a| a.engine.clone())
    }

    /// Called by the agent when it starts; the returned guard detaches it.
    pub(crate) fn attach(&self, engine: Arc<Engine>) -> (Detach, mpsc::UnboundedReceiver<Wake>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut g = self.lock();
        g.0 += 1;
        let id = g.0;
        g.1 = Some(Attached { id, tx, engine });
        (
            Detach {
                link: self.clone(),
                id,
            },
            rx,
        )
    }
}

/// Detaches the agent from its link when dropped (the agent stopped).
pub(crate) struct Detach {
    link: AgentLink,
    id: u64,
}

impl Drop for Detach {
    fn drop(&mut self) {
        let mut g = self.link.lock();
        // A newer agent may have attached meanwhile: leave it.
        if g.1.as_ref().is_some_and(|a| a.id == self.id) {
            g.1 = None;
        }
    }
}
