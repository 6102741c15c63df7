-- Brokerage: users, their cash accounts, orders, positions and the activity ledger.
--
-- Every account-owned table carries account_id and leads its keys and indexes with it, so the
-- schema can later be distributed by account (e.g. Citus) without a rewrite.
-- Money is NUMERIC(28,4), quantities and average prices NUMERIC(28,9): never floating point.
-- The CHECK constraints restate the domain's invariants as a last line of defence; the rules
-- themselves live in the domain crate.

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL UNIQUE, -- stored lower-cased by the domain's Email
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('customer', 'support', 'admin')),
    status        text        NOT NULL CHECK (status IN ('active', 'locked')),
    totp_enabled  boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL
);

CREATE TABLE accounts (
    id         uuid          PRIMARY KEY,
    user_id    uuid          NOT NULL UNIQUE REFERENCES users (id),
    currency   text          NOT NULL DEFAULT 'USD',
    cash       numeric(28,4) NOT NULL CHECK (cash >= 0),
    held       numeric(28,4) NOT NULL CHECK (held >= 0),
    status     text          NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'restricted', 'closed')),
    created_at timestamptz   NOT NULL,
    CONSTRAINT accounts_held_within_cash CHECK (held <= cash)
);

CREATE TABLE orders (
    id               uuid          PRIMARY KEY,
    account_id       uuid          NOT NULL REFERENCES accounts (id),
    client_order_id  text,
    symbol           text          NOT NULL,
    side             text          NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type       text          NOT NULL
                     CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit', 'trailing_stop')),
    time_in_force    text          NOT NULL CHECK (time_in_force IN ('day', 'gtc', 'ioc', 'fok')),
    qty              numeric(28,9) NOT NULL CHECK (qty > 0),
    notional         numeric(28,4) CHECK (notional > 0),
    limit_price      numeric(28,4) CHECK (limit_price > 0),
    stop_price       numeric(28,4) CHECK (stop_price > 0),
    trail_percent    numeric(6,2)  CHECK (trail_percent > 0),
    status           text          NOT NULL CHECK (status IN ('new', 'partially_filled', 'filled', 'canceled',
                                                              'expired', 'rejected', 'replaced')),
    filled_qty       numeric(28,9) NOT NULL DEFAULT 0,
    filled_avg_price numeric(28,9),
    held_cash        numeric(28,4) NOT NULL CHECK (held_cash >= 0),
    created_at       timestamptz   NOT NULL,
    updated_at       timestamptz   NOT NULL,
    submitted_at     timestamptz   NOT NULL,
    filled_at        timestamptz,
    canceled_at      timestamptz,
    expired_at       timestamptz,
    replaced_by      uuid          REFERENCES orders (id),
    replaces         uuid          REFERENCES orders (id),
    CONSTRAINT orders_filled_within_qty CHECK (filled_qty >= 0 AND filled_qty <= qty),
    -- client ids are unique per account, forever (NULLs do not collide)
    CONSTRAINT orders_account_client_order_id_key UNIQUE (account_id, client_order_id)
);

-- Newest-first listing per account (ids are UUID v7, so id order is time order).
CREATE INDEX orders_account_id_id_idx ON orders (account_id, id DESC);
-- The open book, per symbol, for the execution engine; small because closed orders drop out.
CREATE INDEX orders_open_symbol_idx ON orders (symbol) WHERE status IN ('new', 'partially_filled');

-- A position at zero quantity is deleted, never stored. Symbols are ASCII and sort bytewise
-- (COLLATE "C"), so pages by symbol come in the same order on every server locale.
CREATE TABLE positions (
    account_id uuid          NOT NULL REFERENCES accounts (id),
    symbol     text          COLLATE "C" NOT NULL,
    qty        numeric(28,9) NOT NULL CHECK (qty > 0),
    held       numeric(28,9) NOT NULL,
    cost_basis numeric(28,4) NOT NULL CHECK (cost_basis >= 0),
    updated_at timestamptz   NOT NULL,
    PRIMARY KEY (account_id, symbol),
    CONSTRAINT positions_held_within_qty CHECK (held >= 0 AND held <= qty)
);

-- The ledger: append-only; amount is the signed change to cash.
CREATE TABLE activities (
    id         uuid          PRIMARY KEY,
    account_id uuid          NOT NULL REFERENCES accounts (id),
    kind       text          NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'fill', 'fee')),
    amount     numeric(28,4) NOT NULL,
    order_id   uuid          REFERENCES orders (id),
    symbol     text,
    side       text          CHECK (side IN ('buy', 'sell')),
    qty        numeric(28,9) CHECK (qty > 0),
    price      numeric(28,4) CHECK (price > 0),
    created_at timestamptz   NOT NULL
);

CREATE INDEX activities_account_id_id_idx ON activities (account_id, id DESC);
