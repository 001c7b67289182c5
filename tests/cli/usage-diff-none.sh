# diff needs a snapshot.
blocksnap diff
