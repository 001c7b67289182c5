# An empty --path is a bad option value, refused before the store is opened.
blocksnap create-volume --snapshot-id snap-0123456789abcdef0 --path ""
