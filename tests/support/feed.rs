//! Clients of the live feed for end-to-end tests: an SSE reader over a real
//! socket (reqwest) and WebSocket helpers (tokio-tungstenite).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// One thing an SSE stream sent: an event, or a comment line.
#[derive(Debug, Clone, PartialEq)]
pub enum SseItem {
    Event {
        id: Option<String>,
        event: String,
        data: String,
    },
    Comment(String),
    Retry(u64),
}

impl SseItem {
    pub fn json(&self) -> serde_json::Value {
        match self {
            SseItem::Event { data, .. } => serde_json::from_str(data).unwrap(),
            _ => serde_json::Value::Null,
        }
    }
}

/// An open `GET /api/v1/stream`, parsed as it arrives.
pub struct SseClient {
    response: reqwest::Response,
    buffer: String,
    pending: std::collections::VecDeque<SseItem>,
    pub ended: bool,
}

impl SseClient {
    /// Opens the stream at `url` (with its query) with optional headers;
    /// panics unless the answer is 200.
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Self {
        let response = Self::open(url, headers).await;
        assert_eq!(response.status(), 200, "GET {url}");
        Self::from_response(response)
    }

    /// The raw answer, for tests of refusals.
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub fn from_response(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
            pending: Default::default(),
            ended: false,
        }
    }

    /// The next item, or `None` when the stream ended or `deadline` passed.
    pub async fn next_within(&mut self, deadline: Duration) -> Option<SseItem> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.ended {
                return None;
            }
            let left = until.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.response.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(chunk))) => {
                    self.buffer.push_str(&String::from_utf8_lossy(&chunk));
                    self.parse();
                }
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
            }
        }
    }

    /// The next event (skipping comments and `retry:`), within `deadline`.
    pub async fn next_event(&mut self, deadline: Duration) -> Option<SseItem> {
        let until = Instant::now() + deadline;
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            match self.next_within(left).await? {
                event @ SseItem::Event { .. } => return Some(event),
                _ => continue,
            }
        }
    }

    /// Events until one satisfies `done` (included); panics after `deadline`.
    pub async fn events_until(
        &mut self,
        deadline: Duration,
        mut done: impl FnMut(&SseItem) -> bool,
    ) -> Vec<SseItem> {
        let until = Instant::now() + deadline;
        let mut seen = Vec::new();
        loop {
            let left = until
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("the awaited event never came; saw {seen:#?}"));
            let event = self
                .next_event(left)
                .await
                .unwrap_or_else(|| panic!("the stream ended or stalled; saw {seen:#?}"));
            let finished = done(&event);
            seen.push(event);
            if finished {
                return seen;
            }
        }
    }

    fn parse(&mut self) {
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut event = None;
            let mut data: Option<String> = None;
            for line in block.lines() {
                if let Some(comment) = line.strip_prefix(':') {
                    self.pending
                        .push_back(SseItem::Comment(comment.trim().to_owned()));
                } else if let Some(value) = line.strip_prefix("retry: ") {
                    self.pending
                        .push_back(SseItem::Retry(value.parse().unwrap()));
                } else if let Some(value) = line.strip_prefix("id: ") {
                    id = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("event: ") {
                    event = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = Some(match data {
                        Some(earlier) => format!("{earlier}\n{value}"),
                        None => value.to_owned(),
                    });
                }
            }
            if let Some(data) = data {
                self.pending.push_back(SseItem::Event {
                    id,
                    event: event.unwrap_or_else(|| "message".to_owned()),
                    data,
                });
            }
        }
    }
}

/// The id of an SSE event.
pub fn id_of(item: &SseItem) -> i64 {
    match item {
        SseItem::Event { id: Some(id), .. } => id.parse().unwrap(),
        other => panic!("not an event with an id: {other:?}"),
    }
}

/// The `event:` name of an SSE event.
pub fn name_of(item: &SseItem) -> &str {
    match item {
        SseItem::Event { event, .. } => event,
        other => panic!("not an event: {other:?}"),
    }
}

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `GET /ws` at `url` (`ws://...`).
pub async fn ws_connect(url: &str) -> WsStream {
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
}

/// The next JSON text message within `deadline` (pings and pongs of the
/// protocol skipped); `Err` carries the close frame (code, reason) if the
/// server closed instead.
pub async fn ws_next(
    socket: &mut WsStream,
    deadline: Duration,
) -> Result<serde_json::Value, Option<(u16, String)>> {
    let until = Instant::now() + deadline;
    loop {
        let left = until.checked_duration_since(Instant::now()).ok_or(None)?;
        match tokio::time::timeout(left, socket.next()).await {
            Err(_) => return Err(None),
            Ok(Some(Ok(Message::Text(text)))) => return Ok(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_)) | None) => return Err(None),
        }
    }
}

/// Messages until one satisfies `done` (included), ignoring `ping`s; panics
/// after `deadline` or if the socket closes.
pub async fn ws_until(
    socket: &mut WsStream,
    deadline: Duration,
    mut done: impl FnMut(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let until = Instant::now() + deadline;
    let mut seen = Vec::new();
    loop {
        let left = until
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("the awaited message never came; saw {seen:#?}"));
        let message = ws_next(socket, left)
            .await
            .unwrap_or_else(|close| panic!("the socket closed ({close:?}); saw {seen:#?}"));
        if message["type"] == "ping" {
            continue;
        }
        let finished = done(&message);
        seen.push(message);
        if finished {
            return seen;
        }
    }
}

/// Sends a JSON text message.
pub async fn ws_send(socket: &mut WsStream, message: serde_json::Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}
