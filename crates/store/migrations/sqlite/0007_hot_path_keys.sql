-- The engine's hot path (sqlite dialect). PostgreSQL's 0007_hot_path_keys.sql drops the
-- `org_id` foreign keys of step and attempt rows, whose checks lock the organization row there;
-- SQLite's checks take no row locks, so its schema keeps them and this migration changes nothing.
SELECT 1;
