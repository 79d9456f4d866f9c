//! `GET /ws`: the live feed over WebSocket.
//!
//! The token comes by `?token=` or as a subprotocol (`Sec-WebSocket-Protocol:
//! bearer, <token>`; the server answers `bearer`). A missing or invalid token
//! still upgrades, then closes with code 4001 and the reason, because a browser
//! sees close codes but not the status of a refused upgrade. On connect the
//! client gets `initial_data` (its open incidents by priority and its KPIs of
//! today), then one message per event: `{"type", "position", "data", "at"}`.
//! It may send `{"type":"ping"}` (answered `pong`) and
//! `{"type":"subscribe","after":N}` (replays what followed position N, then
//! live). The socket closes when the token expires (4001), when the client
//! falls behind (`resync`, then 4002) and when the server shuts down (1001).

use std::borrow::Cow;

use alertledger_eventstore::log::LogFilter;
use alertledger_projections::{incidents, kpis};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::events::cursor_after;
use super::stream::{admit, feed_filter, until_expiry};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::feed::{until_closed, FeedItem, StreamPermit, Subscription};
use crate::state::AppState;

/// Close code: missing, invalid or expired token.
pub const CLOSE_UNAUTHORIZED: u16 = 4001;
/// Close code: the client fell behind and must resubscribe after its last position.
pub const CLOSE_RESYNC: u16 = 4002;
/// The subprotocol that carries a token as the other offered protocol.
const BEARER_PROTOCOL: &str = "bearer";
/// Most open incidents sent in `initial_data`.
const INITIAL_INCIDENTS: usize = 200;

/// Query string of `GET /ws` (all optional).
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
    tenant: Option<String>,
    types: Option<String>,
}

/// The largest WebSocket message (and frame) a client may send: 64 KiB.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

#[utoipa::path(
    get,
    path = "/ws",
    tag = "live",
    security(()),
    params(("token" = Option<String>, Query, description = "The JWT (or as `Sec-WebSocket-Protocol: bearer, <token>`)"), ("tenant" = Option<Uuid>, Query, description = "Only this tenant"), ("types" = Option<String>, Query, description = "Comma-separated message types")),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; a missing or invalid token closes with code 4001. Messages `{type, position, data, at}`."),
        (status = 400, description = "Not a WebSocket upgrade request (plain text), or an unreadable query string (the error body)", content((String = "text/plain"), (crate::openapi::schemas::ErrorBody = "application/json"))),
        (status = 429, response = crate::openapi::responses::TooManyRequests),
        (status = 405, description = "Not a WebSocket upgrade request (HTTP/1.1 without `Connection: upgrade`)", content_type = "text/plain", body = String),
        (status = 426, description = "Upgrade required", content_type = "text/plain", body = String)
    )
)]
pub async fn connect(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<WsQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let mut protocol_token = None;
    let offered: Vec<&HeaderValue> = upgrade.requested_protocols().collect();
    if offered.iter().any(|p| *p == BEARER_PROTOCOL) {
        protocol_token = offered
            .iter()
            .find(|p| **p != BEARER_PROTOCOL)
            .and_then(|p| p.to_str().ok())
            .map(str::to_owned);
    }
    let upgrade = if protocol_token.is_some() {
        upgrade.protocols([BEARER_PROTOCOL])
    } else {
        upgrade
    };
    let session = match query.token.or(protocol_token) {
        None => Err(ApiError::unauthorized(
            "a token is required: ?token= or the subprotocols `bearer, <token>`",
        )),
        Some(token) => Caller::from_token(&state, &token)
            .await
            .and_then(|(caller, expires)| {
                let filter = feed_filter(&caller, query.tenant.as_deref(), query.types.as_deref())?;
                Ok((caller, expires, filter))
            }),
    };
    // Over a stream cap the upgrade is refused with a plain 429 (a known
    // caller: it can read the status and `Retry-After`); the permit lives as
    // long as the socket.
    let session = match session {
        Ok((caller, expires, filter)) => match admit(state.feed(), &caller, &filter) {
            Ok(permit) => Ok((caller, expires, filter, permit)),
            Err(refused) => return refused.into_response(),
        },
        Err(error) => Err(error),
    };
    // A client message larger than this closes the connection (the only
    // messages a client sends are small JSON commands).
    let upgrade = upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE);
    upgrade.on_upgrade(move |socket| async move {
        match session {
            Ok((caller, expires_at, filter, permit)) => {
                FeedSocket::new(state, socket, caller, filter, permit)
                    .run(expires_at)
                    .await;
            }
            Err(error) => {
                let code = if error.status() == axum::http::StatusCode::UNAUTHORIZED {
                    CLOSE_UNAUTHORIZED
                } else {
                    // Policy violation: e.g. a foreign ?tenant=.
                    1008
                };
                close(socket, code, &error.to_string()).await;
            }
        }
    })
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    // A close reason is at most 123 bytes.
    let mut reason = reason.to_owned();
    while reason.len() > 120 {
        reason.pop();
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        })))
        .await;
}

/// A message the client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Ping,
    Pong,
    Subscribe { after: i64 },
}

/// A message that is not an event: `{"type", "position": null, "data", "at"}`.
fn control(kind: &str, data: Value) -> Message {
    Message::Text(Utf8Bytes::from(
        json!({ "type": kind, "position": null, "data": data, "at": chrono::Utc::now() })
            .to_string(),
    ))
}

