# backup-vm's option errors (--qmp-timeout's too) and an absent QMP
# socket: each names what was wrong; nothing is written (the store is not
# even made).
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
# --qmp-timeout: whole seconds, 1 to 86400
blocksnap backup-vm --qmp qmp.sock --qmp-timeout 0
echo "exit $?"
blocksnap backup-vm --qmp qmp.sock --qmp-timeout 2.5
echo "exit $?"
blocksnap backup-vm --qmp qmp.sock --qmp-timeout 86401
echo "exit $?"
blocksnap backup-vm --qmp absent.sock --qmp-timeout 5
echo "exit $?"
# it changes the VM, not only the store: no dry run
blocksnap backup-vm --qmp absent.sock --dry-run
echo "exit $?"
[ -e store ] && echo "a store was made"
exit 0
