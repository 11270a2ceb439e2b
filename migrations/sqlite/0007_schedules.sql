-- Schedules (with their rotations and overrides) and teams (with their members): the
-- definition is its protobuf encoding (`body`).
CREATE TABLE schedules (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE teams (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Handoffs the schedule actors met, and what was sent about each (`handoff_events`).
CREATE TABLE handoffs (
    id BLOB PRIMARY KEY,
    schedule_id BLOB NOT NULL,
    rotation_id BLOB NOT NULL,
    level INTEGER NOT NULL,
    at TEXT NOT NULL,
    outgoing_user_id BLOB NOT NULL,
    incoming_user_id BLOB NOT NULL,
    require_ack INTEGER NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    escalated_at TEXT,
    UNIQUE (schedule_id, rotation_id, at)
);
CREATE INDEX handoffs_schedule ON handoffs(schedule_id, at);
CREATE TABLE handoff_events (
    id BLOB PRIMARY KEY,
    handoff_id BLOB NOT NULL REFERENCES handoffs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX handoff_events_handoff ON handoff_events(handoff_id, at);
