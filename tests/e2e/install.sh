#!/usr/bin/env bash
# `cmake --install` of the test's own build into a temporary prefix: the
# binary and its --version (the project's version, from CMakeLists.txt), the
# man page formatted without warnings, the systemd units (systemd-analyze
# verify when it is there, else their keys checked here), and the
# pkg-config file used to compile and link a small program against the
# installed libblocksnap that opens a store and lists its snapshots through
# the public header; bash completion of verbs, options and ids from a store
# (nothing, and no error, without one), zsh's script parsed by zsh -n; the nbdkit
# plugin in nbdkit's plugin directory under the prefix (nbdkit --dump-plugin).
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"
requires cmake cc pkg-config python3
[ -n "${BSNAP_BUILD_DIR:-}" ] || BSNAP_BUILD_DIR=$(dirname "$BLOCKSNAP")
[ -f "$BSNAP_BUILD_DIR/cmake_install.cmake" ] || skip "no build directory to install from"

P=$T/prefix
step "cmake --install into a temporary prefix"
cmake --install "$BSNAP_BUILD_DIR" --prefix "$P" >"$T/install.log" || die "install failed: $(cat "$T/install.log")"
for f in bin/blocksnap share/man/man1/blocksnap.1 include/blocksnap.h include/blocksnap-version.h \
    lib/libblocksnap.a lib/pkgconfig/blocksnap.pc lib/systemd/system/blocksnap-mount@.service \
    lib/systemd/system/blocksnap-snapshot@.service lib/systemd/system/blocksnap-snapshot@.timer \
    lib/systemd/system/blocksnap-lifecycle.service lib/systemd/system/blocksnap-lifecycle.timer \
    lib/systemd/system/blocksnap-serve.service \
    share/bash-completion/completions/blocksnap share/zsh/vendor-completions/_blocksnap; do
    [ -f "$P/$f" ] || die "not installed: $f"
done
info "$(wc -l <"$T/install.log") lines of install log, every expected file there"

step "--version is the project version of CMakeLists.txt"
want=$(sed -n 's/^project(blocksnap VERSION \([0-9.]*\).*/\1/p' "$SOURCE_DIR/CMakeLists.txt")
[ -n "$want" ] || die "no project(VERSION) in CMakeLists.txt"
assert_eq "$("$P/bin/blocksnap" --version)" "blocksnap $want"
assert_eq "$("$P/bin/blocksnap" describe-snapshots --version)" "blocksnap $want"
grep -q "^#define BSNAP_VERSION_STRING \"$want\"" "$P/include/blocksnap-version.h" ||
    die "the installed blocksnap-version.h does not say $want"

step "the man page formats without warnings"
if command -v groff >/dev/null; then
    warnings=$(groff -man -Tutf8 -ww -z "$P/share/man/man1/blocksnap.1" 2>&1)
    [ -z "$warnings" ] || die "groff warnings: $warnings"
    ! command -v man >/dev/null ||
        MANWIDTH=80 man -l "$P/share/man/man1/blocksnap.1" 2>"$T/man.err" | grep -q describe-snapshots ||
        die "man -l shows no describe-snapshots: $(cat "$T/man.err")"
else
    info "groff not installed: not formatted"
fi

step "systemd units"
U=$P/lib/systemd/system
grep -qx "ExecStart=$P/bin/blocksnap mount --foreground \$BLOCKSNAP_MOUNT_OPTIONS %f" "$U/blocksnap-mount@.service" ||
    die "the mount unit does not run the installed binary: $(grep Exec "$U/blocksnap-mount@.service")"
grep -qx "ExecStart=$P/bin/blocksnap run-lifecycle-policies --quiet \$BLOCKSNAP_LIFECYCLE_OPTIONS" \
    "$U/blocksnap-lifecycle.service" ||
    die "the lifecycle unit does not run the installed binary: $(grep Exec "$U/blocksnap-lifecycle.service")"
