# Limits told in characters count characters (Unicode code points), as EC2
# does, not bytes; text that is not UTF-8 is a usage error (exit 2) that
# says so, and the store is left as it was.
truncate -s 1M disk.img
e255=$(printf 'é%.0s' $(seq 255))
e127=$(printf 'é%.0s' $(seq 127))
e256=$(printf 'é%.0s' $(seq 256))
# 255 characters of description (510 bytes), a 127-character key and a
# 256-character value are all within the limits.
blocksnap --quiet create-snapshot --volume disk.img --description "$e255" \
    --tags "Key=$e127,Value=$e256" --output json >/dev/null
echo "at the limits: exit $?"
blocksnap --quiet create-snapshot --volume disk.img --description "${e255}x"
echo "256-character description: exit $?"
blocksnap --quiet create-snapshot --volume disk.img --description $'caf\xe9'
echo "Latin-1 description: exit $?"
blocksnap --quiet create-snapshot --volume disk.img --tags "Key=${e127}x,Value=v"
echo "128-character key: exit $?"
blocksnap --quiet create-snapshot --volume disk.img --tags "Key=k,Value=${e256}x"
echo "257-character value: exit $?"
id=$(blocksnap describe-snapshots --output text | grep ^SNAPSHOTS | grep -o 'snap-[0-9a-f]\{17\}' | head -n 1)
blocksnap create-tags --resources "$id" --tags $'Key=k,Value=\xc0\xaf'
echo "overlong UTF-8 tag value: exit $?"
# Nothing of the refused calls was stored: one snapshot, one tag (bytes).
blocksnap describe-snapshots --output text | awk -F '\t' '{ print $1, length($2), length($3), length($8) }'
# An image's tags are counted the same way.
blocksnap register-image --name limits --no-boot-check --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=$id}" \
    --tags "Key=$e127,Value=$e256" >/dev/null
echo "image tags at the limits: exit $?"
# A volume whose path is not UTF-8 cannot be recorded under it.
truncate -s 1M $'latin\xe9.img'
blocksnap --quiet create-snapshot --volume $'latin\xe9.img'
echo "Latin-1 path: exit $?"
ln -s $'latin\xe9.img' link.img
blocksnap --quiet create-snapshot --volume link.img 2>&1 | sed "s|$PWD|DIR|"
echo "UTF-8 link to a Latin-1 path: exit ${PIPESTATUS[0]}"
blocksnap describe-volumes --output text | wc -l
