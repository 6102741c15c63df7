-- The trading engine: trigger state and fill counters on orders, the trade-update cursor on
-- accounts, FIFO lots on positions, realised P&L on sell fills, and four new tables:
-- - fills: one row per execution, keyed (order_id, seq), so a fill is booked exactly once;
-- - journal_postings: the double-entry view of every activity (brokerage_domain::ledger);
-- - trade_events: the trade-update outbox, numbered per account;
-- - funding_events: funding-provider deposits already credited (once per event id).
--
-- Every change of an account is written by one transaction in several pipelined
-- statements whose execution order is not fixed, so the foreign keys between the rows one
-- change writes (orders ← activities ← fills/postings, orders ← events) are checked at
-- COMMIT (DEFERRABLE INITIALLY DEFERRED). They are still checked, just not mid-transaction.

ALTER TABLE orders
    ADD COLUMN hwm numeric(28,4) CHECK (hwm > 0),
    ADD COLUMN triggered_at timestamptz,
    ADD COLUMN fill_seq integer NOT NULL DEFAULT 0 CHECK (fill_seq >= 0);

ALTER TABLE orders ALTER CONSTRAINT orders_replaced_by_fkey DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE orders ALTER CONSTRAINT orders_replaces_fkey DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE activities ALTER CONSTRAINT activities_order_id_fkey DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE accounts
    ADD COLUMN event_seq bigint NOT NULL DEFAULT 0 CHECK (event_seq >= 0);

-- Sell fills: proceeds minus the FIFO cost of the shares sold (NULL for fills booked before).
ALTER TABLE activities
    ADD COLUMN realized_pl numeric(28,4),
    ADD CONSTRAINT activities_realized_pl_on_sell_fills CHECK (realized_pl IS NULL OR (kind = 'fill' AND side = 'sell'));

-- FIFO lots, oldest first, as two parallel arrays on the position row: one row to lock, read
-- and write. Their sums equal qty and cost_basis (the audit checks it). Existing positions
-- become one lot each.
ALTER TABLE positions
    ADD COLUMN lot_qty numeric(28,9)[] NOT NULL DEFAULT '{}',
    ADD COLUMN lot_cost numeric(28,4)[] NOT NULL DEFAULT '{}';
UPDATE positions SET lot_qty = ARRAY[qty], lot_cost = ARRAY[cost_basis];
ALTER TABLE positions
    ALTER COLUMN lot_qty DROP DEFAULT,
    ALTER COLUMN lot_cost DROP DEFAULT,
    ADD CONSTRAINT positions_lots_paired CHECK (cardinality(lot_qty) = cardinality(lot_cost)),
    ADD CONSTRAINT positions_lots_positive CHECK (0 < ALL (lot_qty) AND 0 <= ALL (lot_cost));

CREATE TABLE fills (
    order_id    uuid          NOT NULL REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    seq         integer       NOT NULL CHECK (seq > 0),
    account_id  uuid          NOT NULL REFERENCES accounts (id),
    qty         numeric(28,9) NOT NULL CHECK (qty > 0),
    price       numeric(28,4) NOT NULL CHECK (price > 0),
    activity_id uuid          NOT NULL UNIQUE REFERENCES activities (id) DEFERRABLE INITIALLY DEFERRED,
    created_at  timestamptz   NOT NULL,
    PRIMARY KEY (order_id, seq)
);

-- Fills booked before this migration: one per fill activity, numbered in time order.
INSERT INTO fills (order_id, seq, account_id, qty, price, activity_id, created_at)
SELECT order_id, row_number() OVER (PARTITION BY order_id ORDER BY created_at, id), account_id, qty, price, id,
       created_at
FROM activities
WHERE kind = 'fill' AND order_id IS NOT NULL;
UPDATE orders o SET fill_seq = f.n FROM (SELECT order_id, count(*) AS n FROM fills GROUP BY order_id) f
WHERE o.id = f.order_id;

