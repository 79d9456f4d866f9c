//! Email over SMTP with lettre: STARTTLS (required, never opportunistic),
//! implicit TLS or none, optional authentication, and a multipart message
//! with plain-text and HTML parts. A connection per message: notifications
//! are rare enough that a pool would only hold idle sockets.

use alertledger_domain::notification::{ChannelSettings, ChannelType, SmtpTls};
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{misconfigured, Accepted, AttemptError, ChannelSender, ATTEMPT_TIMEOUT};
use crate::message::Notification;
use crate::secret::ChannelSecret;

pub struct EmailSender;

/// The HTML part: the plain text's facts, escaped.
fn html(notification: &Notification) -> String {
    let row = |label: &str, value: &str| {
        format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        )
    };
    let priority = notification
        .priority
        .map_or_else(|| "-".to_owned(), |p| p.to_string());
    let mut page = format!(
        "<!DOCTYPE html><html><body><h2>{}</h2><table>{}{}{}{}{}{}</table>",
        escape(&notification.subject()),
        row("Severity", &notification.severity),
        row("Priority", &priority),
        row("Asset", &notification.asset),
        row("Signature", &notification.signature),
        row("Status", &notification.status),
        row("Incident", &notification.incident_id.to_string()),
    );
    if let Some(reason) = &notification.reason {
        page.push_str(&format!("<p>{}</p>", escape(reason)));
    }
    if let Some(link) = &notification.link {
        page.push_str(&format!(
            "<p><a href=\"{}\">Open incident</a></p>",
            escape(link)
        ));
    }
    if !notification.held_back.is_empty() {
        page.push_str("<p>Also since the last message:</p><ul>");
        for line in &notification.held_back {
            page.push_str(&format!("<li>{}</li>", escape(line)));
        }
        page.push_str("</ul>");
    }
    page.push_str("</body></html>");
    page
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn mailbox(text: &str) -> Result<Mailbox, AttemptError> {
    text.parse::<Mailbox>()
        .map_err(|e| AttemptError::Misconfigured(format!("bad address {text:?}: {e}")))
}

/// The message as sent (`Message-ID` carries the notification id, so a
/// repeated attempt is recognisably the same message).
pub fn message(
    notification: &Notification,
    from: &str,
    to: &[String],
) -> Result<Message, AttemptError> {
    let mut builder = Message::builder()
        .from(mailbox(from)?)
        .subject(notification.subject())
        .message_id(Some(format!("<{}@alertledger>", notification.id)));
    for recipient in to {
        builder = builder.to(mailbox(recipient)?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            notification.plain_text(),
            html(notification),
        ))
        .map_err(|e| AttemptError::Misconfigured(format!("cannot build the message: {e}")))
}

#[async_trait]
impl ChannelSender for EmailSender {
    async fn send(
        &self,
        notification: &Notification,
        settings: &ChannelSettings,
        secret: &ChannelSecret,
    ) -> Result<Accepted, AttemptError> {
        let (
            ChannelSettings::Email {
                smtp_host,
                smtp_port,
                tls,
                username,
                from,
                to,
            },
            ChannelSecret::Email { password },
        ) = (settings, secret)
        else {
            return Err(misconfigured(ChannelType::Email));
        };
        let email = message(notification, from, to)?;
        let tls_parameters = || {
            TlsParameters::new(smtp_host.clone())
                .map_err(|e| AttemptError::Transport(format!("TLS set-up failed: {e}")))
        };
        let tls = match tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters()?),
            SmtpTls::Implicit => Tls::Wrapper(tls_parameters()?),
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp_host)
            .port(*smtp_port)
            .tls(tls)
            .timeout(Some(ATTEMPT_TIMEOUT));
        if let (Some(username), Some(password)) = (username, password) {
            transport = transport.credentials(Credentials::new(username.clone(), password.clone()));
        }
        let response = transport
            .build()
            .send(email)
            .await
            .map_err(|e| smtp_error(&e))?;
        Ok(Accepted {
            code: u16::from(response.code()),
        })
    }
}

/// A permanent SMTP refusal (5xx) is a status, not retried; the rest
/// (4xx, connection, TLS, timeout) is transient.
fn smtp_error(error: &lettre::transport::smtp::Error) -> AttemptError {
    match error.status() {
        Some(code) if error.is_permanent() => AttemptError::Rejected {
            code: u16::from(code),
        },
        _ => AttemptError::Transport(format!("SMTP: {error}")),
    }
}
