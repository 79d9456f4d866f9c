//! Following `GET /api/v1/stream` (Server-Sent Events) for `events tail`:
//! a small parser of the text/event-stream format, and a loop that
//! reconnects after a disconnect with `Last-Event-ID` set to the last
//! position it printed, so the server replays what was missed with no gap
//! and no duplicate (docs/live-feed.md).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};

use super::{is_transient, ApiClient, ClientError};

/// One dispatched event of the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseFrame {
    pub id: Option<String>,
    /// `event:`; `message` when absent (the format's default).
    pub event: String,
    pub data: String,
}

/// Splits a byte stream into frames; keeps a partial frame between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
}

impl SseParser {
    /// Adds `chunk`; returns the frames it completed (comments and
    /// `retry:` lines are dropped: the reconnect policy is ours).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseFrame> {
        // CRLF and LF both end lines; dropping CR makes them one case.
        self.pending
            .extend(chunk.iter().copied().filter(|b| *b != b'\r'));
        let mut frames = Vec::new();
        while let Some(end) = self.pending.windows(2).position(|pair| pair == b"\n\n") {
            let block: Vec<u8> = self.pending.drain(..end + 2).collect();
            if let Some(frame) = parse_block(&String::from_utf8_lossy(&block[..end])) {
                frames.push(frame);
            }
        }
        frames
    }
}

fn parse_block(block: &str) -> Option<SseFrame> {
    let mut frame = SseFrame::default();
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => frame.id = Some(value.to_owned()),
            "event" => frame.event = value.to_owned(),
            "data" => data.push(value),
            _ => {}
        }
    }
    if data.is_empty() && frame.id.is_none() {
        return None;
    }
    frame.data = data.join("\n");
    if frame.event.is_empty() {
        frame.event = "message".to_owned();
    }
    Some(frame)
}

/// The first wait before reconnecting, doubled on each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// A stream silent for this long is taken as dead (the server sends a
/// heartbeat comment at least every 15 s).
const IDLE_LIMIT: Duration = Duration::from_secs(45);

/// What the caller wants after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    More,
    Stop,
}

/// Follows the stream from `after` (or live), calling `on_event` for every
/// event in order, until it returns [`Next::Stop`] or a permanent error
/// (bad token, unknown tenant). Disconnects, timeouts, 5xx and 429 are
/// retried forever with backoff, resuming after the last event seen.
pub async fn follow(
    client: &ApiClient,
    query: &[(&str, String)],
    after: Option<i64>,
    mut on_event: impl FnMut(&SseFrame) -> Result<Next, ClientError>,
) -> Result<(), ClientError> {
    let mut last_id = after.map(|position| position.to_string());
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut headers = HeaderMap::new();
        if let Some(id) = last_id.as_deref() {
            if let Ok(value) = HeaderValue::from_str(id) {
                headers.insert("last-event-id", value);
            }
        }
        let why = match client.open_stream("api/v1/stream", query, headers).await {
            Err(error) if retryable(&error) => error.to_string(),
            Err(error) => return Err(error),
            Ok(mut response) => {
                let mut parser = SseParser::default();
                loop {
                    let chunk = match tokio::time::timeout(IDLE_LIMIT, response.chunk()).await {
                        Err(_) => break "the stream was silent for too long".to_owned(),
                        Ok(Err(error)) => break ClientError::from_transport(error).to_string(),
                        Ok(Ok(None)) => break "the server closed the stream".to_owned(),
                        Ok(Ok(Some(chunk))) => chunk,
                    };
                    // Bytes arrived: the connection works, start backing off afresh.
                    backoff = FIRST_BACKOFF;
                    for frame in parser.push(&chunk) {
                        match frame.event.as_str() {
                            // Closing events: the stream ends after them.
                            "resync" | "shutdown" => {
                                if let Some(id) = closing_last_id(&frame) {
                                    last_id = Some(id);
                                }
                            }
                            "token_expired" => {
                                return Err(ClientError::Api {
                                    status: reqwest::StatusCode::UNAUTHORIZED,
                                    code: "token_expired".to_owned(),
                                    message: "the token expired while following the stream; \
                                              run again with a fresh --token"
                                        .to_owned(),
                                    request_id: None,
                                });
                            }
                            _ => {
                                if frame.id.is_some() {
                                    last_id.clone_from(&frame.id);
                                }
                                if on_event(&frame)? == Next::Stop {
                                    return Ok(());
                                }
                            }
                        }
                    }
                }
            }
        };
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "events tail: {why}; reconnecting in {:.2} s{}",
                backoff.as_secs_f64(),
                last_id
                    .as_deref()
                    .map(|id| format!(" (resuming after position {id})"))
                    .unwrap_or_default()
            );
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Unreachable(_) => true,
        ClientError::Api { status, .. } => is_transient(*status),
        ClientError::Usage(_) | ClientError::Unexpected(_) => false,
    }
}

/// The `last_event_id` a closing event names, if any.
fn closing_last_id(frame: &SseFrame) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(&frame.data)
        .ok()?
        .get("last_event_id")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_chunks_are_put_back_together() {
        let mut parser = SseParser::default();
        assert!(parser
            .push(b"retry: 2000\n: connected\n\nid: 7\nevent: Alert")
            .is_empty());
        let frames =
            parser.push(b"Received\ndata: {\"a\":1}\n\n: heartbeat\n\nid: 8\r\ndata: x\r\n\r\n");
        assert_eq!(
            frames,
            vec![
                SseFrame {
                    id: Some("7".into()),
                    event: "AlertReceived".into(),
                    data: "{\"a\":1}".into()
                },
                SseFrame {
                    id: Some("8".into()),
                    event: "message".into(),
                    data: "x".into()
                },
            ]
        );
    }

    #[test]
    fn a_closing_event_names_where_to_resume() {
        let frame = SseFrame {
            id: None,
            event: "shutdown".into(),
            data: r#"{"reason":"shutdown","last_event_id":"41"}"#.into(),
        };
        assert_eq!(closing_last_id(&frame).as_deref(), Some("41"));
    }
}
