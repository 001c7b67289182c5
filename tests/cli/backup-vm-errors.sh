# backup-vm's option errors and an absent QMP socket: each names what was
# wrong; nothing is written (the store is not even made).
blocksnap backup-vm
echo "exit $?"
blocksnap backup-vm --qmp qmp.sock --qga qga.sock
echo "exit $?"
blocksnap backup-vm --qmp qmp.sock --description "$(printf 'x%.0s' $(seq 256))"
echo "exit $?"
blocksnap backup-vm --qmp qmp.sock --tags Key=aws:x,Value=y
echo "exit $?"
blocksnap backup-vm --qmp absent.sock
echo "exit $?"
blocksnap backup-vm --qmp "$(printf 'd%.0s' $(seq 120))/qmp.sock"
echo "exit $?"
blocksnap backup-vm --qmp qmp.sock --no-boot-check
echo "exit $?"
# it changes the VM, not only the store: no dry run
blocksnap backup-vm --qmp absent.sock --dry-run
echo "exit $?"
[ -e store ] && echo "a store was made"
exit 0
