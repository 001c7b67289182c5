# Global options are accepted before and after the verb.
blocksnap --output text describe-snapshots
blocksnap describe-volumes --output=table
blocksnap --quiet gc --output text
