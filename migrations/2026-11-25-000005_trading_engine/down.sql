DROP TABLE funding_events;
DROP TABLE trade_events;
DROP TABLE journal_postings;
DROP TABLE fills;

ALTER TABLE positions
    DROP CONSTRAINT positions_lots_positive,
    DROP CONSTRAINT positions_lots_paired,
    DROP COLUMN lot_cost,
    DROP COLUMN lot_qty;

ALTER TABLE activities
    DROP CONSTRAINT activities_realized_pl_on_sell_fills,
    DROP COLUMN realized_pl;

ALTER TABLE accounts DROP COLUMN event_seq;

ALTER TABLE activities ALTER CONSTRAINT activities_order_id_fkey NOT DEFERRABLE;
ALTER TABLE orders ALTER CONSTRAINT orders_replaces_fkey NOT DEFERRABLE;
ALTER TABLE orders ALTER CONSTRAINT orders_replaced_by_fkey NOT DEFERRABLE;

ALTER TABLE orders
    DROP COLUMN fill_seq,
    DROP COLUMN triggered_at,
    DROP COLUMN hwm;
