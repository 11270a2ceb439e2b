-- Inhibition rules: the definition is its protobuf encoding (`body`).
CREATE TABLE inhibition_rules (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Settings kept as one encoded document each, by name (`routing_defaults`).
CREATE TABLE documents (
    name TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
