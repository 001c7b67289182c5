# The help of delete-launch-template-versions.
blocksnap delete-launch-template-versions --help
