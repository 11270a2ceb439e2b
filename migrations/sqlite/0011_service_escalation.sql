-- A service's escalation defaults: its policy, the acknowledgement timeout and auto-resolve.
ALTER TABLE services ADD COLUMN escalation_policy_id BLOB;
ALTER TABLE services ADD COLUMN ack_timeout_ms INTEGER;
ALTER TABLE services ADD COLUMN auto_resolve_after_ms INTEGER;
