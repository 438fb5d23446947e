-- Workflow triggers, PostgreSQL dialect. Mirrors migrations/sqlite/0005_triggers.sql.
-- One row per trigger declared by a workflow's latest version; receipts make each delivery
-- (signed webhook request, cron tick, event) start at most one run.

CREATE TABLE workflow_triggers (
    workflow_id UUID NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    trigger_id TEXT NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id),
    kind VARCHAR(20) NOT NULL,
    version INTEGER NOT NULL,
    config JSONB NOT NULL,
    hook_id UUID,
    secret_encrypted TEXT,
    next_fire_at TIMESTAMPTZ,
    last_fired_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, trigger_id)
);
CREATE UNIQUE INDEX idx_workflow_triggers_hook ON workflow_triggers (hook_id) WHERE hook_id IS NOT NULL;
-- The cron scheduler scans due ticks; event delivery looks triggers up by kind.
CREATE INDEX idx_workflow_triggers_next_fire ON workflow_triggers (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX idx_workflow_triggers_kind ON workflow_triggers (kind, org_id);

CREATE TABLE workflow_trigger_receipts (
    workflow_id UUID NOT NULL,
    trigger_id TEXT NOT NULL,
    receipt_key TEXT NOT NULL,
    run_id UUID NOT NULL,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, trigger_id, receipt_key)
);
CREATE INDEX idx_workflow_trigger_receipts_expiry ON workflow_trigger_receipts (expires_at)
    WHERE expires_at IS NOT NULL;

-- Flow control: pending runs of a workflow, in admission order (priority, then age).
CREATE INDEX idx_workflow_runs_pending ON workflow_runs (workflow_id, priority DESC, id) WHERE status = 'pending';
