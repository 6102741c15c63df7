-- The ceiling for POST /api/v1/orders: the statements OrderStore::place (crates/postgres/src/orders.rs)
-- sends for a resting limit buy, in one transaction, for a random seeded account:
-- lock_account (accounts.rs), lock_position (positions.rs; none exists for a resting buy, so nothing
-- is written back to positions), INSERT … RETURNING the order, save_balances (accounts.rs).
-- bench_ids(n, id) numbers the seeded accounts 1..:naccounts (made by scripts/bench/run.sh).
\set n random(1, :naccounts)
BEGIN;
SELECT accounts.id AS acct, accounts.user_id, accounts.currency, accounts.cash, accounts.held, accounts.status, accounts.created_at
  FROM accounts WHERE accounts.id = (SELECT id FROM bench_ids WHERE n = :n) FOR UPDATE \gset
SELECT positions.account_id, positions.symbol, positions.qty, positions.held, positions.cost_basis, positions.updated_at
  FROM positions WHERE positions.account_id = :acct AND positions.symbol = 'AAPL' FOR UPDATE;
INSERT INTO orders (id, account_id, client_order_id, symbol, side, order_type, time_in_force, qty, notional,
                    limit_price, stop_price, trail_percent, status, filled_qty, filled_avg_price, held_cash,
                    created_at, updated_at, submitted_at, filled_at, canceled_at, expired_at, replaced_by, replaces)
  VALUES (gen_random_uuid(), :acct, NULL, 'AAPL', 'buy', 'limit', 'gtc', 1, NULL, 1.00, NULL, NULL, 'new', 0, NULL,
          1.0000, now(), now(), now(), NULL, NULL, NULL, NULL, NULL)
  RETURNING id, account_id, client_order_id, symbol, side, order_type, time_in_force, qty, notional, limit_price,
            stop_price, trail_percent, status, filled_qty, filled_avg_price, held_cash, created_at, updated_at,
            submitted_at, filled_at, canceled_at, expired_at, replaced_by, replaces;
UPDATE accounts SET cash = :cash, held = :held + 1.0000 WHERE accounts.id = :acct;
COMMIT;
