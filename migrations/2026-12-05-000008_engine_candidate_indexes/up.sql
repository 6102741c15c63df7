-- The execution engine reads, every pass, only the open orders the quote can touch
-- (`Candidates::may_act`). One partial index per kind of condition lets each part of that
-- read be an index range instead of a walk over the symbol's whole book, and lets the list of
-- symbols with open orders be a skip scan. Plain limit orders, the bulk of a book, keep one
-- open-book index, as before; the others exist only for the orders they describe.

DROP INDEX orders_open_symbol_idx;

-- Every open order by symbol, side and limit: limit-like orders the touch reaches, and the
-- symbols of the open book (`min(symbol)` steps).
CREATE INDEX orders_open_limit_idx ON orders (symbol, side, limit_price)
    WHERE status IN ('new', 'partially_filled');

-- Stop-like orders the touch reaches.
CREATE INDEX orders_open_stop_idx ON orders (symbol, side, stop_price)
    WHERE status IN ('new', 'partially_filled') AND stop_price IS NOT NULL;

-- Orders every quote acts on: market orders waiting for the open, trailing marks.
CREATE INDEX orders_open_unpriced_idx ON orders (symbol)
    WHERE status IN ('new', 'partially_filled') AND order_type IN ('market', 'trailing_stop');

-- Day orders, by submission: those from before the last close expire.
CREATE INDEX orders_open_day_idx ON orders (symbol, submitted_at)
    WHERE status IN ('new', 'partially_filled') AND time_in_force = 'day';
