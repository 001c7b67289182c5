# Byte counts for people: describe-store, gc and verify in text and table
# show binary units with one decimal, JSON keeps the exact integers, and
# describe-store gives the dedup and compression ratios.  The volume holds
# 1 MiB of text twice with 1 MiB of zeros between: its second copy and the
# second snapshot are all dedup, the zeros cost nothing.
seq 1 200000 | head -c 1048576 >a
{ cat a; head -c 1048576 /dev/zero; cat a; } >v.img
blocksnap create-snapshot --volume v.img >/dev/null 2>&1
blocksnap create-snapshot --volume v.img --full 2>&1 >/dev/null |
    sed -E 's/snap-[0-9a-f]{17}/snap-X/; s/; [0-9.]+ s, .*/; SECONDS/'
blocksnap describe-store | grep -E '"(ChunkSize|DataBytes|LogicalBytes|StoredBytes)"|Ratio'
blocksnap describe-store --output table | grep -E 'ChunkSize|DataBytes|LogicalBytes|StoredBytes|Ratio'
blocksnap describe-store --output text | tr '\t' '\n' | grep -c ' [KMG]iB$'
blocksnap gc --output table | grep -E 'BytesAfter|ChunksFreed'
blocksnap gc | grep -E '"BytesAfter"'
blocksnap verify --output table | grep -A2 BytesChecked | cut -d "|" -f 2
blocksnap verify
