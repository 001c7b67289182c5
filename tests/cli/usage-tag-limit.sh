# At most 50 tags in one call (TagLimitExceeded), checked before the store.
blocksnap create-tags --resources snap-0123456789abcdef0 --tags $(seq -f "Key=k%g,Value=v" 1 51)