-- One balanced journal entry per activity: for every asset ('USD' or a symbol) its legs sum
-- to zero. Only customer legs name an account.
CREATE TABLE journal_postings (
    activity_id uuid          NOT NULL REFERENCES activities (id) DEFERRABLE INITIALLY DEFERRED,
    leg         smallint      NOT NULL CHECK (leg > 0),
    book        text          NOT NULL CHECK (book IN ('customer', 'house', 'external')),
    account_id  uuid          REFERENCES accounts (id),
    asset       text          NOT NULL CHECK (asset <> ''),
    amount      numeric(28,9) NOT NULL,
    created_at  timestamptz   NOT NULL,
    PRIMARY KEY (activity_id, leg),
    CONSTRAINT journal_postings_customer_names_account CHECK ((book = 'customer') = (account_id IS NOT NULL)),
    CONSTRAINT journal_postings_no_shares_outside CHECK (book <> 'external' OR asset = 'USD')
);

-- The journal of the activities booked before, following brokerage_domain::ledger::postings:
-- 1 customer cash, 2 counterparty cash (external for deposits/withdrawals, house otherwise),
-- and for fills 3 customer shares, 4 house shares.
INSERT INTO journal_postings (activity_id, leg, book, account_id, asset, amount, created_at)
SELECT id, 1, 'customer', account_id, 'USD', amount, created_at FROM activities
UNION ALL
SELECT id, 2, CASE WHEN kind IN ('deposit', 'withdrawal') THEN 'external' ELSE 'house' END, NULL, 'USD', -amount,
       created_at
FROM activities
UNION ALL
SELECT id, 3, 'customer', account_id, symbol, CASE side WHEN 'buy' THEN qty ELSE -qty END, created_at
FROM activities WHERE kind = 'fill' AND symbol IS NOT NULL
UNION ALL
SELECT id, 4, 'house', NULL, symbol, CASE side WHEN 'buy' THEN -qty ELSE qty END, created_at
FROM activities WHERE kind = 'fill' AND symbol IS NOT NULL;

-- The trade-update outbox. The order's fixed fields come from `orders`; what changes is
-- stored as it stood right after the change.
CREATE TABLE trade_events (
    account_id       uuid          NOT NULL REFERENCES accounts (id),
    seq              bigint        NOT NULL CHECK (seq > 0),
    kind             text          NOT NULL CHECK (kind IN ('new', 'fill', 'partial_fill', 'canceled', 'expired',
                                                           'replaced', 'rejected')),
    order_id         uuid          NOT NULL REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    status           text          NOT NULL CHECK (status IN ('new', 'partially_filled', 'filled', 'canceled',
                                                              'expired', 'rejected', 'replaced')),
    filled_qty       numeric(28,9) NOT NULL CHECK (filled_qty >= 0),
    filled_avg_price numeric(28,9),
    held_cash        numeric(28,4) NOT NULL CHECK (held_cash >= 0),
    stop_price       numeric(28,4) CHECK (stop_price > 0),
    hwm              numeric(28,4) CHECK (hwm > 0),
    triggered_at     timestamptz,
    fill_seq         integer       NOT NULL CHECK (fill_seq >= 0),
    filled_at        timestamptz,
    canceled_at      timestamptz,
    expired_at       timestamptz,
    replaced_by      uuid,
    updated_at       timestamptz   NOT NULL,
    fill_qty         numeric(28,9) CHECK (fill_qty > 0),
    fill_price       numeric(28,4) CHECK (fill_price > 0),
    created_at       timestamptz   NOT NULL,
    PRIMARY KEY (account_id, seq),
    CONSTRAINT trade_events_fill_complete CHECK ((fill_qty IS NULL) = (fill_price IS NULL))
);

-- Deposits announced by the funding provider, credited once per event id.
CREATE TABLE funding_events (
    event_id    text          PRIMARY KEY CHECK (event_id <> ''),
    account_id  uuid          NOT NULL REFERENCES accounts (id),
    activity_id uuid          NOT NULL UNIQUE REFERENCES activities (id) DEFERRABLE INITIALLY DEFERRED,
    amount      numeric(28,4) NOT NULL CHECK (amount > 0),
    created_at  timestamptz   NOT NULL
);
