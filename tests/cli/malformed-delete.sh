# delete-snapshot of something that is not a snapshot id.
blocksnap delete-snapshot --snapshot-id vol-0123456789abcdef0
