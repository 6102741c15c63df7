-- The ceiling for GET /api/v1/account: a primary-key read of a random seeded account
-- (AccountStore::get in crates/postgres/src/accounts.rs). bench_ids(n, id) numbers the seeded accounts.
\set n random(1, :naccounts)
SELECT accounts.id, accounts.user_id, accounts.currency, accounts.cash, accounts.held, accounts.status, accounts.created_at
  FROM accounts WHERE accounts.id = (SELECT id FROM bench_ids WHERE n = :n);
