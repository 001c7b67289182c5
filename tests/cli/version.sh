# --version before or after a verb.
blocksnap --version
blocksnap gc --version