/// The caller's open incidents (highest priority first) and today's KPIs.
async fn initial_data(
    state: &AppState,
    filter: &LogFilter,
    caller: &Caller,
) -> Result<Message, sqlx::Error> {
    let tenants = filter.tenants.as_deref();
    let open = incidents::list_open(state.pool(), tenants, INITIAL_INCIDENTS).await?;
    let today = chrono::Utc::now().date_naive();
    let kpis = kpis::summary(state.pool(), tenants, today, today).await?;
    Ok(control(
        "initial_data",
        json!({
            "incidents": open,
            "kpis": kpis,
            "user": { "sub": caller.user_id, "name": caller.name, "role": caller.role.as_str() },
        }),
    ))
}

struct FeedSocket {
    state: AppState,
    socket: WebSocket,
    caller: Caller,
    filter: LogFilter,
    /// This socket's slot against the stream caps, freed when it ends.
    _permit: StreamPermit,
}

/// Why the loop ended, and how to close.
enum Ending {
    /// The client closed or the connection broke: nothing more to send.
    Gone,
    Close(u16, Cow<'static, str>),
}

impl FeedSocket {
    fn new(
        state: AppState,
        socket: WebSocket,
        caller: Caller,
        filter: LogFilter,
        permit: StreamPermit,
    ) -> Self {
        Self {
            state,
            socket,
            caller,
            filter,
            _permit: permit,
        }
    }

    async fn run(mut self, expires_at: i64) {
        let hub = self.state.feed().clone();
        // Subscribe before reading the read models, so nothing that happens
        // while they are read is missed by the live part.
        let mut subscription = Subscription::live(&hub, self.filter.clone());
        let ending = match initial_data(&self.state, &self.filter, &self.caller).await {
            Ok(message) => match self.socket.send(message).await {
                Ok(()) => self.follow(&mut subscription, expires_at).await,
                Err(_) => Ending::Gone,
            },
            Err(error) => {
                tracing::error!(%error, "cannot read the initial data of a WebSocket client");
                Ending::Close(1011, Cow::Borrowed("the server could not read its data"))
            }
        };
        if let Ending::Close(code, reason) = ending {
            close(self.socket, code, &reason).await;
        }
    }

    async fn follow(&mut self, subscription: &mut Subscription, expires_at: i64) -> Ending {
        let hub = self.state.feed().clone();
        let mut closed = hub.closed();
        let expiry = tokio::time::sleep(until_expiry(expires_at));
        tokio::pin!(expiry);
        let revoked = self.state.revocations().revoked(
            self.caller.user_id.clone(),
            self.caller.session_id,
            self.caller.issued_at,
        );
        tokio::pin!(revoked);
        let beat = hub.settings().heartbeat;
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = until_closed(&mut closed) => {
                    return Ending::Close(1001, Cow::Borrowed("the server is shutting down"));
                }
                () = &mut expiry => {
                    return Ending::Close(CLOSE_UNAUTHORIZED, Cow::Borrowed("the token has expired"));
                }
                () = &mut revoked => {
                    return Ending::Close(CLOSE_UNAUTHORIZED, Cow::Borrowed("the token has been revoked"));
                }
                received = self.socket.recv() => match received {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(ending) = self.on_client_message(&text, subscription).await {
                            return ending;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let error = control("error", json!({"code": "unsupported_message", "message": "send JSON text messages"}));
                        if self.socket.send(error).await.is_err() {
                            return Ending::Gone;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return Ending::Gone,
                },
                item = subscription.next() => match item {
                    Ok(FeedItem::Events(events)) => {
                        for event in events {
                            if self.socket.send(Message::Text(event.ws_message())).await.is_err() {
                                return Ending::Gone;
                            }
                        }
                    }
                    Ok(FeedItem::Resync { last_position }) => {
                        let resync = control("resync", json!({
                            "last_position": last_position,
                            "message": "this client fell behind the live feed; reconnect and send {\"type\":\"subscribe\",\"after\":last_position}",
                        }));
                        let _ = self.socket.send(resync).await;
                        return Ending::Close(CLOSE_RESYNC, Cow::Borrowed("resync: reconnect and subscribe after your last position"));
                    }
                    Err(error) => {
                        tracing::error!(%error, "a WebSocket feed could not read the log");
                        return Ending::Close(1011, Cow::Borrowed("the server could not read the log; resubscribe after your last position"));
                    }
                },
                _ = heartbeat.tick() => {
                    if self.socket.send(control("ping", Value::Null)).await.is_err() {
                        return Ending::Gone;
                    }
                }
            }
        }
    }

    /// Answers `ping`, switches the subscription on `subscribe`, and reports
    /// anything else as an `error` message (the socket stays open).
    async fn on_client_message(
        &mut self,
        text: &str,
        subscription: &mut Subscription,
    ) -> Option<Ending> {
        let reply = match serde_json::from_str::<ClientMessage>(text) {
            Ok(ClientMessage::Ping) => control("pong", Value::Null),
            Ok(ClientMessage::Pong) => return None,
            Ok(ClientMessage::Subscribe { after }) => {
                let hub = self.state.feed();
                let resumed = if after < 0 {
                    Err(ApiError::invalid_value(
                        "after",
                        "`after` must be an event position (a whole number)",
                    ))
                } else {
                    cursor_after(hub.reader(), &self.caller, after).await
                };
                match resumed {
                    Ok(cursor) => {
                        *subscription =
                            Subscription::resume(hub, self.filter.clone(), cursor, after);
                        control("subscribed", json!({ "after": after }))
                    }
                    Err(error) => control(
                        "error",
                        json!({ "code": error.code(), "message": error.to_string() }),
                    ),
                }
            }
            Err(error) => control(
                "error",
                json!({
                    "code": "invalid_message",
                    "message": format!("expected {{\"type\":\"ping\"}} or {{\"type\":\"subscribe\",\"after\":N}}: {error}"),
                }),
            ),
        };
        if self.socket.send(reply).await.is_err() {
            return Some(Ending::Gone);
        }
        None
    }
}
