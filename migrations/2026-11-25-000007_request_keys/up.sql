-- What each Idempotency-Key of an account created (keys are per route, as in Redis: the key
-- is stored as '<path> <Idempotency-Key>'), written in the same transaction as the
-- order or cash movement. The Redis idempotency record replays answers; this index is what
-- makes a request retried after a crash (committed here, answer never recorded there) find
-- its first effect instead of making a second one. Kept as long as the account.
CREATE TABLE request_keys (
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    key         text        NOT NULL CHECK (length(key) BETWEEN 1 AND 512), -- '<path> <Idempotency-Key>'
    order_id    uuid        REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    activity_id uuid        REFERENCES activities (id) DEFERRABLE INITIALLY DEFERRED,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, key),
    CONSTRAINT request_keys_one_target CHECK ((order_id IS NULL) <> (activity_id IS NULL))
);
