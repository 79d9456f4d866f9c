//! The API's connection loop, in place of `axum::serve`, so the service
//! owns what a client can hold open: at most `max_connections` connections
//! are served at once (a permit is taken before `accept`, so further clients
//! wait in the kernel's accept queue, not in memory), a TLS handshake has a
//! deadline, a request's headers and body each have one, and a connection
//! idle between requests is closed ([`ConnectionLimits`]). HTTP/1.1 with
//! upgrades (WebSocket) over plain TCP or native TLS.
//!
//! Shutdown: when the shutdown future resolves, accepting stops, every
//! connection is told to finish its current request and close (hyper's
//! graceful shutdown), and [`serve`] returns once all have. Upgraded
//! WebSockets are not waited for (the feed closes them itself), as with
//! `axum::serve`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::Router;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::activity::{Activity, RequestGuard, Tracked};
use super::body_deadline::DeadlineBody;
use super::limits::ConnectionLimits;

/// Serves `router` on `listener` (through `tls` when given) until `shutdown`
/// resolves and every connection has finished.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Every connection task holds a receiver: it learns of the shutdown
    // through it, and the sender sees all of them gone once they end.
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    // Out of file descriptors and the like: wait, as axum does.
                    tracing::error!(%error, "cannot accept a connection");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        // Responses go out without Nagle delays.
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            peer,
            router: router.clone(),
            limits,
            stopping: stopping.clone(),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let activity = Activity::new();
            match tls {
                None => {
                    let io = Tracked::new(stream, Arc::clone(&activity), permit);
                    connection.run(io, activity).await;
                }
                Some(acceptor) => {
                    if let Some(tls) = connection.handshake(&acceptor, stream).await {
                        let io = Tracked::new(tls, Arc::clone(&activity), permit);
                        connection.run(io, activity).await;
                    }
                }
            }
        });
    }
    drop(listener);
    drop(stopping);
    stop.send_replace(true);
    stop.closed().await;
    Ok(())
}

/// Accept errors that concern one connection only (the client gave up).
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// One accepted connection.
struct Connection {
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    /// The TLS handshake, within its timeout (`None`: failed, timed out, or
    /// the server is stopping).
    async fn handshake(
        &self,
        acceptor: &TlsAcceptor,
        stream: TcpStream,
    ) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
        let peer = self.peer;
        let mut stopping = self.stopping.clone();
        tokio::select! {
            result = tokio::time::timeout(self.limits.tls_handshake, acceptor.accept(stream)) => match result {
                Ok(Ok(tls)) => Some(tls),
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    None
                }
            },
            _ = stopping.wait_for(|stop| *stop) => None,
        }
    }

    /// Serves requests on `io` until the client closes, a timeout of the
    /// limits passes, or the server stops.
    async fn run<I>(mut self, io: Tracked<I>, activity: Arc<Activity>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let service = {
            let activity = Arc::clone(&activity);
            let router = self.router.clone();
            let body_read = self.limits.body_read;
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let guard = activity.request_started();
                let router = router.clone();
                handle(router, request, peer, body_read, guard)
            })
        };
        let connection = http1::Builder::new()
            // Our own clock does this (see `activity`); hyper's would also
            // cut the idle time between keep-alive requests.
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        let limits = self.limits;
        let expired = activity.expired(&limits);
        tokio::pin!(expired);
        let mut told_to_stop = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    return;
                }
                expiry = &mut expired => {
                    // Dropping the connection closes the socket.
                    tracing::debug!(%peer, %expiry, "closing the connection");
                    return;
                }
                _ = self.stopping.wait_for(|stop| *stop), if !told_to_stop => {
                    told_to_stop = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// One request through the router, with the peer's address for
/// `ConnectInfo`, the body's deadline, and the connection kept busy until
/// the response body is finished.
async fn handle(
    mut router: Router,
    request: Request<Incoming>,
    peer: SocketAddr,
    body_read: Duration,
    guard: RequestGuard,
) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let body = if body.is_end_stream() {
        Body::new(body)
    } else {
        Body::new(DeadlineBody::new(body, body_read))
    };
    let response =
        tower_service::Service::call(&mut router, Request::from_parts(parts, body)).await?;
    Ok(response.map(|body| {
        Body::new(Guarded {
            body,
            _guard: guard,
        })
    }))
}

/// A response body holding its request's place until it is done.
struct Guarded {
    body: Body,
    _guard: RequestGuard,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
