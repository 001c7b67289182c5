# delete-snapshot needs --snapshot-id.
blocksnap delete-snapshot
