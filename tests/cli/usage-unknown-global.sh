# An unknown option before the verb.
blocksnap --bogus describe-snapshots
