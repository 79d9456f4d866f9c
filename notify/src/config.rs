//! Reads a channel as the API receives it (`{"type", "name", "config"}`,
//! API.md "Notifications") into the domain's non-secret settings and a
//! [`ChannelSecret`]. Every problem is a [`ConfigError`] naming the field
//! (`config.url`, `config.to[1]`), so the API answers 422 before writing
//! anything. Unknown config keys are refused too: a typo such as `smpt_host`
//! must not silently leave a channel unusable. An update may leave its
//! secrets out ([`with_kept_secrets`]).

use std::net::IpAddr;

use alertledger_domain::notification::{ChannelName, ChannelSettings, ChannelType, SmtpTls};
use serde_json::{Map, Value};
use url::Url;

use crate::secret::ChannelSecret;

/// Most recipients of one email channel.
pub const MAX_EMAIL_RECIPIENTS: usize = 50;

/// Longest URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Where outbound calls may go beyond public `https://` URLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Accept `http://` URLs whose host is a loopback address (tests, a
    /// local relay). Off by default: plain HTTP would expose the channel's
    /// credentials, and loopback targets the service's own host.
    pub allow_loopback_http: bool,
}

/// A channel value that cannot be used: the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// A checked channel: its name, what may be recorded, and its secret.
#[derive(Debug)]
pub struct ParsedChannel {
    pub name: ChannelName,
    pub settings: ChannelSettings,
    pub secret: ChannelSecret,
}

/// Checks a whole channel body.
pub fn parse_channel(
    channel_type: &str,
    name: &str,
    config: &Value,
    policy: OutboundPolicy,
) -> Result<ParsedChannel, ConfigError> {
    let kind = ChannelType::parse(channel_type).map_err(|e| error("type", e.problem()))?;
    let name = ChannelName::parse(name).map_err(|e| error("name", e.problem()))?;
    let config = config
        .as_object()
        .ok_or_else(|| error("config", "must be an object"))?;
    let (settings, secret) = match kind {
        ChannelType::Slack | ChannelType::Teams | ChannelType::Webhook => {
            only_keys(config, &["url"])?;
            let url = url_field(config, "url", policy)?.ok_or_else(|| missing("url"))?;
            let url_host = host_of(&url);
            let url = url.to_string();
            match kind {
                ChannelType::Slack => (
                    ChannelSettings::Slack { url_host },
                    ChannelSecret::Slack { url },
                ),
                ChannelType::Teams => (
                    ChannelSettings::Teams { url_host },
                    ChannelSecret::Teams { url },
                ),
                _ => (
                    ChannelSettings::Webhook { url_host },
                    ChannelSecret::Webhook {
                        url,
                        signing_key: ChannelSecret::generate_signing_key(),
                    },
                ),
            }
        }
        ChannelType::Pagerduty => {
            only_keys(config, &["routing_key", "url"])?;
            let routing_key =
                string_field(config, "routing_key", 128)?.ok_or_else(|| missing("routing_key"))?;
            if routing_key
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(error("config.routing_key", "must not contain spaces"));
            }
            let url = url_field(config, "url", policy)?;
            (
                ChannelSettings::Pagerduty {
                    url_host: url.as_ref().map(host_of),
                },
                ChannelSecret::Pagerduty {
                    routing_key,
                    url: url.map(|url| url.to_string()),
                },
            )
        }
        ChannelType::Email => email(config)?,
    };
    Ok(ParsedChannel {
        name,
        settings,
        secret,
    })
}

