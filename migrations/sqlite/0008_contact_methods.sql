-- How users are reached. A method is verified by the code sent to it (kept hashed).
CREATE TABLE contact_methods (
    id BLOB PRIMARY KEY,
    user_id BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    verified INTEGER NOT NULL,
    code_hash TEXT,
    code_sent INTEGER NOT NULL,
    code_detail TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (user_id, kind, address)
);
