# Snapshots as arguments or as options, not both.
blocksnap diff snap-0123456789abcdef0 --second-snapshot-id snap-1123456789abcdef0
