-- Auterity schema, SQLite dialect. Mirrors migrations/postgres/0001_init.sql table for table.
-- Encodings are sqlx's: UUID as 16-byte BLOB, timestamps as RFC 3339 TEXT in UTC, JSON (and the
-- seed's TEXT[] arrays) as JSON TEXT, booleans as INTEGER 0/1.

CREATE TABLE organizations (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL,
    -- Lowercased (Unicode, by the store) copies carry the case-insensitive uniqueness.
    email_lower TEXT NOT NULL,
    username TEXT NOT NULL,
    username_lower TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    roles TEXT NOT NULL DEFAULT '[]',
    mfa_secret TEXT,
    mfa_enabled BOOLEAN NOT NULL DEFAULT 0,
    recovery_code_hashes TEXT NOT NULL DEFAULT '[]',
    tokens_valid_after TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE UNIQUE INDEX idx_users_email ON users (email_lower);
CREATE UNIQUE INDEX idx_users_username ON users (username_lower);
CREATE INDEX idx_users_org ON users (org_id, id);

CREATE TABLE user_system_access (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    system_name TEXT NOT NULL CHECK (system_name IN ('autmatrix', 'relaycore', 'neuroweaver')),
    access_level TEXT NOT NULL CHECK (access_level IN ('read', 'write', 'admin')),
    resources TEXT NOT NULL DEFAULT '[]',
    granted_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    granted_by BLOB REFERENCES users (id),
    CONSTRAINT user_system_access_user_system_key UNIQUE (user_id, system_name)
);

CREATE TABLE teams (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT teams_org_name_key UNIQUE (org_id, name)
);

CREATE TABLE team_members (
    team_id BLOB NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX idx_team_members_user ON team_members (user_id);

CREATE TABLE workflows (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    description TEXT,
    user_id BLOB NOT NULL REFERENCES users (id),
    definition TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX idx_workflows_user_id ON workflows (user_id);
CREATE INDEX idx_workflows_active ON workflows (is_active) WHERE is_active = 1;
CREATE INDEX idx_workflows_org ON workflows (org_id, id);

CREATE TABLE ai_providers (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    endpoint_url TEXT,
    api_key_encrypted TEXT,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    cost_per_token NUMERIC,
    rate_limit_rpm INTEGER,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX idx_ai_providers_org ON ai_providers (org_id, id);

CREATE TABLE ml_models (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    model_type TEXT NOT NULL,
    version TEXT NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id),
    training_data_path TEXT,
    model_path TEXT,
    performance_metrics TEXT,
    is_deployed BOOLEAN NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    CONSTRAINT ml_models_org_name_version_key UNIQUE (org_id, name, version)
);

CREATE TABLE unified_executions (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    execution_type TEXT NOT NULL,
    source_system TEXT NOT NULL,
    source_id BLOB NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id),
    status TEXT NOT NULL,
    started_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    completed_at TEXT,
    error_message TEXT,
    metadata TEXT
);
CREATE INDEX idx_executions_user_system ON unified_executions (user_id, source_system);
CREATE INDEX idx_executions_status ON unified_executions (status);
CREATE INDEX idx_executions_org ON unified_executions (org_id, id);

CREATE TABLE error_correlations (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    correlation_pattern TEXT NOT NULL,
    root_cause TEXT NOT NULL,
    affected_systems TEXT NOT NULL,
    error_ids TEXT NOT NULL,
    confidence NUMERIC NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    resolved_at TEXT,
    recovery_actions TEXT
);
CREATE INDEX idx_error_correlations_created ON error_correlations (created_at);
CREATE INDEX idx_error_correlations_org ON error_correlations (org_id, created_at);

CREATE TABLE refresh_tokens (
    id BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    family_id BLOB NOT NULL,
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    revoked_at TEXT,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX idx_refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE revoked_tokens (
    jti BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL
);
CREATE INDEX idx_revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE api_keys (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    systems TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    expires_at TEXT,
    last_used_at TEXT,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
CREATE INDEX idx_api_keys_org ON api_keys (org_id, id);
CREATE INDEX idx_api_keys_user ON api_keys (user_id, id);

CREATE TABLE audit_log (
    id BLOB PRIMARY KEY NOT NULL,
    -- NULL for platform-level entries (e.g. a failed login for an unknown account).
    org_id BLOB REFERENCES organizations (id),
    actor_id BLOB,
    action TEXT NOT NULL,
    target TEXT,
    ip TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX idx_audit_log_org_id ON audit_log (org_id, id);
CREATE INDEX idx_audit_log_org_created ON audit_log (org_id, created_at);
CREATE INDEX idx_audit_log_org_action ON audit_log (org_id, action, id);

CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BLOB NOT NULL,
    event_type TEXT NOT NULL,
    source_service TEXT NOT NULL,
    correlation_id BLOB NOT NULL,
    causation_id BLOB,
    -- No foreign key: the outbox records what happened, whatever becomes of the organization.
    org_id BLOB,
    -- The whole event as CloudEvents 1.0 structured JSON; the columns above are for querying.
    cloudevent TEXT NOT NULL,
    -- The event's own `timestamp`.
    created_at TEXT NOT NULL,
    published_at TEXT,
    CONSTRAINT outbox_event_id_key UNIQUE (event_id)
);
CREATE INDEX idx_outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX idx_outbox_correlation ON outbox (correlation_id, seq);
