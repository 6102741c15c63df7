-- The ceiling for POST /api/v1/orders: the statements OrderStore::place (crates/postgres/src/orders.rs)
-- sends for a resting limit buy, in one transaction, for a random seeded account: BEGIN; the account
-- FOR UPDATE (a buy that rests changes no position, so its row is neither locked nor read:
-- booking::placing_changes_position); the booking's write as one statement (statements/booking.rs:
-- the balances and event counter and the `new` trade event as data-modifying CTEs of the order
-- upsert … RETURNING); COMMIT. The statement texts are the app's (captured with log_statement =
-- 'all'). The app sends them in two round trips (short_tx.rs: BEGIN with the lock, COMMIT with the
-- write), each statement with its own Sync (four answers); pgbench needs three round trips, as it
-- cannot use a \gset value inside the pipeline it came from: BEGIN, the account lock (\gset), then
-- one pipeline of the write and COMMIT (three answers). (Until round 7 COMMIT went alone, a fourth
-- round trip: the pipeline's form measured 5–9 % more tps.) A two-round-trip variant that computes
-- the account's values in SQL instead of \gset measured slower (round 4: 2,292–2,416 vs 2,869–2,872
-- tps on the same database), so this one is the higher ceiling.
-- Each part's one row goes as VALUES (the app binds a scalar parameter per column, round 8; several
-- rows go as arrays through unnest); here the constants the bench's order always has are literals.
-- The app makes the order id (UUID v7) itself; here it is md5(account, event seq) as a uuid, unique in
-- the same way.
-- bench_ids(n, id) numbers the seeded accounts 1..:naccounts (made by scripts/bench/run.sh).
\set n random(1, :naccounts)
BEGIN;
SELECT "accounts"."id" AS acct, "accounts"."user_id", "accounts"."currency", "accounts"."cash", "accounts"."held",
       "accounts"."status", "accounts"."created_at", "accounts"."event_seq"
  FROM "accounts" WHERE ("accounts"."id" = (SELECT id FROM bench_ids WHERE n = :n)) LIMIT 1 FOR UPDATE \gset
\set es :event_seq + 1
\startpipeline
WITH booked_account AS (UPDATE accounts AS a SET cash = v.cash, held = v.held, event_seq = v.event_seq
         FROM (VALUES (:acct::uuid, :cash::numeric, :held::numeric + 1, :es::bigint)) AS v (id, cash, held, event_seq)
         WHERE a.id = v.id),
     booked_events AS (INSERT INTO trade_events (account_id, seq, kind, order_id, status, filled_qty, filled_avg_price,
                       held_cash, stop_price, hwm, triggered_at, fill_seq, filled_at, canceled_at, expired_at,
                       replaced_by, updated_at, fill_qty, fill_price, created_at)
         VALUES (:acct::uuid, :es::bigint, 'new', md5(:acct || '/' || :es)::uuid, 'new', 0::numeric, NULL::numeric,
                 1::numeric, NULL::numeric, NULL::numeric, NULL::timestamptz, 0::int4, NULL::timestamptz,
                 NULL::timestamptz, NULL::timestamptz, NULL::uuid, now(), NULL::numeric, NULL::numeric, now()))
INSERT INTO orders (id, account_id, client_order_id, symbol, side, order_type, time_in_force, qty, notional,
                    limit_price, stop_price, trail_percent, status, filled_qty, filled_avg_price, held_cash, created_at,
                    updated_at, submitted_at, filled_at, canceled_at, expired_at, replaced_by, replaces, hwm,
                    triggered_at, fill_seq)
  VALUES (md5(:acct || '/' || :es)::uuid, :acct::uuid, NULL::text, 'AAPL', 'buy', 'limit', 'gtc', 1::numeric,
          NULL::numeric, 1.00::numeric, NULL::numeric, NULL::numeric, 'new', 0::numeric, NULL::numeric, 1::numeric,
          now(), now(), now(), NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::uuid, NULL::uuid,
          NULL::numeric, NULL::timestamptz, 0::int4)
  ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, filled_qty = EXCLUDED.filled_qty,
     filled_avg_price = EXCLUDED.filled_avg_price, held_cash = EXCLUDED.held_cash, stop_price = EXCLUDED.stop_price,
     updated_at = EXCLUDED.updated_at, filled_at = EXCLUDED.filled_at, canceled_at = EXCLUDED.canceled_at,
     expired_at = EXCLUDED.expired_at, replaced_by = EXCLUDED.replaced_by, hwm = EXCLUDED.hwm,
     triggered_at = EXCLUDED.triggered_at, fill_seq = EXCLUDED.fill_seq
  RETURNING id, account_id, client_order_id, symbol, side, order_type, time_in_force, qty, notional, limit_price,
     stop_price, trail_percent, status, filled_qty, filled_avg_price, held_cash, created_at, updated_at,
     submitted_at, filled_at, canceled_at, expired_at, replaced_by, replaces, hwm, triggered_at, fill_seq;
COMMIT;
\endpipeline
