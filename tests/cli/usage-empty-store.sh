# An empty --store or --region is a bad option value (exit 2): it never
# falls back to another store (which it used to create).
blocksnap --store "" describe-store || echo "exit $?"
blocksnap describe-snapshots --region "" || echo "exit $?"
ls -A
