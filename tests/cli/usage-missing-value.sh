# An option that takes a value, given none.
blocksnap delete-snapshot --snapshot-id
