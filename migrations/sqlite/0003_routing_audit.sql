-- When routing has acted on an alert. NULL on an open alert means routing still owes it
-- a decision (the server stopped in between): it is routed on the next start.
ALTER TABLE alerts ADD COLUMN routed_at TEXT;

-- One entry per routing decision: the full explanation (protobuf, `body`) and the rules
-- that matched (for "by rule" queries).
CREATE TABLE routing_audit_logs (
    id BLOB PRIMARY KEY,
    alert_id BLOB NOT NULL,
    matched_rule_ids TEXT NOT NULL DEFAULT '',
    body BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX routing_audit_logs_alert ON routing_audit_logs(alert_id, created_at);
CREATE INDEX routing_audit_logs_time ON routing_audit_logs(created_at);
