-- What holds a suppressed alert (`window:<id>`), so it can release the alert.
ALTER TABLE alerts ADD COLUMN suppressed_by TEXT;
CREATE INDEX alerts_suppressed_by ON alerts(suppressed_by) WHERE suppressed_by IS NOT NULL;
