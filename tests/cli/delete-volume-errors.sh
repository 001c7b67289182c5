# delete-volume: a malformed id, an unknown volume (nothing changes), and the
# required flag missing.
blocksnap delete-volume --volume-id volume-1 || echo "exit $?"
blocksnap delete-volume --volume-id vol-0123456789abcdef0 || echo "exit $?"
blocksnap describe-volumes
blocksnap delete-volume || echo "exit $?"
