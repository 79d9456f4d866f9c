//! Request data on its way into log lines: control characters escaped, so a
//! client cannot forge log lines (a newline and a fake entry in an SNS
//! `TopicArn`) or send terminal escape sequences to whoever reads the logs.
//! The JSON log format escapes them by itself; the pretty format does not.

use std::fmt;

/// Displays the text with every control character written as `\u{..}`
/// (`\n`, `\r` and `\t` as themselves escaped); everything else unchanged.
#[derive(Debug, Clone, Copy)]
pub struct LogSafe<'a>(pub &'a str);

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LogSafe;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        let forged =
            "arn:aws:sns:eu-west-1:1:t\n2026-12-06T00:00:00Z INFO admin logged in\u{1b}[2J\0";
        let shown = LogSafe(forged).to_string();
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert_eq!(
            shown,
            "arn:aws:sns:eu-west-1:1:t\\n2026-12-06T00:00:00Z INFO admin logged in\\u{1b}[2J\\u{0}"
        );
        assert_eq!(LogSafe("héllo 🚨 \"q\"").to_string(), "héllo 🚨 \"q\"");
    }
}
