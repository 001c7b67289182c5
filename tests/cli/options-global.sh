# Global options are accepted before and after the verb.
blocksnap --quiet gc >/dev/null # a verb that writes makes the (empty) store
blocksnap --output text describe-snapshots
blocksnap describe-volumes --output=table
blocksnap --quiet gc --output text
