//! What every handler can reach.

use std::sync::Arc;

use alertledger_projections::log::LogReader;
use sqlx::PgPool;

use crate::auth::jwt::JwtVerifier;
use crate::ingest::AlertIngestor;
use crate::tenant_directory::TenantDirectory;

/// Shared application state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    jwt: JwtVerifier,
    log: LogReader,
    directory: TenantDirectory,
    ingestor: AlertIngestor,
}

impl AppState {
    pub fn new(
        pool: PgPool,
        jwt: JwtVerifier,
        log: LogReader,
        directory: TenantDirectory,
        ingestor: AlertIngestor,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                jwt,
                log,
                directory,
                ingestor,
            }),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn jwt(&self) -> &JwtVerifier {
        &self.inner.jwt
    }

    pub fn log(&self) -> &LogReader {
        &self.inner.log
    }

    pub fn directory(&self) -> &TenantDirectory {
        &self.inner.directory
    }

    pub fn ingestor(&self) -> &AlertIngestor {
        &self.inner.ingestor
    }
}
