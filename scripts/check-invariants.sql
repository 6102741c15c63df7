-- The invariants of the book, checked over a whole database: one row per violation, none
-- when the book is sound. The same list as brokerage_domain::ledger::audit, plus the checks
-- only the stored form needs (journal rows agreeing with their activities, fill rows with
-- their activities, event cursors without gaps). `LedgerStore::audit` runs this very file
-- (crates/postgres/src/ledger.rs includes it), so operators and tests check the same thing:
--
--     psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f scripts/check-invariants.sql
--
-- One statement, so it reads one consistent snapshot. Read-only; full scans.
WITH
cash_ledger AS (
    SELECT account_id, sum(amount) AS amount
    FROM journal_postings WHERE book = 'customer' AND asset = 'USD'
    GROUP BY account_id
),
share_ledger AS (
    SELECT account_id, asset COLLATE "C" AS symbol, sum(amount) AS qty
    FROM journal_postings WHERE book = 'customer' AND asset <> 'USD'
    GROUP BY account_id, asset
    HAVING sum(amount) <> 0
),
open_orders AS (
    SELECT * FROM orders WHERE status IN ('new', 'partially_filled')
),
buy_holds AS (
    SELECT account_id, sum(held_cash) AS held FROM open_orders WHERE side = 'buy' GROUP BY account_id
),
sell_holds AS (
    SELECT account_id, symbol COLLATE "C" AS symbol, sum(qty - filled_qty) AS held
    FROM open_orders WHERE side = 'sell'
    GROUP BY account_id, symbol
),
fill_sums AS (
    SELECT order_id, sum(qty) AS qty, count(*) AS n, max(seq) AS max_seq FROM fills GROUP BY order_id
),
entry_cash AS (
    SELECT activity_id, account_id, sum(amount) AS amount
    FROM journal_postings WHERE book = 'customer' AND asset = 'USD'
    GROUP BY activity_id, account_id
),
entry_shares AS (
    SELECT activity_id, account_id, asset, sum(amount) AS qty
    FROM journal_postings WHERE book = 'customer' AND asset <> 'USD'
    GROUP BY activity_id, account_id, asset
),
events AS (
    SELECT account_id, count(*) AS n, max(seq) AS max_seq FROM trade_events GROUP BY account_id
)
SELECT problem FROM (
    -- Each activity is one balanced journal entry: per asset, its legs sum to zero …
    SELECT format('activity %s is not a balanced entry: its %s legs sum to %s', activity_id, asset, sum(amount))
        AS problem
    FROM journal_postings GROUP BY activity_id, asset HAVING sum(amount) <> 0
    UNION ALL
    -- … that posts the activity's cash change to its own account …
    SELECT format('activity %s moves cash %s but its journal entry posts %s', a.id, a.amount, coalesce(e.amount, 0))
    FROM activities a LEFT JOIN entry_cash e ON e.activity_id = a.id AND e.account_id = a.account_id
    WHERE a.amount <> coalesce(e.amount, 0)
    UNION ALL
    SELECT format('activity %s posts to account %s, not its own %s', a.id, j.account_id, a.account_id)
    FROM journal_postings j JOIN activities a ON a.id = j.activity_id
    WHERE j.book = 'customer' AND j.account_id <> a.account_id
    UNION ALL
    -- … and, for a fill, the shares traded.
    SELECT format('fill %s trades %s %s of %s but its journal entry posts %s', a.id, a.side, a.qty, a.symbol,
                  coalesce(e.qty, 0))
    FROM activities a
    LEFT JOIN entry_shares e ON e.activity_id = a.id AND e.account_id = a.account_id AND e.asset = a.symbol
    WHERE a.kind = 'fill' AND coalesce(e.qty, 0) <> CASE a.side WHEN 'buy' THEN a.qty ELSE -a.qty END
    UNION ALL
    -- Accounts: cash equals the ledger; 0 ≤ held ≤ cash; held equals what open buys hold.
    SELECT format('account %s holds cash %s but its ledger says %s', a.id, a.cash, coalesce(l.amount, 0))
    FROM accounts a LEFT JOIN cash_ledger l ON l.account_id = a.id
    WHERE a.cash <> coalesce(l.amount, 0)
    UNION ALL
    SELECT format('account %s has cash %s and held %s', id, cash, held)
    FROM accounts WHERE cash < 0 OR held < 0 OR held > cash
    UNION ALL
    SELECT format('account %s holds %s but its open buys hold %s', a.id, a.held, coalesce(h.held, 0))
    FROM accounts a LEFT JOIN buy_holds h ON h.account_id = a.id
    WHERE a.held <> coalesce(h.held, 0)
    UNION ALL
    -- Positions: qty > 0 and 0 ≤ held ≤ qty; the lots sum to qty and cost basis; held equals
    -- what open sells still need; qty equals the ledger.
    SELECT format('position %s/%s has qty %s and held %s', account_id, symbol, qty, held)
    FROM positions WHERE qty <= 0 OR held < 0 OR held > qty
    UNION ALL
    SELECT format('position %s/%s disagrees with its lots', p.account_id, p.symbol)
    FROM positions p
    WHERE cardinality(p.lot_qty) <> cardinality(p.lot_cost)
       OR p.qty <> (SELECT coalesce(sum(x), 0) FROM unnest(p.lot_qty) AS x)
       OR p.cost_basis <> (SELECT coalesce(sum(x), 0) FROM unnest(p.lot_cost) AS x)
    UNION ALL
    SELECT format('position %s/%s holds %s but open sells need %s', coalesce(p.account_id, s.account_id),
                  coalesce(p.symbol, s.symbol), coalesce(p.held, 0), coalesce(s.held, 0))
    FROM positions p FULL JOIN sell_holds s ON s.account_id = p.account_id AND s.symbol = p.symbol
    WHERE coalesce(p.held, 0) <> coalesce(s.held, 0)
    UNION ALL
    SELECT format('position %s/%s is %s but its ledger says %s', coalesce(p.account_id, l.account_id),
                  coalesce(p.symbol, l.symbol), coalesce(p.qty, 0), coalesce(l.qty, 0))
    FROM positions p FULL JOIN share_ledger l ON l.account_id = p.account_id AND l.symbol = p.symbol
    WHERE coalesce(p.qty, 0) <> coalesce(l.qty, 0)
    UNION ALL
    -- Conservation: customers' and the house's cash together are deposits − withdrawals (the
    -- external book's opposite); shares never leave the system, and per symbol the customers'
    -- and the house's shares cancel out.
    SELECT format('cash is not conserved: customers + house − (deposits − withdrawals) = %s', sum(amount))
    FROM journal_postings WHERE asset = 'USD' HAVING sum(amount) <> 0
    UNION ALL
    SELECT format('shares of %s left the system', asset)
    FROM journal_postings WHERE book = 'external' AND asset <> 'USD' GROUP BY asset
    UNION ALL
    SELECT format('shares of %s are not conserved: %s', asset, sum(amount))
    FROM journal_postings WHERE book <> 'external' AND asset <> 'USD' GROUP BY asset HAVING sum(amount) <> 0
    UNION ALL
    -- Orders: filled within qty; filled_qty and fill_seq are what the fills (numbered 1..n)
    -- say; a closed order holds no cash.
    SELECT format('order %s filled %s of %s', id, filled_qty, qty)
    FROM orders WHERE filled_qty < 0 OR filled_qty > qty
    UNION ALL
    SELECT format('order %s says %s filled in %s fills; its fills say %s in %s (last seq %s)', o.id, o.filled_qty,
                  o.fill_seq, coalesce(f.qty, 0), coalesce(f.n, 0), coalesce(f.max_seq, 0))
    FROM orders o LEFT JOIN fill_sums f ON f.order_id = o.id
    WHERE o.filled_qty <> coalesce(f.qty, 0) OR o.fill_seq <> coalesce(f.n, 0) OR coalesce(f.max_seq, 0) <> coalesce(f.n, 0)
    UNION ALL
    SELECT format('fills of an unknown order %s', f.order_id)
    FROM fill_sums f WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = f.order_id)
    UNION ALL
    SELECT format('fill %s/%s disagrees with its activity %s', f.order_id, f.seq, f.activity_id)
    FROM fills f LEFT JOIN activities a ON a.id = f.activity_id
    WHERE a.id IS NULL OR a.kind <> 'fill' OR a.order_id IS DISTINCT FROM f.order_id
       OR a.account_id <> f.account_id OR a.qty IS DISTINCT FROM f.qty OR a.price IS DISTINCT FROM f.price
    UNION ALL
    SELECT format('closed order %s still holds %s', id, held_cash)
    FROM orders WHERE status NOT IN ('new', 'partially_filled') AND held_cash <> 0
    UNION ALL
    -- Trade events: each account's are numbered 1..event_seq, no gap, no duplicate.
    SELECT format('account %s is at event %s but has %s events up to %s', a.id, a.event_seq, coalesce(e.n, 0),
                  coalesce(e.max_seq, 0))
    FROM accounts a LEFT JOIN events e ON e.account_id = a.id
    WHERE a.event_seq <> coalesce(e.n, 0) OR a.event_seq <> coalesce(e.max_seq, 0)
) AS violations
ORDER BY problem;
