# A mistyped option is a usage error (exit 2) naming the closest options of
# the verb (or the global ones); nothing is suggested when nothing is close.
blocksnap describe-snapshots --snapshot-idd snap-0123456789abcdef0
blocksnap delete-snapshot --snapshot-di snap-0123456789abcdef0
blocksnap describe-snapshots --outptu json
blocksnap --regoin us-east-1 describe-snapshots
blocksnap describe-snapshots --zzzzzzzzzz
