-- Workflow variables (postgres dialect; mirrors the other folder's 0008_variables.sql): plain,
-- non-secret values an organization's workflows read as `env.<name>`.

CREATE TABLE workflow_variables (
    id UUID PRIMARY KEY NOT NULL,
    org_id UUID NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    value JSONB NOT NULL,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX idx_workflow_variables_org_name ON workflow_variables (org_id, name);
