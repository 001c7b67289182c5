# --output table shows the columns a person reads and fits in 120 columns
# (describe-snapshots was about 300 wide, a column per field); JSON carries
# the rest.  Ids and times are masked at their own length, so the layout is
# what blocksnap drew.
truncate -s 1M disk.img
mask='s/snap-[0-9a-f]{17}/snap-XXXXXXXXXXXXXXXXX/g; s/vol-[0-9a-f]{17}/vol-XXXXXXXXXXXXXXXXX/g; s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z/YYYY-MM-DDTHH:MM:SS.mmmZ/g'
# Two alike (the list's order is the ids' order).
for i in 1 2; do
    blocksnap --quiet create-snapshot --volume disk.img --description "nightly backup of the web server's disk" \
        --tags Key=env,Value=prod Key=team,Value=ops --output json >/dev/null
done
blocksnap describe-snapshots --output table | sed -E "$mask"
# The volume's and the store's tables hold this directory's path: whether
# they fit, and their header rows.
width() { awk '{ if (length($0) > w) w = length($0) } END { print "fits in 120 columns:", (w <= 120 ? "yes" : "no, " w) }'; }
blocksnap describe-volumes --output table | width
blocksnap describe-volumes --output table | sed -n 6p | tr -s ' '
blocksnap describe-store --output table | width
blocksnap describe-store --output table | cut -d '|' -f 2 | sed -n 4,20p
