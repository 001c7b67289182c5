# The help of describe-launch-template-versions.
blocksnap describe-launch-template-versions --help
