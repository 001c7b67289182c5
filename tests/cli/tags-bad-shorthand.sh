# A malformed --tags value fails the operation (exit 1) with the parser's reason.
blocksnap create-tags --resources snap-0123456789abcdef0 --tags Key=env,Value=prod Foo=bar
