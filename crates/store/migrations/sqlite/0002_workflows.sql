-- Workflow engine (AutoMatrix), SQLite dialect. Mirrors migrations/postgres/0002_workflows.sql.
-- Definitions are versioned; runs pin a version; step instances form the durable work queue
-- (claimed under SQLite's single writer); attempts keep the history of each step.

-- The seed's head row gains the number of its latest version; names are unique per organization.
ALTER TABLE workflows ADD COLUMN latest_version INTEGER NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX idx_workflows_org_name ON workflows (org_id, name);

CREATE TABLE workflow_versions (
    workflow_id BLOB NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    definition TEXT NOT NULL,
    created_by BLOB NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE workflow_runs (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    workflow_id BLOB NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    inputs TEXT NOT NULL,
    output TEXT,
    error TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    concurrency_key TEXT,
    parent_run_id BLOB,
    parent_step_key TEXT,
    correlation_id BLOB NOT NULL,
    trigger TEXT NOT NULL,
    created_by BLOB NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT,
    updated_at TEXT NOT NULL,
    FOREIGN KEY (workflow_id, version) REFERENCES workflow_versions (workflow_id, version)
);
-- Listing newest first, per organization, per workflow, per status.
CREATE INDEX idx_workflow_runs_org ON workflow_runs (org_id, id);
CREATE INDEX idx_workflow_runs_workflow ON workflow_runs (org_id, workflow_id, id);
CREATE INDEX idx_workflow_runs_status ON workflow_runs (org_id, status, id);
CREATE INDEX idx_workflow_runs_parent ON workflow_runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
-- Flow control: active (non-terminal) runs per workflow and per concurrency key.
CREATE INDEX idx_workflow_runs_active ON workflow_runs (org_id, workflow_id, concurrency_key)
    WHERE status NOT IN ('completed', 'failed', 'cancelled');
CREATE INDEX idx_workflow_runs_active_key ON workflow_runs (org_id, concurrency_key)
    WHERE status NOT IN ('completed', 'failed', 'cancelled');

-- `seq` is the rowid (creation order, stable across VACUUM); `(run_id, step_key)` is the key the
-- store addresses steps by, as PostgreSQL's primary key.
CREATE TABLE workflow_steps (
    seq INTEGER PRIMARY KEY,
    run_id BLOB NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    step_id TEXT NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    remaining INTEGER NOT NULL DEFAULT 0,
    input TEXT,
    output TEXT,
    error TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    ready_at TEXT,
    wake_at TEXT,
    lease_owner TEXT,
    lease_expires_at TEXT,
    started_at TEXT,
    completed_at TEXT,
    updated_at TEXT NOT NULL,
    CONSTRAINT workflow_steps_run_step_key UNIQUE (run_id, step_key)
);
-- The queue: claims walk ready steps by priority then age; expired leases, due timers and the
-- next wake-up are range scans on small partial indexes.
CREATE INDEX idx_workflow_steps_claim ON workflow_steps (priority DESC, ready_at) WHERE status = 'ready';
CREATE INDEX idx_workflow_steps_ready_at ON workflow_steps (ready_at) WHERE status = 'ready';
CREATE INDEX idx_workflow_steps_lease ON workflow_steps (lease_expires_at) WHERE status = 'running';
CREATE INDEX idx_workflow_steps_wake ON workflow_steps (wake_at) WHERE status = 'waiting';

CREATE TABLE workflow_step_attempts (
    run_id BLOB NOT NULL,
    step_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    outcome TEXT NOT NULL,
    error TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, step_key, attempt),
    FOREIGN KEY (run_id, step_key) REFERENCES workflow_steps (run_id, step_key) ON DELETE CASCADE
) WITHOUT ROWID;
