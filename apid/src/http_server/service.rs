//! The router as hyper's service for one connection: marks a request in progress from the
//! moment its head is parsed until its response body is sent or dropped.

use super::conns::ConnState;
use axum::Router;
use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::ServiceExt;

#[derive(Clone)]
pub(crate) struct ConnService {
    pub router: Router,
    pub state: Arc<ConnState>,
}

/// Ends the request when dropped: with the response body, or with the handler's future if
/// the connection goes away first.
struct InProgress(Arc<ConnState>);

impl InProgress {
    fn start(state: Arc<ConnState>) -> Self {
        state.request_started();
        InProgress(state)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = hyper::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let guard = InProgress::start(self.state.clone());
        let router = self.router.clone();
        Box::pin(async move {
            let resp = router.oneshot(req.map(Body::new)).await?;
            Ok(resp.map(|body| {
                Body::new(GuardedBody {
                    inner: body,
                    _guard: guard,
                })
            }))
        })
    }
}

struct GuardedBody {
    inner: Body,
    _guard: InProgress,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
