# --query: a syntax error names the character; a piece outside the
# JMESPath subset is named, with jq as the way; both before anything runs.
blocksnap describe-snapshots --query 'Snapshots[?State=`x`]' || echo "exit $?"
blocksnap describe-snapshots --query 'Snapshots[].' || echo "exit $?"
blocksnap describe-snapshots --query 'map(&SnapshotId, Snapshots)' || echo "exit $?"
blocksnap describe-snapshots --query '' || echo "exit $?"
