# docs/blocksnap.1 is what `blocksnap help --man` prints (regenerate it with
# `build/blocksnap help --man > docs/blocksnap.1`), and man can format it.
[ -n "$SOURCE_DIR" ] || { echo "SOURCE_DIR not set"; exit 1; }
blocksnap help --man | diff -u "$SOURCE_DIR/docs/blocksnap.1" - || exit 1
echo "docs/blocksnap.1 is current"
if command -v groff >/dev/null; then
    warnings=$(blocksnap help --man | groff -man -Tutf8 -ww -z 2>&1)
    [ -z "$warnings" ] || { echo "$warnings"; exit 1; }
fi
