//! Fencing for leader election: a replica writes to the cluster only while it
//! is sure it still holds the lease.
//!
//! A [`Fence`] holds until a deadline on this process's monotonic clock: the
//! instant the last successful acquire or renew of the Lease was *sent*, plus
//! the renew deadline. Another replica may take the lease over only after it
//! has watched the record stay unchanged for the lease duration on its own
//! clock, which starts no earlier than that same request reached the server.
//! With `renew_deadline < lease_duration` the fence therefore lapses before
//! anyone else can hold the lease.
//!
//! [`FenceLayer`] enforces it at the HTTP layer of the kube client: every
//! mutating request (POST, PUT, PATCH, DELETE) is refused while the fence does
//! not hold, except the requests on the fence's own Lease, so no caller has to
//! remember to check. A guarded write still in flight when the fence lapses is
//! abandoned; one already on the wire can still land, and
//! `renew_deadline < lease_duration` leaves the gap for that.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Method, Request};
use kube::core::Status;
use tower::{BoxError, Layer, Service};

/// Message of the error a refused write returns.
pub const NOT_LEADER: &str = "not the leader: this replica's lease lapsed; write refused";

/// Whether this replica may write now. Cheap to clone; all clones share state.
#[derive(Clone, Debug)]
pub struct Fence {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    namespace: String,
    lease: String,
    /// Writes are allowed while `now < until`.
    until: Mutex<Option<Instant>>,
}