fn email(config: &Map<String, Value>) -> Result<(ChannelSettings, ChannelSecret), ConfigError> {
    only_keys(
        config,
        &[
            "smtp_host",
            "smtp_port",
            "tls",
            "username",
            "password",
            "from",
            "to",
        ],
    )?;
    let smtp_host = string_field(config, "smtp_host", 253)?.ok_or_else(|| missing("smtp_host"))?;
    if !smtp_host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    {
        return Err(error("config.smtp_host", "must be a host name or address"));
    }
    let smtp_port = match config.get("smtp_port") {
        None | Some(Value::Null) => return Err(missing("smtp_port")),
        Some(value) => value
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .filter(|port| *port > 0)
            .ok_or_else(|| error("config.smtp_port", "must be a port number (1-65535)"))?,
    };
    let tls = match config.get("tls").and_then(Value::as_str) {
        Some("none") => SmtpTls::None,
        Some("starttls") => SmtpTls::Starttls,
        Some("implicit") => SmtpTls::Implicit,
        None if config.get("tls").is_none() => return Err(missing("tls")),
        _ => {
            return Err(error(
                "config.tls",
                "must be one of none, starttls, implicit",
            ))
        }
    };
    let username = string_field(config, "username", 256)?;
    let password = string_field(config, "password", 1024)?;
    if password.is_some() && username.is_none() {
        return Err(error("config.username", "is required with a password"));
    }
    let from = string_field(config, "from", 254)?.ok_or_else(|| missing("from"))?;
    address(&from, "config.from")?;
    let to = match config.get("to") {
        None | Some(Value::Null) => return Err(missing("to")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(error("config.to", "must be an array of addresses")),
    };
    if to.is_empty() || to.len() > MAX_EMAIL_RECIPIENTS {
        return Err(error(
            "config.to",
            format!("must hold 1 to {MAX_EMAIL_RECIPIENTS} addresses"),
        ));
    }
    let to = to
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = format!("config.to[{i}]");
            let text = item
                .as_str()
                .ok_or_else(|| error(field.clone(), "must be an address"))?;
            address(text, &field)?;
            Ok(text.trim().to_owned())
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    Ok((
        ChannelSettings::Email {
            smtp_host,
            smtp_port,
            tls,
            username,
            from: from.trim().to_owned(),
            to,
        },
        ChannelSecret::Email { password },
    ))
}

fn missing(key: &str) -> ConfigError {
    error(format!("config.{key}"), "is required")
}

fn only_keys(config: &Map<String, Value>, known: &[&str]) -> Result<(), ConfigError> {
    match config.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(error(
            format!("config.{key}"),
            format!(
                "is not a setting of this channel type (known: {})",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn string_field(
    config: &Map<String, Value>,
    key: &str,
    max_chars: usize,
) -> Result<Option<String>, ConfigError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            let text = text.trim();
            if text.is_empty() {
                return Err(error(format!("config.{key}"), "must not be empty"));
            }
            if text.chars().count() > max_chars || text.chars().any(char::is_control) {
                return Err(error(
                    format!("config.{key}"),
                    format!("must be at most {max_chars} printable characters"),
                ));
            }
            Ok(Some(text.to_owned()))
        }
        Some(_) => Err(error(format!("config.{key}"), "must be a string")),
    }
}

fn url_field(
    config: &Map<String, Value>,
    key: &str,
    policy: OutboundPolicy,
) -> Result<Option<Url>, ConfigError> {
    let Some(raw) = string_field(config, key, MAX_URL_BYTES)? else {
        return Ok(None);
    };
    let field = format!("config.{key}");
    let url = Url::parse(&raw).map_err(|_| error(field.clone(), "must be an absolute URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(error(field, "must not carry a user name or password"));
    }
    let host = url
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| error(field.clone(), "must name a host"))?;
    match url.scheme() {
        "https" => Ok(Some(url)),
        "http" if policy.allow_loopback_http && is_loopback(host) => Ok(Some(url)),
        "http" => Err(error(
            field,
            "must use https (plain http would expose the channel's credentials)",
        )),
        _ => Err(error(field, "must be an https URL")),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_of(url: &Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

fn address(text: &str, field: &str) -> Result<(), ConfigError> {
    text.trim()
        .parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|_| error(field, "must be an email address (user@example.com)"))
}

/// An update's `config` with the secrets it leaves out taken from the
/// channel's stored ones, so a `PUT` that renames a channel or changes its
/// recipients need not carry its webhook URL, routing key or SMTP password
/// again (whoever sends it may never have seen them). A key that is absent
/// keeps the stored value; one that is given, even `null`, replaces it
/// (`"password": null` drops an email channel's password). The result is
/// then checked by [`parse_channel`] like any other configuration.
pub fn with_kept_secrets(config: &Value, stored: &ChannelSecret) -> Value {
    let Some(given) = config.as_object() else {
        // Not an object: `parse_channel` says so, naming `config`.
        return config.clone();
    };
    let mut merged = given.clone();
    let mut keep = |key: &str, value: &str| {
        merged
            .entry(key.to_owned())
            .or_insert_with(|| Value::String(value.to_owned()));
    };
    match stored {
        ChannelSecret::Slack { url }
        | ChannelSecret::Teams { url }
        | ChannelSecret::Webhook { url, .. } => keep("url", url),
        ChannelSecret::Pagerduty { routing_key, url } => {
            keep("routing_key", routing_key);
            if let Some(url) = url {
                keep("url", url);
            }
        }
        // A password only goes with a user name: without one the update
        // asks for no authentication, and a kept password would be refused.
        ChannelSecret::Email {
            password: Some(password),
        } if given.get("username").is_some_and(|name| !name.is_null()) => {
            keep("password", password);
        }
        ChannelSecret::Email { .. } => {}
    }
    Value::Object(merged)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_update_without_its_secrets_keeps_the_stored_ones() {
        let slack = ChannelSecret::Slack {
            url: "https://hooks.slack.com/services/T/B/old".to_owned(),
        };
        assert_eq!(
            with_kept_secrets(&json!({}), &slack),
            json!({"url": "https://hooks.slack.com/services/T/B/old"})
        );
        assert_eq!(
            with_kept_secrets(&json!({"url": "https://hooks.slack.com/new"}), &slack),
            json!({"url": "https://hooks.slack.com/new"})
        );
        let pagerduty = ChannelSecret::Pagerduty {
            routing_key: "key".to_owned(),
            url: Some("https://events.example.com/v2/enqueue".to_owned()),
        };
        assert_eq!(
            with_kept_secrets(&json!({"url": null}), &pagerduty),
            json!({"routing_key": "key", "url": null})
        );
        let email = ChannelSecret::Email {
            password: Some("secret".to_owned()),
        };
        assert_eq!(
            with_kept_secrets(&json!({"username": "alerts"}), &email)["password"],
            "secret"
        );
        assert!(with_kept_secrets(&json!({}), &email)
            .get("password")
            .is_none());
        assert_eq!(
            with_kept_secrets(&json!({"username": "alerts", "password": null}), &email)["password"],
            Value::Null
        );
    }

    const STRICT: OutboundPolicy = OutboundPolicy {
        allow_loopback_http: false,
    };

    fn field_of(kind: &str, config: Value) -> String {
        parse_channel(kind, "ops", &config, STRICT)
            .unwrap_err()
            .field
    }

    #[test]
    fn a_slack_channel_records_only_the_host_of_its_url() {
        let parsed = parse_channel(
            "slack",
            "Ops room",
            &json!({"url": "https://hooks.slack.com/services/T0/B0/secret"}),
            STRICT,
        )
        .unwrap();
        assert_eq!(
            parsed.settings,
            ChannelSettings::Slack {
                url_host: "hooks.slack.com".into()
            }
        );
        assert!(!serde_json::to_string(&parsed.settings)
            .unwrap()
            .contains("secret"));
    }

    #[test]
    fn bad_values_name_their_field() {
        assert_eq!(field_of("sms", json!({})), "type");
        assert_eq!(field_of("slack", json!({})), "config.url");
        assert_eq!(
            field_of("slack", json!({"url": "ftp://x.example"})),
            "config.url"
        );
        assert_eq!(field_of("teams", json!({"url": "not a url"})), "config.url");
        assert_eq!(
            field_of("webhook", json!({"url": "http://127.0.0.1:9/x"})),
            "config.url"
        );
        assert_eq!(
            field_of("webhook", json!({"url": "https://u:p@x.example/"})),
            "config.url"
        );
        assert_eq!(
            field_of("slack", json!({"url": "https://x.example", "urll": 1})),
            "config.urll"
        );
        assert_eq!(field_of("pagerduty", json!({})), "config.routing_key");
        let email = json!({"smtp_host": "smtp.example.com", "smtp_port": 587, "tls": "starttls",
                           "from": "alerts@example.com", "to": ["ops@example.com", "nope"]});
        assert_eq!(field_of("email", email), "config.to[1]");
        let email = json!({"smtp_host": "smtp.example.com", "smtp_port": 70000, "tls": "starttls",
                           "from": "alerts@example.com", "to": ["ops@example.com"]});
        assert_eq!(field_of("email", email), "config.smtp_port");
        let email = json!({"smtp_host": "smtp.example.com", "smtp_port": 25, "tls": "ssl",
                           "from": "alerts@example.com", "to": ["ops@example.com"]});
        assert_eq!(field_of("email", email), "config.tls");
    }

    #[test]
    fn loopback_http_is_accepted_only_when_the_policy_allows_it() {
        let allow = OutboundPolicy {
            allow_loopback_http: true,
        };
        let config = json!({"url": "http://127.0.0.1:8080/hook"});
        assert!(parse_channel("webhook", "t", &config, allow).is_ok());
        let remote = json!({"url": "http://example.com/hook"});
        assert_eq!(
            parse_channel("webhook", "t", &remote, allow)
                .unwrap_err()
                .field,
            "config.url"
        );
    }
}
