-- Workflow variables (sqlite dialect; mirrors the other folder's 0008_variables.sql): plain,
-- non-secret values an organization's workflows read as `env.<name>`.

CREATE TABLE workflow_variables (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    -- JSON text
    value TEXT NOT NULL,
    created_by BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX idx_workflow_variables_org_name ON workflow_variables (org_id, name);
