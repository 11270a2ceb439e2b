-- Core engine: services, integration keys, users, API tokens, alerts and their timeline.
-- Ids are UUID blobs; times are RFC 3339 text (sqlx's encoding, which sorts in time order);
-- labels and annotations are JSON text.

CREATE TABLE services (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE integration_keys (
    id BLOB PRIMARY KEY,
    service_id BLOB NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE INDEX integration_keys_service ON integration_keys(service_id);

CREATE TABLE users (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    timezone TEXT NOT NULL DEFAULT 'UTC',
    created_at TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE alerts (
    id BLOB PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    service_id BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    summary TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '',
    severity TEXT NOT NULL,
    source TEXT NOT NULL,
    source_instance TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '{}',
    annotations TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    triggered_at TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    resolved_at TEXT,
    resolved_by TEXT,
    resolution_note TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    occurrence_count INTEGER NOT NULL DEFAULT 1,
    previous_alert_id BLOB
);
-- At most one open alert per dedup key: the store enforces what the engine decides.
CREATE UNIQUE INDEX alerts_open_key ON alerts(service_id, fingerprint) WHERE status <> 'resolved';
CREATE INDEX alerts_key ON alerts(service_id, fingerprint, resolved_at);
CREATE INDEX alerts_status ON alerts(status);
CREATE INDEX alerts_triggered ON alerts(triggered_at);

CREATE TABLE alert_events (
    id BLOB PRIMARY KEY,
    alert_id BLOB NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events(alert_id, created_at);
