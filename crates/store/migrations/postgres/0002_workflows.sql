-- Workflow engine (AutoMatrix), PostgreSQL dialect. Mirrors migrations/sqlite/0002_workflows.sql.
-- Definitions are versioned; runs pin a version; step instances form the durable work queue
-- (claimed with `FOR UPDATE SKIP LOCKED`); attempts keep the history of each step.

-- The seed's head row gains the number of its latest version; names are unique per organization.
ALTER TABLE workflows ADD COLUMN latest_version INTEGER NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX idx_workflows_org_name ON workflows (org_id, name);

CREATE TABLE workflow_versions (
    workflow_id UUID NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id),
    definition JSONB NOT NULL,
    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE workflow_runs (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations (id),
    workflow_id UUID NOT NULL,
    version INTEGER NOT NULL,
    status VARCHAR(20) NOT NULL,
    inputs JSONB NOT NULL,
    output JSONB,
    error JSONB,
    priority INTEGER NOT NULL DEFAULT 0,
    concurrency_key TEXT,
    parent_run_id UUID,
    parent_step_key TEXT,
    correlation_id UUID NOT NULL,
    trigger VARCHAR(20) NOT NULL,
    created_by UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL,
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

CREATE TABLE workflow_steps (
    run_id UUID NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    step_key TEXT NOT NULL,
    -- Creation order (`list_steps`).
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    step_id TEXT NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id),
    status VARCHAR(20) NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    remaining INTEGER NOT NULL DEFAULT 0,
    input JSONB,
    output JSONB,
    error JSONB,
    priority INTEGER NOT NULL DEFAULT 0,
    ready_at TIMESTAMPTZ,
    wake_at TIMESTAMPTZ,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, step_key)
);
-- The queue: claims walk ready steps by priority then age; expired leases, due timers and the
-- next wake-up are range scans on small partial indexes.
CREATE INDEX idx_workflow_steps_claim ON workflow_steps (priority DESC, ready_at) WHERE status = 'ready';
CREATE INDEX idx_workflow_steps_ready_at ON workflow_steps (ready_at) WHERE status = 'ready';
CREATE INDEX idx_workflow_steps_lease ON workflow_steps (lease_expires_at) WHERE status = 'running';
CREATE INDEX idx_workflow_steps_wake ON workflow_steps (wake_at) WHERE status = 'waiting';

CREATE TABLE workflow_step_attempts (
    run_id UUID NOT NULL,
    step_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id),
    outcome VARCHAR(20) NOT NULL,
    error JSONB,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, step_key, attempt),
    FOREIGN KEY (run_id, step_key) REFERENCES workflow_steps (run_id, step_key) ON DELETE CASCADE
);
