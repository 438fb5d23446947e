-- Workflow triggers, SQLite dialect. Mirrors migrations/postgres/0005_triggers.sql.
-- One row per trigger declared by a workflow's latest version; receipts make each delivery
-- (signed webhook request, cron tick, event) start at most one run.

CREATE TABLE workflow_triggers (
    workflow_id BLOB NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    trigger_id TEXT NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    config TEXT NOT NULL,
    hook_id BLOB,
    secret_encrypted TEXT,
    next_fire_at TEXT,
    last_fired_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (workflow_id, trigger_id)
);
CREATE UNIQUE INDEX idx_workflow_triggers_hook ON workflow_triggers (hook_id) WHERE hook_id IS NOT NULL;
-- The cron scheduler scans due ticks; event delivery looks triggers up by kind.
CREATE INDEX idx_workflow_triggers_next_fire ON workflow_triggers (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX idx_workflow_triggers_kind ON workflow_triggers (kind, org_id);

CREATE TABLE workflow_trigger_receipts (
    workflow_id BLOB NOT NULL,
    trigger_id TEXT NOT NULL,
    receipt_key TEXT NOT NULL,
    run_id BLOB NOT NULL,
    expires_at TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (workflow_id, trigger_id, receipt_key)
) WITHOUT ROWID;
CREATE INDEX idx_workflow_trigger_receipts_expiry ON workflow_trigger_receipts (expires_at)
    WHERE expires_at IS NOT NULL;

-- Flow control: pending runs of a workflow, in admission order (priority, then age).
CREATE INDEX idx_workflow_runs_pending ON workflow_runs (workflow_id, priority DESC, id) WHERE status = 'pending';
