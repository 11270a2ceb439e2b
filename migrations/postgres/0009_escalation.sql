-- Escalation policies: the definition is its protobuf encoding (`body`).
CREATE TABLE escalation_policies (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
-- One alert's walk through one policy; stored before any page of a step is sent.
CREATE TABLE escalation_chains (
    id UUID PRIMARY KEY,
    alert_id UUID NOT NULL,
    policy_id UUID NOT NULL,
    generation INTEGER NOT NULL,
    step INTEGER NOT NULL,
    repeat INTEGER NOT NULL,
    next_fire_at TIMESTAMPTZ,
    status TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    UNIQUE (alert_id, policy_id, generation)
);
CREATE INDEX escalation_chains_active ON escalation_chains(status, next_fire_at);
CREATE INDEX escalation_chains_alert ON escalation_chains(alert_id);
-- Every page, keyed so that one step never pages one target twice.
CREATE TABLE escalation_pages (
    id UUID PRIMARY KEY,
    chain_id UUID NOT NULL REFERENCES escalation_chains(id) ON DELETE CASCADE,
    alert_id UUID NOT NULL,
    generation INTEGER NOT NULL,
    policy_id UUID NOT NULL,
    step INTEGER NOT NULL,
    repeat INTEGER NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (alert_id, generation, policy_id, step, repeat, target)
);
CREATE INDEX escalation_pages_chain ON escalation_pages(chain_id, created_at);
CREATE INDEX escalation_pages_pending ON escalation_pages(outcome) WHERE outcome = 'pending';
