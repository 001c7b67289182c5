# A malformed --tags value is a usage error (exit 2) with the parser's reason.
blocksnap create-tags --resources snap-0123456789abcdef0 --tags Key=env,Value=prod Foo=bar
