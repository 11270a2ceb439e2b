-- Reference data for enrichment: sites (named by code), customer tiers, equipment types
-- and carriers. Each definition is its protobuf encoding (`body`).
CREATE TABLE sites (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE customer_tiers (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE equipment_types (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE carriers (
    id BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
