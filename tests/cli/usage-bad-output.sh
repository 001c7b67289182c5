# --output is json, text or table; checked wherever it is given.
blocksnap describe-snapshots --output=yaml
