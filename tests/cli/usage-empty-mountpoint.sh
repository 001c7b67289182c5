# An empty MOUNTPOINT is a bad argument (exit 2), for mount and umount.
blocksnap mount "" || echo "exit $?"
blocksnap umount "" || echo "exit $?"
