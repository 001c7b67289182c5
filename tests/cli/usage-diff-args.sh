# diff takes at most two snapshots.
blocksnap diff snap-0123456789abcdef0 snap-1123456789abcdef0 snap-2123456789abcdef0
