//! Configuration values shared by every process kind.

use std::fmt;

/// Where the service runs; production refuses to invent missing secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    #[default]
    Development,
    Production,
}

impl Environment {
    /// Parses `ALERTLEDGER_ENV` (`development`/`dev`, `production`/`prod`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "dev" | "development" => Ok(Self::Development),
            "prod" | "production" => Ok(Self::Production),
            other => Err(format!(
                "unknown environment {other:?}: expected development or production"
            )),
        }
    }

    pub fn is_production(self) -> bool {
        self == Self::Production
    }
}

/// A value that must never reach a log: `Debug` and `Display` print a mask.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let secret = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{secret:?} {secret}"), "Secret(***) ***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn environments_parse_their_common_spellings() {
        assert_eq!(Environment::parse("prod"), Ok(Environment::Production));
        assert_eq!(
            Environment::parse("Development"),
            Ok(Environment::Development)
        );
        assert!(Environment::parse("staging").is_err());
    }
}