impl Fence {
    /// A fence guarding writes with the Lease `namespace/lease`; it does not hold
    /// until [`Fence::extend`] is called.
    pub fn new(namespace: impl Into<String>, lease: impl Into<String>) -> Fence {
        Fence {
            inner: Arc::new(Inner {
                namespace: namespace.into(),
                lease: lease.into(),
                until: Mutex::new(None),
            }),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    pub fn lease(&self) -> &str {
        &self.inner.lease
    }

    /// True while writes are allowed.
    pub fn holds(&self) -> bool {
        self.holds_at(Instant::now())
    }

    pub fn holds_at(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|until| now < until)
    }

    /// When the fence lapses (or lapsed), if it was ever extended since the last revoke.
    pub fn deadline(&self) -> Option<Instant> {
        *self.lock()
    }

    /// The lease was acquired or renewed by a request sent at `sent_at`: allow
    /// writes until `sent_at + renew_deadline`.
    pub fn extend(&self, sent_at: Instant, renew_deadline: Duration) {
        *self.lock() = Some(sent_at + renew_deadline);
    }

    /// Stop writes at once (leadership lost or given up).
    pub fn revoke(&self) {
        *self.lock() = None;
    }

    /// Whether a request may go out now: reads always; writes only while the
    /// fence holds, or when they are on the fence's own Lease.
    pub fn allows(&self, method: &Method, path: &str) -> bool {
        !is_write(method) || self.is_own_lease(method, path) || self.holds()
    }

    /// A write the fence guards: any write but the fence's own Lease's.
    pub fn guards(&self, method: &Method, path: &str) -> bool {
        is_write(method) && !self.is_own_lease(method, path)
    }

    fn is_own_lease(&self, method: &Method, path: &str) -> bool {
        let collection = format!(
            "/apis/coordination.k8s.io/v1/namespaces/{}/leases",
            self.inner.namespace
        );
        let Some(rest) = path.strip_prefix(&collection) else {
            return false;
        };
        // The create goes to the collection; everything else to the object itself.
        (rest.is_empty() && method == Method::POST)
            || rest.strip_prefix('/') == Some(self.inner.lease.as_str())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.inner.until.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The error a refused write surfaces as: a `403 NotLeader` API error, so it
/// reads like any other refusal from the server. Not 5xx: retrying cannot help,
/// as a replica whose fence lapsed stops its agent and returns to standby.
pub fn not_leader_error() -> kube::Error {
    kube::Error::Api(
        Status::failure(NOT_LEADER, "NotLeader")
            .with_code(403)
            .boxed(),
    )
}

/// A tower layer for the kube client that enforces a [`Fence`].
#[derive(Clone, Debug)]
pub struct FenceLayer {
    fence: Fence,
}

impl FenceLayer {
    pub fn new(fence: Fence) -> FenceLayer {
        FenceLayer { fence }
    }
}

impl<S> Layer<S> for FenceLayer {
    type Service = Fenced<S>;

    fn layer(&self, inner: S) -> Fenced<S> {
        Fenced {
            inner,
            fence: self.fence.clone(),
        }
    }
}

/// The service [`FenceLayer`] wraps around the client's stack.
#[derive(Clone, Debug)]
pub struct Fenced<S> {
    inner: S,
    fence: Fence,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B> Service<Request<B>> for Fenced<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if !self.fence.allows(req.method(), req.uri().path()) {
            tracing::debug!(method = %req.method(), path = %req.uri().path(), "{NOT_LEADER}");
            // kube's client unwraps a boxed kube::Error back into itself.
            return Box::pin(std::future::ready(Err(
                Box::new(not_leader_error()) as BoxError
            )));
        }
        let guarded = self.fence.guards(req.method(), req.uri().path());
        let fut = self.inner.call(req);
        if !guarded {
            return Box::pin(async move { fut.await.map_err(Into::into) });
        }
        // A guarded write still waiting for its connection or its answer when
        // the fence lapses is abandoned, so it cannot go out late from a slow
        // connect or a stalled stream. (One already on the wire may still land;
        // the gap between renew deadline and lease duration covers that.)
        let fence = self.fence.clone();
        Box::pin(async move {
            tokio::pin!(fut);
            loop {
                let Some(deadline) = fence.deadline() else {
                    return Err(Box::new(not_leader_error()) as BoxError);
                };
                tokio::select! {
                    done = &mut fut => return done.map_err(Into::into),
                    _ = tokio::time::sleep_until(deadline.into()) => {
                        // Renewed meanwhile: keep waiting for the new deadline.
                        if !fence.holds() {
                            tracing::warn!("a write was abandoned in flight: the lease lapsed");
                            return Err(Box::new(not_leader_error()) as BoxError);
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[test]
    fn holds_until_sent_at_plus_deadline() {
        let fence = Fence::new("tether", "tether-agent-in-cluster");
        let t0 = Instant::now();
        assert!(!fence.holds_at(t0), "a new fence does not hold");
        fence.extend(t0, Duration::from_secs(10));
        assert!(fence.holds_at(t0));
        assert!(fence.holds_at(t0 + Duration::from_millis(9_999)));
        assert!(!fence.holds_at(t0 + Duration::from_secs(10)));
        assert!(!fence.holds_at(t0 + Duration::from_secs(60)));
        // A renew moves the deadline; clones see it.
        let clone = fence.clone();
        fence.extend(t0 + Duration::from_secs(8), Duration::from_secs(10));
        assert!(clone.holds_at(t0 + Duration::from_secs(17)));
        clone.revoke();
        assert!(!fence.holds_at(t0 + Duration::from_secs(9)));
        assert_eq!(fence.deadline(), None);
    }

    #[test]
    fn only_writes_are_fenced_and_the_own_lease_is_exempt() {
        let fence = Fence::new("tether", "tether-agent-a");
        let lease = "/apis/coordination.k8s.io/v1/namespaces/tether/leases";
        assert!(fence.allows(&Method::GET, "/api/v1/namespaces/web/configmaps/x"));
        assert!(fence.allows(&Method::GET, "/apis/apps/v1/deployments"));
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(
                !fence.allows(&m, "/api/v1/namespaces/web/configmaps/x"),
                "{m}"
            );
            assert!(fence.allows(&m, &format!("{lease}/tether-agent-a")), "{m}");
            // Another lease, in this namespace or another, is an ordinary write.
            assert!(
                !fence.allows(&m, &format!("{lease}/tether-agent-ab")),
                "{m}"
            );
            assert!(!fence.allows(&m, &format!("{lease}/other")), "{m}");
            assert!(
                !fence.allows(
                    &m,
                    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/tether-agent-a"
                ),
                "{m}"
            );
        }
        assert!(fence.allows(&Method::POST, lease));
        assert!(
            !fence.allows(&Method::DELETE, lease),
            "deletecollection is fenced"
        );
        fence.extend(Instant::now(), Duration::from_secs(60));
        assert!(fence.allows(&Method::PATCH, "/api/v1/namespaces/web/configmaps/x"));
    }

    /// Answers every request with 200 and counts them.
    #[derive(Clone, Default)]
    struct Ok200(Arc<Mutex<usize>>);

    impl Service<Request<()>> for Ok200 {
        type Response = http::Response<()>;
        type Error = BoxError;
        type Future = BoxFuture<Result<http::Response<()>, BoxError>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<()>) -> Self::Future {
            *self.0.lock().unwrap() += 1;
            Box::pin(std::future::ready(Ok(http::Response::new(()))))
        }
    }

    #[tokio::test]
    async fn the_layer_refuses_writes_with_a_clear_error() {
        let fence = Fence::new("tether", "l");
        let sent = Ok200::default();
        let mut svc = FenceLayer::new(fence.clone()).layer(sent.clone());
        let req = |m: Method| {
            Request::builder()
                .method(m)
                .uri("https://k8s.example/api/v1/namespaces/web/configmaps/x?fieldManager=tether")
                .body(())
                .unwrap()
        };
        let ok = svc.call(req(Method::GET)).now_or_never().unwrap();
        assert!(ok.is_ok());
        let err = svc
            .call(req(Method::PATCH))
            .now_or_never()
            .unwrap()
            .unwrap_err();
        let err = err.downcast::<kube::Error>().expect("a kube::Error");
        assert!(err.to_string().contains(NOT_LEADER), "{err}");
        assert!(matches!(*err, kube::Error::Api(ref s) if s.code == 403));
        assert_eq!(*sent.0.lock().unwrap(), 1, "the refused write was not sent");
        fence.extend(Instant::now(), Duration::from_secs(60));
        assert!(svc.call(req(Method::PATCH)).await.is_ok());
        assert_eq!(*sent.0.lock().unwrap(), 2);
    }

    /// Never answers, as a server that stalls.
    #[derive(Clone, Default)]
    struct Stalls;

    impl Service<Request<()>> for Stalls {
        type Response = http::Response<()>;
        type Error = BoxError;
        type Future = BoxFuture<Result<http::Response<()>, BoxError>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<()>) -> Self::Future {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_write_in_flight_is_abandoned_when_the_fence_lapses() {
        let fence = Fence::new("tether", "l");
        let mut svc = FenceLayer::new(fence.clone()).layer(Stalls);
        let req = |m: Method| {
            Request::builder()
                .method(m)
                .uri("https://k8s.example/api/v1/namespaces/web/configmaps/x")
                .body(())
                .unwrap()
        };
        fence.extend(Instant::now(), Duration::from_millis(200));
        let started = Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(5), svc.call(req(Method::PATCH)))
            .await
            .expect("abandoned, not left hanging")
            .unwrap_err();
        assert!(err.to_string().contains(NOT_LEADER), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(150));
        // A renew in the meantime keeps the write waiting past the first deadline.
        fence.extend(Instant::now(), Duration::from_millis(100));
        let renewer = {
            let fence = fence.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(60)).await;
                fence.extend(Instant::now(), Duration::from_millis(300));
            })
        };
        let started = Instant::now();
        let _ = tokio::time::timeout(Duration::from_secs(5), svc.call(req(Method::PATCH))).await;
        renewer.await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "waited for the renewed deadline: {:?}",
            started.elapsed()
        );
        // Reads are never cut short.
        let read =
            tokio::time::timeout(Duration::from_millis(400), svc.call(req(Method::GET))).await;
        assert!(
            read.is_err(),
            "a stalled read is left to the caller's timeouts"
        );
    }
}
