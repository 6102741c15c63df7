DROP TABLE api_keys;
ALTER TABLE users
    DROP CONSTRAINT users_totp_enabled_has_secret,
    DROP COLUMN totp_last_step,
    DROP COLUMN totp_secret;
