-- Outbound safety (sqlite dialect; mirrors the other folder's 0006_outbound.sql): encrypted
-- per-organization workflow secrets, and each organization's egress choice.

CREATE TABLE workflow_secrets (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    -- base64(nonce || AES-256-GCM ciphertext || tag); never the plaintext
    value_encrypted TEXT NOT NULL,
    created_by BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX idx_workflow_secrets_org_name ON workflow_secrets (org_id, name);

CREATE TABLE org_egress_settings (
    org_id BLOB PRIMARY KEY NOT NULL REFERENCES organizations (id),
    -- NULL: follow egress.deny_private from the configuration
    deny_private BOOLEAN,
    updated_at TEXT NOT NULL
);
