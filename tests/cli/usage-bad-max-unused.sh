# gc --max-unused takes a percentage from 0 to 100 (a trailing % is allowed);
# a bad one is a usage error before the store is touched.
blocksnap gc --max-unused 101
blocksnap gc --max-unused 5%% || true
blocksnap gc --max-unused 10% --quiet >/dev/null && echo "10% accepted"
