-- A due entry that can no longer be published has its schedule cancelled by
-- the scheduler, recorded as an 'unschedule' revision.
ALTER TABLE revisions DROP CONSTRAINT revisions_action_check;
ALTER TABLE revisions ADD CONSTRAINT revisions_action_check
    CHECK (action IN ('create', 'update', 'publish', 'schedule', 'unschedule', 'unpublish', 'delete'));
