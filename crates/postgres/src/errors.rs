//! Translation of pool and diesel errors into the domain's error vocabulary.
//!
//! - no connection (pool timeout, refused, closed socket) → `InfraError::Unavailable`;
//! - a unique violation the port names (e-mail taken, client order id reused) → that variant,
//!   recognised by constraint name (see `migrations/`);
//! - everything else → `InfraError::Unknown`, with the operation as context.

use brokerage_domain::InfraError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError;

/// `UNIQUE (email)` on `users`.
pub(crate) const USERS_EMAIL_KEY: &str = "users_email_key";
/// `UNIQUE (account_id, client_order_id)` on `orders`.
pub(crate) const ORDERS_CLIENT_ORDER_ID_KEY: &str = "orders_account_client_order_id_key";

/// A failure to check a connection out of the pool: the database is down or saturated.
pub(crate) fn pool(e: bb8::RunError<PoolError>) -> InfraError {
    let cause = match e {
        bb8::RunError::TimedOut => anyhow::anyhow!("timed out waiting for a postgres connection"),
        bb8::RunError::User(e) => anyhow::Error::new(e).context("could not connect to postgres"),
    };
    InfraError::Unavailable(cause)
}

/// A failed statement, with `context` naming the operation.
pub(crate) fn query(e: DieselError, context: &'static str) -> InfraError {
    let unavailable = matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _)
            | DieselError::BrokenTransactionManager
    ) || server_going_away(&e);
    let cause = anyhow::Error::new(e).context(context);
    if unavailable { InfraError::Unavailable(cause) } else { InfraError::Unknown(cause) }
}

/// The server ends or refuses the session (restart, failover, shutdown, full): retry later.
/// diesel-async maps these SQLSTATEs (57P01 admin_shutdown, 57P02 crash_shutdown,
/// 57P03 cannot_connect_now, 53300 too_many_connections) to `Unknown` and keeps no code, so
/// they are recognised by PostgreSQL's (English, `lc_messages`) message.
fn server_going_away(e: &DieselError) -> bool {
    const MESSAGES: [&str; 6] = [
        "terminating connection due to administrator command",
        "terminating connection because of crash of another server process",
        "terminating connection due to conflict with recovery",
        "the database system is shutting down",
        "the database system is starting up",
        "sorry, too many clients already",
    ];
    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
        if MESSAGES.iter().any(|m| info.message().starts_with(m)))
}

/// Whether `e` is a unique violation of `constraint`.
pub(crate) fn is_unique_violation(e: &DieselError, constraint: &str) -> bool {
    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
        if info.constraint_name() == Some(constraint))
}

/// The error of a transaction body: a statement that failed (so the transaction rolls back
/// through diesel's `From<diesel::result::Error>` requirement) or the port's own error.
#[derive(Debug)]
pub(crate) enum TxError<E> {
    Db(DieselError),
    Port(E),
}

impl<E> From<DieselError> for TxError<E> {
    fn from(e: DieselError) -> Self {
        TxError::Db(e)
    }
}

impl<E> TxError<E> {
    /// Wraps anything the port error converts from (`SettlementError`, `InfraError`, …).
    pub(crate) fn port(e: impl Into<E>) -> Self {
        TxError::Port(e.into())
    }

    /// The port error: statement failures go through `special` (e.g. a unique violation the
    /// port names), then become `InfraError` with `context`.
    pub(crate) fn resolve(self, context: &'static str, special: impl FnOnce(&DieselError) -> Option<E>) -> E
    where
        E: From<InfraError>,
    {
        match self {
            TxError::Port(e) => e,
            TxError::Db(e) => special(&e).unwrap_or_else(|| query(e, context).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerage_domain::users::CreateUserError;

    struct Info(&'static str);
    impl diesel::result::DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            "duplicate key value violates unique constraint"
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            Some(self.0)
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn unique(constraint: &'static str) -> DieselError {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new(Info(constraint)))
    }

    fn email_taken(e: &DieselError) -> Option<CreateUserError> {
        is_unique_violation(e, USERS_EMAIL_KEY).then_some(CreateUserError::EmailTaken)
    }

    #[test]
    fn only_the_named_constraint_is_a_business_error() {
        let taken = TxError::<CreateUserError>::Db(unique(USERS_EMAIL_KEY)).resolve("create user", email_taken);
        assert!(matches!(taken, CreateUserError::EmailTaken));
        let other = TxError::<CreateUserError>::Db(unique("accounts_user_id_key")).resolve("create user", email_taken);
        assert!(matches!(other, CreateUserError::Infra(InfraError::Unknown(_))));
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_pool_timeout_too() {
        let closed = DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new("closed".to_owned()));
        assert!(matches!(query(closed, "x"), InfraError::Unavailable(_)));
        assert!(matches!(pool(bb8::RunError::TimedOut), InfraError::Unavailable(_)));
        assert!(matches!(query(DieselError::NotFound, "x"), InfraError::Unknown(_)));
    }
}
