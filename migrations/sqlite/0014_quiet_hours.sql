-- Quiet hours: a user's daily window (HH:MM, in their time zone) when below-critical
-- messages wait.
ALTER TABLE users ADD COLUMN quiet_start TEXT;
ALTER TABLE users ADD COLUMN quiet_end TEXT;
