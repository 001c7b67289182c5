# configure's usage errors and a broken config file: each names what is
# wrong and writes nothing; a broken file fails every verb (exit 1), naming
# the file and the line.
blocksnap configure frobnicate; echo "rc=$?"
blocksnap configure set region; echo "rc=$?"
blocksnap configure set region Bad_Region; echo "rc=$?"
blocksnap configure set blocksnap_account_id 12345; echo "rc=$?"
blocksnap configure set region.x.path /srv; echo "rc=$?"
blocksnap configure set region.x.store_path relative; echo "rc=$?"
ls .config 2>&1; echo "rc=$?"
blocksnap --profile nope describe-store; echo "rc=$?"
printf '[default]\nregion = a\nregion = b\n' >cfg
BLOCKSNAP_CONFIG_FILE=cfg blocksnap describe-store; echo "rc=$?"
BLOCKSNAP_CONFIG_FILE=cfg blocksnap configure get region; echo "rc=$?"
# A profile that does not exist yet is made by configure set.
blocksnap --profile new configure set region eu-west-1; echo "rc=$?"
blocksnap --profile new configure get region; echo "rc=$?"
