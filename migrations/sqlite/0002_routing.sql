-- Routing rules. The rule's full definition is its protobuf encoding (`body`); the
-- columns beside it are what listings filter and sort on.
CREATE TABLE routing_rules (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX routing_rules_priority ON routing_rules(priority, name);
