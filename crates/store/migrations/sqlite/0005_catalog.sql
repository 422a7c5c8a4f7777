-- Installing from the signed registry index.
-- Keep this file in step with migrations/postgres/0005_catalog.sql.

-- The last index this gateway accepted (signature verified, not older than the one before):
-- its exact bytes and signature, served as the catalogue through outages and restarts.
-- One row (id 1). `checked_at` / `last_error`: the latest refresh attempt, whatever its outcome.
CREATE TABLE registry_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    url          TEXT    NOT NULL,
    index_bytes  BLOB    NOT NULL,
    signature    TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    sequence     INTEGER NOT NULL,
    accepted_at  INTEGER NOT NULL,
    checked_at   INTEGER NOT NULL,
    last_error   TEXT
);

-- Where a server came from ('local': added by hand; 'registry': installed from the index), the
-- index version it runs, and who consented to its runtime hash, when.
ALTER TABLE servers ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';
ALTER TABLE servers ADD COLUMN version TEXT;
ALTER TABLE servers ADD COLUMN consented_by TEXT;
ALTER TABLE servers ADD COLUMN consented_at INTEGER;

-- Every consent given (install, update): the consent document as shown, kept after uninstall
-- like the audit log (no foreign key).
CREATE TABLE consents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    server_name   TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    runtime_hash  TEXT    NOT NULL,
    decision      TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    document      TEXT    NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX consents_server ON consents (server_name, at);
