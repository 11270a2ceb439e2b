-- Schedules (with their rotations and overrides) and teams (with their members): the
-- definition is its protobuf encoding (`body`).
CREATE TABLE schedules (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE teams (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
-- Handoffs the schedule actors met, and what was sent about each (`handoff_events`).
CREATE TABLE handoffs (
    id UUID PRIMARY KEY,
    schedule_id UUID NOT NULL,
    rotation_id UUID NOT NULL,
    level INTEGER NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    outgoing_user_id UUID NOT NULL,
    incoming_user_id UUID NOT NULL,
    require_ack BOOLEAN NOT NULL,
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by TEXT,
    escalated_at TIMESTAMPTZ,
    UNIQUE (schedule_id, rotation_id, at)
);
CREATE INDEX handoffs_schedule ON handoffs(schedule_id, at);
CREATE TABLE handoff_events (
    id UUID PRIMARY KEY,
    handoff_id UUID NOT NULL REFERENCES handoffs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX handoff_events_handoff ON handoff_events(handoff_id, at);
