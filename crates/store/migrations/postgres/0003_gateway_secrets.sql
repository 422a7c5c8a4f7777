-- Gateway-wide secrets (e.g. the egress CA), sealed by the vault like credentials: the name is
-- bound into the ciphertext's associated data; `version` is the rotation's compare-and-swap token.
-- Keep this file in step with migrations/sqlite/0003_gateway_secrets.sql.

CREATE TABLE gateway_secrets (
    name        TEXT    NOT NULL PRIMARY KEY,
    ciphertext  BYTEA   NOT NULL,
    kek_id      TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE INDEX gateway_secrets_kek ON gateway_secrets (kek_id, name);
