-- Reference data for enrichment: sites (named by code), customer tiers, equipment types
-- and carriers. Each definition is its protobuf encoding (`body`).
CREATE TABLE sites (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE customer_tiers (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE equipment_types (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE carriers (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
