//! Transactions in two round trips instead of four: `BEGIN` goes out with the transaction's
//! first statements (its row locks) and `COMMIT` with its last (its writes). tokio-postgres
//! sends what is queued on a connection in one write and PostgreSQL answers in order, so the
//! locks are held for one round trip, not three, and each order costs two wake-ups of the
//! server, not four.
//!
//! A pooled connection must never be handed on inside a transaction. diesel-async's pool
//! discards a connection whose transaction manager counts an open transaction (bb8
//! `has_broken`), so [`ShortTx::begin`] raises that count *before* `BEGIN` is sent and only a
//! `COMMIT` or `ROLLBACK` PostgreSQL acknowledged lowers it. A request dropped at any await (the
//! client went away, a timeout) or an early return therefore costs a reconnect, never a leaked
//! transaction. Within the transaction, a failed statement makes the `COMMIT` behind it a
//! rollback (PostgreSQL ends an aborted transaction block that way), and the statement's error
//! is what the caller gets.

use crate::errors::TxError;
use crate::statements::{Begin, Commit};
use diesel::QueryResult;
use diesel::connection::TransactionDepthChange;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection, TransactionManager};

/// An open transaction on `conn`, begun by [`ShortTx::begin`]; end it with [`ShortTx::commit`]
/// or [`ShortTx::fail`] (dropped, it leaves the connection to be discarded).
pub(crate) struct ShortTx<'c> {
    conn: &'c mut AsyncPgConnection,
}

impl<'c> ShortTx<'c> {
    /// `BEGIN`, pipelined with `first` (run on the same connection, sent right behind it).
    /// When `first` fails the transaction is rolled back here.
    pub(crate) async fn begin<T, E>(
        conn: &'c mut AsyncPgConnection,
        first: impl AsyncFnOnce(&AsyncPgConnection) -> Result<T, TxError<E>>,
    ) -> Result<(Self, T), TxError<E>> {
        let status = AnsiTransactionManager::transaction_manager_status_mut(&mut *conn).transaction_state()?;
        if status.transaction_depth().is_some() {
            return Err(TxError::Db(diesel::result::Error::AlreadyInTransaction));
        }
        status.change_transaction_depth(TransactionDepthChange::IncreaseDepth)?;
        let shared: &AsyncPgConnection = conn;
        let mut begin_on = shared;
        // `biased`: polled (so queued) in this order. BEGIN is a prepared statement like
        // COMMIT (see there): as a simple query PostgreSQL parsed it anew for every order.
        let begin = async { Begin.execute(&mut begin_on).await.map(drop) };
        let (begun, first) = tokio::join!(biased; begin, first(shared));
        let tx = ShortTx { conn };
        match (begun, first) {
            (Ok(()), Ok(value)) => Ok((tx, value)),
            (Err(e), _) => Err(tx.abandon(e)),
            (Ok(()), Err(e)) => tx.fail(e).await,
        }
    }

    /// The connection, for statements between the first and the last.
    pub(crate) fn conn(&self) -> &AsyncPgConnection {
        self.conn
    }

    /// `last`, then `COMMIT` pipelined behind it. When `last` fails the `COMMIT` rolls back
    /// and `last`'s error is returned.
    pub(crate) async fn commit<T, E>(
        self,
        last: impl AsyncFnOnce(&AsyncPgConnection) -> Result<T, TxError<E>>,
    ) -> Result<T, TxError<E>> {
        let shared: &AsyncPgConnection = self.conn;
        let mut commit_on = shared;
        // COMMIT as a prepared statement, not a simple query: diesel-async queues a statement
        // only after the statements polled before it (a statement not yet prepared on this
        // connection holds the others back while it is), so it can never overtake a write.
        // Prepared once per connection (`statements::transaction`), not per order.
        let commit = Commit.execute(&mut commit_on);
        let (value, committed) = tokio::join!(biased; last(shared), commit);
        let committed = committed.map(drop);
        match (value, committed) {
            (_, Err(e)) => Err(self.abandon(e)),
            (Err(e), Ok(())) => {
                self.ended()?;
                Err(e)
            }
            (Ok(value), Ok(())) => {
                self.ended()?;
                Ok(value)
            }
        }
    }

    /// Rolls back and returns `e`: a rule of the transaction said no.
    pub(crate) async fn fail<T, E>(self, e: TxError<E>) -> Result<T, TxError<E>> {
        self.rollback().await?;
        Err(e)
    }

    /// `ROLLBACK`: nothing the transaction wrote stays.
    async fn rollback<E>(self) -> Result<(), TxError<E>> {
        match self.conn.batch_execute("ROLLBACK").await {
            Ok(()) => Ok(self.ended()?),
            Err(e) => Err(self.abandon(e)),
        }
    }

    /// PostgreSQL acknowledged the end of the transaction: the connection is reusable.
    fn ended(self) -> QueryResult<()> {
        AnsiTransactionManager::transaction_manager_status_mut(self.conn)
            .transaction_state()?
            .change_transaction_depth(TransactionDepthChange::DecreaseDepth)
    }

    /// `BEGIN`, `COMMIT` or `ROLLBACK` failed: the connection's state is unknown, so it is
    /// marked broken and the pool discards it.
    fn abandon<E>(self, e: diesel::result::Error) -> TxError<E> {
        AnsiTransactionManager::transaction_manager_status_mut(self.conn).set_in_error();
        TxError::Db(e)
    }
}
