# An unknown verb is a usage error (exit 2).
blocksnap frobnicate --snapshot-id snap-0123456789abcdef0
