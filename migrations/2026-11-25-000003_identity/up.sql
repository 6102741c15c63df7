-- Identity: TOTP secrets (sealed with AES-256-GCM by the application; never plaintext) with
-- the last time step used (a code works once), and API keys.

ALTER TABLE users
    ADD COLUMN totp_secret text NULL,
    ADD COLUMN totp_last_step bigint NULL,
    ADD CONSTRAINT users_totp_enabled_has_secret CHECK (NOT totp_enabled OR totp_secret IS NOT NULL);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id),
    account_id uuid NOT NULL REFERENCES accounts (id),
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- The public id programs send in X-Api-Key.
    key_id text NOT NULL UNIQUE,
    -- "<key id>:<base64(nonce || ciphertext)>", sealed by the application.
    sealed_secret text NOT NULL,
    scopes text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'trade', 'funds']),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz NULL
);

CREATE INDEX api_keys_user_idx ON api_keys (user_id, id);
