# A bad changed-block list names the file and the line; exit 1.
truncate -s 1M x.img
printf "# ranges\n0 65536\n65536 0\n" >cbt.txt
blocksnap create-snapshot --volume x.img --changed-blocks cbt.txt
printf "65536 10\n0 10\n" >cbt.txt
blocksnap create-snapshot --volume x.img --changed-blocks cbt.txt
blocksnap create-snapshot --volume x.img --changed-blocks missing.txt
