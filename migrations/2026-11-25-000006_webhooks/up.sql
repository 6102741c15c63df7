-- Outgoing webhooks: customers' endpoints (signing secrets sealed by the application, never
-- plaintext) with their cursor in the account's trade-update outbox, and one delivery per
-- (endpoint, event), retried with backoff by the dispatcher workers.

CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id),
    url text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    events text[] NOT NULL CHECK (cardinality(events) > 0),
    -- "<key id>:<base64(nonce || ciphertext)>", sealed by the application.
    sealed_secret text NOT NULL,
    -- The seq of the last trade event of the account turned into deliveries.
    event_cursor bigint NOT NULL CHECK (event_cursor >= 0),
    cursor_moved_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz NULL
);

CREATE INDEX webhook_endpoints_account_idx ON webhook_endpoints (account_id, id) WHERE deleted_at IS NULL;
CREATE INDEX webhook_endpoints_live_idx ON webhook_endpoints (cursor_moved_at) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id),
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id),
    event_seq bigint NOT NULL CHECK (event_seq > 0),
    event text NOT NULL,
    -- The exact JSON every attempt sends (signed at send time).
    body text NOT NULL,
    -- Attempts made so far.
    attempt integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    response_status integer NULL,
    error text NULL,
    -- Pending: when it is due (or, while claimed, when the worker's lease ends).
    next_attempt_at timestamptz NULL,
    delivered_at timestamptz NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT webhook_deliveries_endpoint_event_key UNIQUE (endpoint_id, event_seq)
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (account_id, endpoint_id, id);
