-- How users are reached. A method is verified by the code sent to it (kept hashed).
CREATE TABLE contact_methods (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    verified BOOLEAN NOT NULL,
    code_hash TEXT,
    code_sent BOOLEAN NOT NULL,
    code_detail TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, kind, address)
);
