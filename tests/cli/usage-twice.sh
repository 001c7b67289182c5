# A single-valued option given twice.
blocksnap delete-snapshot --snapshot-id snap-0123456789abcdef0 --snapshot-id=snap-1123456789abcdef0
