-- Maintenance windows: the definition is its protobuf encoding (`body`).
CREATE TABLE maintenance_windows (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
