-- Which alerts routing has finished with, kept apart from the alert rows: marking an alert
-- routed appends a small row here instead of rewriting the whole alert row a second time
-- (a quarter of a storm's ingest rate went to that second write). An open alert without a
-- row is routed on the next start.
CREATE TABLE routed_alerts (
    alert_id BLOB PRIMARY KEY,
    routed_at TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO routed_alerts (alert_id, routed_at)
    SELECT id, routed_at FROM alerts WHERE routed_at IS NOT NULL;
ALTER TABLE alerts DROP COLUMN routed_at;
