# Likewise for volumes.
blocksnap --quiet gc >/dev/null # a verb that writes makes the (empty) store
blocksnap describe-volumes --volume-ids volume-1
