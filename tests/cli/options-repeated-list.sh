# A list option may be repeated: the second --filters is parsed too, and
# the engine rejects its unknown name.
blocksnap --quiet gc >/dev/null # a verb that writes makes the (empty) store
blocksnap describe-snapshots --filters Name=status,Values=completed --output text --filters Name=bogus,Values=x
