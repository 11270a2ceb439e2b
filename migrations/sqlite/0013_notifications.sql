-- Message templates: every version is kept; an update adds a row, a delete marks them all.
CREATE TABLE notification_templates (
    id BLOB NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (id, version)
);

-- One message to one destination, and what became of it.
CREATE TABLE deliveries (
    id BLOB PRIMARY KEY,
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    user_id BLOB,
    alert_id BLOB,
    template_id BLOB,
    template_version INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    merged_into BLOB,
    message BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- A request id names one message per destination: a repeat finds the first.
CREATE UNIQUE INDEX deliveries_request ON deliveries (request_id, channel, address)
    WHERE request_id <> '';
CREATE INDEX deliveries_alert ON deliveries (alert_id) WHERE alert_id IS NOT NULL;
CREATE INDEX deliveries_unfinished ON deliveries (state) WHERE state IN ('pending', 'retrying');

-- Every attempt to send a delivery.
CREATE TABLE delivery_attempts (
    delivery_id BLOB NOT NULL,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    error TEXT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
