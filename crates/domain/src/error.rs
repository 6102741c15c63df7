//! Errors shared by every operation. Each operation has its own error enum with its business
//! variants plus `Infra(InfraError)` for what the adapters could not do.

/// A failure of the infrastructure behind a port, never a business outcome.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// A dependency (database, cache, provider) is down or saturated; retrying later may work.
    #[error("a dependency is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else: a bug or an unexpected state. The cause is logged, never shown to clients.
    #[error("unexpected infrastructure error")]
    Unknown(#[from] anyhow::Error),
}

/// One invalid field of a request, named as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}
