DROP INDEX orders_open_day_idx;
DROP INDEX orders_open_unpriced_idx;
DROP INDEX orders_open_stop_idx;
DROP INDEX orders_open_limit_idx;
CREATE INDEX orders_open_symbol_idx ON orders (symbol) WHERE status IN ('new', 'partially_filled');
