-- The engine's hot path (postgres dialect; the other folder's 0007_hot_path_keys.sql is empty).
-- A foreign-key check takes a KEY SHARE lock on the row it references. `org_id` on step and
-- attempt rows copies their run's organization (the store writes it from the run, and the run
-- row keeps its own key to `organizations`), so these two keys only made every step insert lock
-- the one organization row — across concurrent transactions a multixact per row — for nothing
-- the run's key does not already enforce. SQLite's checks take no row locks; it keeps them.
ALTER TABLE workflow_steps DROP CONSTRAINT workflow_steps_org_id_fkey;
ALTER TABLE workflow_step_attempts DROP CONSTRAINT workflow_step_attempts_org_id_fkey;
