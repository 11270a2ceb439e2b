-- Inhibition rules: the definition is its protobuf encoding (`body`).
CREATE TABLE inhibition_rules (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
-- Settings kept as one encoded document each, by name (`routing_defaults`).
CREATE TABLE documents (
    name TEXT PRIMARY KEY,
    body BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
