# An empty store describes as empty lists in every output format.
blocksnap --quiet gc >/dev/null # a verb that writes makes the (empty) store
blocksnap describe-snapshots
blocksnap describe-volumes --output json
blocksnap describe-snapshots --output text
blocksnap describe-snapshots --output table
echo end
