# create-store --chunk-size: bytes or a K/M suffix, a power of two from 4K
# to 4M, shown by describe-store; a bad size is a usage error that creates
# nothing; an existing store keeps its chunk size, and asking for another
# one names both.
blocksnap --store a create-store --chunk-size 16K >/dev/null
blocksnap --store a describe-store | grep '"ChunkSize"'
blocksnap --store b create-store --chunk-size 262144 | grep '"ChunkSize"'
blocksnap --store c create-store --chunk-size 4KiB | grep '"ChunkSize"'
blocksnap --store d create-store --chunk-size 4m | grep '"ChunkSize"'
blocksnap --store e create-store | grep '"ChunkSize"'
for bad in 48K 2K 8M 1G 0 65535 abc -64K 16Q ''; do
    blocksnap --store bad create-store --chunk-size "$bad"
    echo "exit $?"
done
test -e bad && echo "a bad --chunk-size created a store"
blocksnap --store a create-store --chunk-size 64K
echo "exit $?"
blocksnap --store a create-store --chunk-size 16K
echo "exit $?"
blocksnap --store a describe-store | grep '"ChunkSize"'
