-- `keel import` records each entry it brings in as an 'import' revision.
ALTER TABLE revisions DROP CONSTRAINT revisions_action_check;
ALTER TABLE revisions ADD CONSTRAINT revisions_action_check
    CHECK (action IN ('create', 'import', 'update', 'publish', 'schedule', 'unschedule', 'unpublish', 'delete'));
