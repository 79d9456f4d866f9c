//! Asking "is a PostgreSQL server accepting connections here?" the way
//! `pg_isready` does: send a start-up message and read the first reply. A bare
//! TCP connect would also say yes to a server that is still starting up, or to
//! something that is not PostgreSQL at all.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The port a locally installed PostgreSQL listens on by default.
pub const DEFAULT_POSTGRES_PORT: u16 = 5432;

/// SQLSTATE `cannot_connect_now`: starting up, shutting down or recovering.
const CANNOT_CONNECT_NOW: &str = "57P03";

/// The largest error reply worth reading; real ones are a few hundred bytes.
const MAX_ERROR_REPLY: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeOutcome {
    /// A PostgreSQL server answered and takes connections (whether it lets a
    /// given user in is for the real connection to find out).
    Accepting,
    /// A PostgreSQL server answered but cannot take connections yet.
    NotYet,
    /// Nothing, or nothing that speaks PostgreSQL, answered in time.
    NoAnswer,
}

/// Whether a PostgreSQL server on `127.0.0.1:5432` answers within `timeout`.
///
/// Authentication is not tried: the caller's own connection attempt (as
/// `postgres://postgres@127.0.0.1:5432/...`) says whether it may log in.
pub async fn localhost_postgres_answers(timeout: Duration) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_POSTGRES_PORT));
    probe(address, timeout).await == ProbeOutcome::Accepting
}

pub(crate) async fn probe(address: SocketAddr, timeout: Duration) -> ProbeOutcome {
    match tokio::time::timeout(timeout, exchange_startup(address)).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) | Err(_) => ProbeOutcome::NoAnswer,
    }
}

async fn exchange_startup(address: SocketAddr) -> std::io::Result<ProbeOutcome> {
    let mut stream = TcpStream::connect(address).await?;
    stream
        .write_all(&startup_message("postgres", "postgres"))
        .await?;
    let tag = stream.read_u8().await?;
    let length = usize::try_from(stream.read_i32().await?).unwrap_or(0);
    let outcome = match tag {
        // Any authentication request (even "ok") means the server takes
        // connections.
        b'R' => ProbeOutcome::Accepting,
        b'E' if (4..=MAX_ERROR_REPLY).contains(&length) => {
            let mut body = vec![0; length - 4];
            stream.read_exact(&mut body).await?;
            if error_code(&body).as_deref() == Some(CANNOT_CONNECT_NOW) {
                ProbeOutcome::NotYet
            } else {
                // Like pg_isready: any other refusal (unknown database, no
                // pg_hba.conf entry) still comes from a running server.
                ProbeOutcome::Accepting
            }
        }
        _ => ProbeOutcome::NoAnswer,
    };
    // Terminate, so the server does not log an unexpected end of file.
    let _ = stream.write_all(&[b'X', 0, 0, 0, 4]).await;
    Ok(outcome)
}

/// Protocol 3.0 start-up message: length, version, then name/value pairs.
fn startup_message(user: &str, database: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608_i32.to_be_bytes());
    for text in ["user", user, "database", database] {
        body.extend_from_slice(text.as_bytes());
        body.push(0);
    }
    body.push(0);
    let length = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
    let mut message = length.to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    message
}

/// The SQLSTATE (`C` field) of an ErrorResponse body.
fn error_code(body: &[u8]) -> Option<String> {
    body.split(|byte| *byte == 0)
        .find_map(|field| field.strip_prefix(b"C"))
        .map(|code| String::from_utf8_lossy(code).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlstate_is_read_from_an_error_reply() {
        let body = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0";

        assert_eq!(error_code(body).as_deref(), Some(CANNOT_CONNECT_NOW));
    }

    #[tokio::test]
    async fn a_port_nobody_listens_on_gives_no_answer() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);

        assert_eq!(
            probe(address, Duration::from_secs(2)).await,
            ProbeOutcome::NoAnswer
        );
    }
}
