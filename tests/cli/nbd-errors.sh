# NBD volumes: a malformed URI, an absent server and the usage errors of
# --changed-blocks nbd: each name what was wrong; nothing is written.
truncate -s 1M x.img
blocksnap create-snapshot --volume 'nbd+unix:///disk'
echo "exit $?"
blocksnap create-snapshot --volume 'nbd://[::1'
echo "exit $?"
# libnbd quotes a URI it cannot parse: the message shows it without secrets
blocksnap create-snapshot --volume 'nbds://alice@[::1/disk?tls-psk-file=secret.psk&socket=s'
echo "exit $?"
blocksnap create-snapshot --volume "nbd+unix:///disk?socket=$PWD/absent.sock&tls-psk-file=secret.psk" 2>&1 |
    sed "s|$PWD|DIR|g"
blocksnap create-snapshot --volume 'nbd+unix:///?socket=absent.sock' --changed-blocks nbd:
echo "exit $?"
blocksnap create-snapshot --volume 'nbd+unix:///?socket=absent.sock' \
    --changed-blocks nbd:qemu:dirty-bitmap:b1
echo "exit $?"
blocksnap create-snapshot --volume x.img --changed-blocks nbd:qemu:dirty-bitmap:b1 \
    --parent snap-0123456789abcdef0
echo "exit $?"
blocksnap create-snapshot --volume x.img --volume-id vol-0123456789abcdef0
echo "exit $?"
exit 0
