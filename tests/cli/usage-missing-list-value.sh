# A list option followed directly by another option has no values.
blocksnap create-tags --resources --tags Key=a,Value=b
