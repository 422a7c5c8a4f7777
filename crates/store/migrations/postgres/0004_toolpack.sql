-- Toolpack servers and per-owner install settings.
-- Keep this file in step with migrations/sqlite/0004_toolpack.sql.

-- The toolspec (JSON text) a built-in toolpack server (source_kind 'toolpack') is served from,
-- or the one an image-based toolpack server bakes; NULL for every other server.
ALTER TABLE servers ADD COLUMN toolspec TEXT;

-- What the owner of a profile set up for a server: host overrides (key `host:<from>`, value the
-- tenant host) and install variables (key `var:<name>`). Not secrets: those are credentials.
CREATE TABLE install_settings (
    server_id   BIGINT  NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    owner_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (server_id, owner_id, key)
);
CREATE INDEX install_settings_owner ON install_settings (owner_id);
