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
-- Handoffs the schedule actors met, with what was sent about them (`events`).
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
    events TEXT NOT NULL DEFAULT '[]',
    UNIQUE (schedule_id, rotation_id, at)
);
CREATE INDEX handoffs_schedule ON handoffs(schedule_id, at);
