-- Auterity schema, PostgreSQL dialect. Mirrors migrations/sqlite/0001_init.sql table for table.
-- Tables are created in the first schema of `search_path` (a per-test schema in tests).

CREATE TABLE organizations (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations (id),
    email VARCHAR(255) NOT NULL,
    -- Lowercased (Unicode, by the store) copies carry the case-insensitive uniqueness.
    email_lower VARCHAR(255) NOT NULL,
    username VARCHAR(100) NOT NULL,
    username_lower VARCHAR(100) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT true,
    roles JSONB NOT NULL DEFAULT '[]',
    mfa_secret TEXT,
    mfa_enabled BOOLEAN NOT NULL DEFAULT false,
    recovery_code_hashes JSONB NOT NULL DEFAULT '[]',
    tokens_valid_after TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_users_email ON users (email_lower);
CREATE UNIQUE INDEX idx_users_username ON users (username_lower);
CREATE INDEX idx_users_org ON users (org_id, id);

CREATE TABLE user_system_access (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    system_name VARCHAR(50) NOT NULL CHECK (system_name IN ('autmatrix', 'relaycore', 'neuroweaver')),
    access_level VARCHAR(20) NOT NULL CHECK (access_level IN ('read', 'write', 'admin')),
    resources JSONB NOT NULL DEFAULT '[]',
    granted_at TIMESTAMPTZ DEFAULT now(),
    granted_by UUID REFERENCES users (id),
    CONSTRAINT user_system_access_user_system_key UNIQUE (user_id, system_name)
);

CREATE TABLE teams (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT teams_org_name_key UNIQUE (org_id, name)
);

CREATE TABLE team_members (
    team_id UUID NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX idx_team_members_user ON team_members (user_id);

CREATE TABLE workflows (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations (id),
    name VARCHAR(255) NOT NULL,
    description TEXT,
    user_id UUID NOT NULL REFERENCES users (id),
    definition JSONB NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_workflows_user_id ON workflows (user_id);
CREATE INDEX idx_workflows_active ON workflows (is_active) WHERE is_active = true;
CREATE INDEX idx_workflows_org ON workflows (org_id, id);

CREATE TABLE ai_providers (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations (id),
    name VARCHAR(100) NOT NULL,
    provider_type VARCHAR(50) NOT NULL,
    endpoint_url VARCHAR(500),
    api_key_encrypted TEXT,
    is_active BOOLEAN NOT NULL DEFAULT true,
    cost_per_token NUMERIC(10, 8),
    rate_limit_rpm INTEGER,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_ai_providers_org ON ai_providers (org_id, id);

CREATE TABLE ml_models (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations (id),
    name VARCHAR(255) NOT NULL,
    model_type VARCHAR(100) NOT NULL,
    version VARCHAR(50) NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id),
    training_data_path TEXT,
    model_path TEXT,
    performance_metrics JSONB,
    is_deployed BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ml_models_org_name_version_key UNIQUE (org_id, name, version)
);

CREATE TABLE unified_executions (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations (id),
    execution_type VARCHAR(50) NOT NULL,
    source_system VARCHAR(50) NOT NULL,
    source_id UUID NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id),
    status VARCHAR(50) NOT NULL,
    started_at TIMESTAMPTZ DEFAULT now(),
    completed_at TIMESTAMPTZ,
    error_message TEXT,
    metadata JSONB
);
CREATE INDEX idx_executions_user_system ON unified_executions (user_id, source_system);
CREATE INDEX idx_executions_status ON unified_executions (status);
CREATE INDEX idx_executions_org ON unified_executions (org_id, id);

CREATE TABLE error_correlations (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations (id),
    correlation_pattern VARCHAR(100) NOT NULL,
    root_cause TEXT NOT NULL,
    affected_systems TEXT[] NOT NULL,
    error_ids TEXT[] NOT NULL,
    confidence NUMERIC(3, 2) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ,
    recovery_actions TEXT[]
);
CREATE INDEX idx_error_correlations_created ON error_correlations (created_at);
CREATE INDEX idx_error_correlations_org ON error_correlations (org_id, created_at);

CREATE TABLE refresh_tokens (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id UUID NOT NULL REFERENCES organizations (id),
    family_id UUID NOT NULL,
    token_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX idx_refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE revoked_tokens (
    jti UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE api_keys (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES organizations (id),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    systems JSONB NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
CREATE INDEX idx_api_keys_org ON api_keys (org_id, id);
CREATE INDEX idx_api_keys_user ON api_keys (user_id, id);

CREATE TABLE audit_log (
    id UUID PRIMARY KEY,
    -- NULL for platform-level entries (e.g. a failed login for an unknown account).
    org_id UUID REFERENCES organizations (id),
    actor_id UUID,
    action TEXT NOT NULL,
    target TEXT,
    ip TEXT,
    details JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_audit_log_org_id ON audit_log (org_id, id);
CREATE INDEX idx_audit_log_org_created ON audit_log (org_id, created_at);
CREATE INDEX idx_audit_log_org_action ON audit_log (org_id, action, id);

CREATE TABLE outbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    source_service TEXT NOT NULL,
    correlation_id UUID NOT NULL,
    causation_id UUID,
    -- No foreign key: the outbox records what happened, whatever becomes of the organization.
    org_id UUID,
    -- The whole event as CloudEvents 1.0 structured JSON; the columns above are for querying.
    cloudevent JSONB NOT NULL,
    -- The event's own `timestamp`.
    created_at TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ,
    CONSTRAINT outbox_event_id_key UNIQUE (event_id)
);
CREATE INDEX idx_outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX idx_outbox_correlation ON outbox (correlation_id, seq);