grep -qx "ExecStart=$P/bin/blocksnap serve \$BLOCKSNAP_SERVE_OPTIONS" "$U/blocksnap-serve.service" ||
    die "the serve unit does not run the installed binary: $(grep Exec "$U/blocksnap-serve.service")"
grep -qx 'DynamicUser=yes' "$U/blocksnap-serve.service" || die "the serve unit runs as root"
if command -v systemd-analyze >/dev/null && systemd-analyze --version >/dev/null 2>&1; then
    # verify needs instances of templates, and the binary they name to exist.
    cp "$U/blocksnap-mount@.service" "$T/blocksnap-mount@srv-snapshots.service"
    cp "$U/blocksnap-snapshot@.service" "$T/blocksnap-snapshot@dev-vg0-vm1.service"
    cp "$U/blocksnap-snapshot@.timer" "$T/blocksnap-snapshot@dev-vg0-vm1.timer"
    systemd-analyze verify --man=no "$T/blocksnap-mount@srv-snapshots.service" \
        "$T/blocksnap-snapshot@dev-vg0-vm1.service" "$T/blocksnap-snapshot@dev-vg0-vm1.timer" \
        "$U/blocksnap-lifecycle.service" "$U/blocksnap-lifecycle.timer" \
        "$U/blocksnap-serve.service" >"$T/verify.out" 2>&1 || true
    # Only the units' own lines count (the host's other units may warn).
    if grep -E 'blocksnap-((mount|snapshot)@|lifecycle|serve)' "$T/verify.out" | grep -v 'is not a directory\|Failed to prepare filename'; then
        die "systemd-analyze verify found problems in the units"
    fi
    info "systemd-analyze verify: no complaint about the units"
else
    info "no systemd-analyze: keys checked by section"
