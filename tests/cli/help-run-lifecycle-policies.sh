# The help of run-lifecycle-policies: slots, tags, retention, --now.
blocksnap run-lifecycle-policies --help
