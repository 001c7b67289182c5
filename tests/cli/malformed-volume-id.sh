# Likewise for volumes.
blocksnap describe-volumes --volume-ids volume-1
