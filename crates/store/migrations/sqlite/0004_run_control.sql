-- Run control (AutoMatrix), SQLite dialect. Mirrors migrations/postgres/0004_run_control.sql.
-- A re-run records the run it repeats; an attempt records the worker that ran it.

ALTER TABLE workflow_runs ADD COLUMN rerun_of BLOB;
CREATE INDEX idx_workflow_runs_rerun_of ON workflow_runs (org_id, rerun_of) WHERE rerun_of IS NOT NULL;
-- Listing by start time window (`since`/`until`).
CREATE INDEX idx_workflow_runs_created ON workflow_runs (org_id, created_at);

ALTER TABLE workflow_step_attempts ADD COLUMN worker TEXT;
