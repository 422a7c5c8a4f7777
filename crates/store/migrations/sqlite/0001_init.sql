-- Gig'MCP core schema (SQLite dialect). Times are unix epoch milliseconds; flags are 0/1 integers.
-- Keep this file in step with migrations/postgres/0001_init.sql (same tables, columns and order).

CREATE TABLE users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    username    TEXT    NOT NULL UNIQUE,
    role        TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
    created_at  INTEGER NOT NULL
);

CREATE TABLE sessions (
    id_hash     BLOB    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE servers (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    source_kind     TEXT    NOT NULL,
    source_location TEXT    NOT NULL,
    manifest        TEXT,
    runtime_hash    TEXT,
    consented_hash  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE profiles (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    slug        TEXT    NOT NULL UNIQUE,
    owner_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    token_hash  BLOB    NOT NULL,
    meta_tools  INTEGER NOT NULL DEFAULT 0 CHECK (meta_tools IN (0, 1)),
    created_at  INTEGER NOT NULL
);
CREATE INDEX profiles_owner ON profiles (owner_id);

CREATE TABLE profile_servers (
    profile_id  INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    server_id   INTEGER NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (profile_id, server_id)
);
CREATE INDEX profile_servers_server ON profile_servers (server_id);

CREATE TABLE tool_selections (
    profile_id  INTEGER NOT NULL,
    server_id   INTEGER NOT NULL,
    tool_name   TEXT    NOT NULL,
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (profile_id, server_id, tool_name),
    FOREIGN KEY (profile_id, server_id)
        REFERENCES profile_servers (profile_id, server_id) ON DELETE CASCADE
);

CREATE TABLE credentials (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    server_id      INTEGER NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    credential_id  TEXT    NOT NULL,
    ciphertext     BLOB    NOT NULL,
    kek_id         TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (owner_id, server_id, credential_id)
);
CREATE INDEX credentials_kek ON credentials (kek_id, id);
CREATE INDEX credentials_server ON credentials (server_id);

CREATE TABLE oauth_connections (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    server_id      INTEGER NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    issuer         TEXT    NOT NULL,
    subject        TEXT,
    scopes         TEXT    NOT NULL,
    credential_id  TEXT    NOT NULL,
    expires_at     INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (owner_id, server_id)
);
CREATE INDEX oauth_connections_server ON oauth_connections (server_id);

CREATE TABLE auth_configs (
    server_id   INTEGER PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    config      TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
