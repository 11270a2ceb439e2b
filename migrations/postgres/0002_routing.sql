-- Routing rules. The rule's full definition is its protobuf encoding (`body`); the
-- columns beside it are what listings filter and sort on.
CREATE TABLE routing_rules (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    enabled BOOLEAN NOT NULL,
    tags JSONB NOT NULL DEFAULT '[]',
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX routing_rules_priority ON routing_rules(priority, name);
