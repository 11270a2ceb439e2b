-- Maintenance windows: the definition is its protobuf encoding (`body`).
CREATE TABLE maintenance_windows (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