fi
# Every key in a section systemd knows for it (a small parser).
python3 - "$U"/blocksnap-* <<'PY' || die "a unit has an unknown section or key"
import sys
keys = {
    "Unit": {"Description", "Documentation", "After", "RequiresMountsFor"},
    "Service": {"Type", "EnvironmentFile", "ExecStart", "ExecStop", "Restart", "Nice",
                "IOSchedulingClass", "DynamicUser", "StateDirectory", "Environment",
                "KillSignal", "TimeoutStopSec", "NoNewPrivileges", "ProtectSystem",
                "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                "ProtectControlGroups", "RestrictAddressFamilies", "LimitNOFILE"},
    "Timer": {"OnCalendar", "RandomizedDelaySec", "Persistent"},
    "Install": {"WantedBy"},
}
bad = 0
for path in sys.argv[1:]:
    section = None
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            if section not in keys:
                print(f"{path}:{n}: unknown section {line}"); bad = 1
            continue
        key = line.split("=", 1)[0]
        if section not in keys or key not in keys[section]:
            print(f"{path}:{n}: unexpected key {key} in [{section}]"); bad = 1
    if path.endswith(".timer") != (open(path).read().find("[Timer]") >= 0):
        print(f"{path}: a timer needs [Timer], a service none"); bad = 1
sys.exit(bad)
PY

step "a program built with pkg-config against the installed library"
truncate -s 1M "$T/vol.img"
ids=()
for i in 1 2 3; do
    printf 'data %d' "$i" | dd of="$T/vol.img" conv=notrunc status=none
    ids+=("$(snapshot_create "$T/vol.img")")
done
cat >"$T/list.c" <<'C'
#include <stdio.h>
#include <blocksnap.h>

int main(int argc, char **argv)
{
    bsnap_store *store;
    json_t *doc, *snap;
    size_t i;

    if (argc != 2 || bsnap_store_open(argv[1], BSNAP_STORE_RDONLY, NULL, &store) < 0)
        return 1;
    if (bsnap_snapshot_describe(store, NULL, &doc) < 0)
        return 1;
    json_array_foreach(json_object_get(doc, "Snapshots"), i, snap)
        printf("%s\n", json_string_value(json_object_get(snap, "SnapshotId")));
    printf("libblocksnap %s\n", bsnap_version());
    json_decref(doc);
    bsnap_store_close(store);
    return 0;
}
C
export PKG_CONFIG_PATH=$P/lib/pkgconfig
assert_eq "$(pkg-config --modversion blocksnap)" "$want"
# A sanitizer build's library needs the sanitizer runtime at link time.
san=()
if ldd "$BLOCKSNAP" | grep -q libasan; then san=(-fsanitize=address,undefined); fi
# shellcheck disable=SC2046 # pkg-config prints words
cc -std=c11 -Wall -Werror "${san[@]}" $(pkg-config --cflags blocksnap) -o "$T/list" "$T/list.c" \
    $(pkg-config --static --libs blocksnap) || die "the program does not build with pkg-config"
"$T/list" "$STORE" >"$T/list.out" 2>"$T/list.err" || die "the program failed: $(cat "$T/list.err")"
_check_sanitizer "$T/list.err" "list"
printf '%s\n' "${ids[@]}" | sort >"$T/want.out"
echo "libblocksnap $want" >>"$T/want.out"
diff -u "$T/want.out" "$T/list.out" || die "the program did not list the store's snapshots"
info "listed ${#ids[@]} snapshots through the installed header and library"

step "bash completion: verbs, options, ids from the store"
# complete_words WORD...: what the installed bash completion offers for the
# last WORD of "blocksnap WORD...".
complete_words() {
    PATH=$P/bin:$PATH bash -c 'source "$1"; shift; COMP_WORDS=(blocksnap "$@"); COMP_CWORD=$#
        _blocksnap; [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"' \
        complete "$P/share/bash-completion/completions/blocksnap" "$@" 2>"$T/complete.err"
    [ ! -s "$T/complete.err" ] || die "completion printed on stderr: $(cat "$T/complete.err")"
}
complete_words desc >"$T/c.out"
grep -qx describe-snapshots "$T/c.out" && grep -qx describe-images "$T/c.out" ||
    die "desc does not complete to the describe verbs: $(tr '\n' ' ' <"$T/c.out")"
! grep -v '^describe-' "$T/c.out" || die "desc completes to more than the describe verbs"
complete_words describe-snapshots --snapshot-i >"$T/c.out"
assert_eq "$(tr '\n' ' ' <"$T/c.out")" "--snapshot-ids "
complete_words --store "$STORE" delete-snapshot --snapshot-id "" | sort >"$T/c.out"
printf '%s\n' "${ids[@]}" | sort | diff -u - "$T/c.out" || die "--snapshot-id does not complete the store's ids"
complete_words --store "$STORE" describe-snapshots --snapshot-ids "${ids[0]}" "" >"$T/c.out"
[ "$(wc -l <"$T/c.out")" -eq 3 ] || die "a list option's second id: $(tr '\n' ' ' <"$T/c.out")"
complete_words --store "$T/no-store" describe-snapshots --snapshot-ids "" >"$T/c.out"
[ ! -s "$T/c.out" ] || die "ids completed without a store: $(cat "$T/c.out")"
[ ! -e "$T/no-store" ] || die "completion created a store"
complete_words create-snapshot --volume "$T/vo" >"$T/c.out"
grep -qx "$T/vol.img" "$T/c.out" || die "--volume does not complete file names: $(cat "$T/c.out")"
info "verbs, options, ${#ids[@]} ids, files; nothing without a store"

step "zsh completion parses"
if command -v zsh >/dev/null; then
    zsh -n "$P/share/zsh/vendor-completions/_blocksnap" || die "zsh -n failed"
else
    info "zsh not installed: not parsed"
fi

step "the nbdkit plugin, in nbdkit's plugin directory under the prefix"
if [ -f "$BSNAP_BUILD_DIR/nbdkit/nbdkit-blocksnap-plugin.so" ]; then
    requires nbdkit
    # nbdkit's plugindir, relative to nbdkit's own prefix, under ours
    nprefix=$(pkg-config --variable=prefix nbdkit)
    ndir=$(pkg-config --variable=plugindir nbdkit)
    [ "${ndir#"$nprefix"/}" != "$ndir" ] || die "nbdkit's plugindir $ndir is not under $nprefix"
    plugin=$P/${ndir#"$nprefix"/}/nbdkit-blocksnap-plugin.so
    [ -f "$plugin" ] || die "not installed: $plugin ($(grep -i nbdkit "$T/install.log"))"
    # a sanitizer build's plugin needs the ASan runtime first in nbdkit
    preload=()
    if ldd "$plugin" >"$T/plugin.ldd" 2>&1 && grep -q 'libasan\.' "$T/plugin.ldd"; then
        preload=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so)")
    fi
    "${preload[@]}" nbdkit --dump-plugin "$plugin" >"$T/dump.txt" 2>&1 ||
        die "nbdkit --dump-plugin failed: $(cat "$T/dump.txt")"
    grep -qx "name=blocksnap" "$T/dump.txt" || die "the plugin is not named blocksnap: $(cat "$T/dump.txt")"
    grep -qx "blocksnap_version=$want" "$T/dump.txt" || die "the plugin is not version $want"
    grep -qx "thread_model=parallel" "$T/dump.txt" || die "the plugin's thread model is not parallel"
    info "${plugin#"$P"/}: name=blocksnap, blocksnap_version=$want, thread_model=parallel"
    man=$P/share/man/man1/nbdkit-blocksnap-plugin.1
    [ -f "$man" ] || die "not installed: share/man/man1/nbdkit-blocksnap-plugin.1"
    if command -v groff >/dev/null; then
        warnings=$(groff -man -Tutf8 -ww -z "$man" 2>&1)
        [ -z "$warnings" ] || die "groff warnings in nbdkit-blocksnap-plugin.1: $warnings"
    fi
else
    info "this build has no nbdkit plugin (nbdkit-plugin-dev missing)"
fi

step "a Debian package of the same install (cpack -G DEB)"
if command -v cpack >/dev/null && command -v dpkg-deb >/dev/null && [ -f "$BSNAP_BUILD_DIR/CPackConfig.cmake" ]; then
    cpack -G DEB --config "$BSNAP_BUILD_DIR/CPackConfig.cmake" -B "$T/deb" >"$T/cpack.log" 2>&1 ||
        die "cpack failed: $(tail -5 "$T/cpack.log")"
    deb=("$T"/deb/blocksnap_"$want"_*.deb)
    [ "${#deb[@]}" -eq 1 ] || die "no blocksnap_${want}_*.deb: $(ls "$T/deb")"
    dpkg-deb -c "${deb[0]}" >"$T/deb.list"
    for f in usr/bin/blocksnap usr/share/man/man1/blocksnap.1 usr/lib/systemd/system/blocksnap-mount@.service \
        usr/share/bash-completion/completions/blocksnap usr/include/blocksnap.h; do
        grep -q " \./$f\$" "$T/deb.list" || die "the package lacks /$f"
    done
    dpkg-deb -f "${deb[0]}" Depends | grep -q liblmdb0 || die "the package lists no dependencies"
    dpkg-deb --fsys-tarfile "${deb[0]}" | tar -xO ./usr/lib/systemd/system/blocksnap-mount@.service |
        grep -q '^ExecStart=/usr/bin/blocksnap mount' || die "the packaged unit does not run /usr/bin/blocksnap"
    info "$(basename "${deb[0]}"): $(wc -l <"$T/deb.list") entries, units under /usr"
else
    info "no cpack or dpkg-deb: not packaged"
fi
