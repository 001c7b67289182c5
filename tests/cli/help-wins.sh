# --help wins over anything wrong on the same line.
blocksnap delete-snapshot --bogus --help | head -1
