/* test-target.c - target.c: which paths a restore may write, what it does
 * with what is there, and the mode of a new file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "target.h"
#include "unit-helpers.h"

static void touch(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);

    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void assert_refused(struct fixture *f, const char *path, bool force, int err)
{
    struct target t;

    assert_error(target_check(f->s, path, force, &t), err, "InvalidParameterValue");
}

/* Empty paths, directories, FIFOs and sockets are refused with or without
 * force; what exists needs force; a new name is fine. */
static void test_kinds(void **state)
{
    struct fixture *f = *state;
    char *dir = path_in(f->dir, "d"), *slash = path_in(f->dir, "new/");
    char *fifo = path_in(f->dir, "fifo"), *sock = path_in(f->dir, "sock");
    char *file = path_in(f->dir, "file.img"), *fresh = path_in(f->dir, "fresh.img");
    char *dangling = path_in(f->dir, "dangling"), *dirlink = path_in(f->dir, "dirlink");
    char *filelink = path_in(f->dir, "filelink"), *nodir = path_in(f->dir, "no/such/x.img");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct target t;
    int sfd;

    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_true(strlen(sock) < sizeof sa.sun_path);
    strcpy(sa.sun_path, sock);
    sfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof sa), 0);
    touch(file, 0600);
    assert_int_equal(symlink("nowhere", dangling), 0);
    assert_int_equal(symlink("d", dirlink), 0);
    assert_int_equal(symlink("file.img", filelink), 0);

    for (int force = 0; force < 2; force++) {
        assert_refused(f, "", force, -EINVAL);
        assert_message_has("empty");
        assert_refused(f, dir, force, -EISDIR);
        assert_message_has("directory");
        assert_refused(f, dirlink, force, -EISDIR);
        assert_refused(f, slash, force, -EISDIR);
        assert_refused(f, fifo, force, -EINVAL);
        assert_message_has("FIFO");
        assert_refused(f, sock, force, -EINVAL);
        assert_message_has("socket");
        assert_true(target_check(f->s, nodir, force, &t) < 0);
    }
    /* What exists, even a dangling link, needs force. */
    assert_refused(f, file, false, -EEXIST);
    assert_refused(f, dangling, false, -EEXIST);
    assert_message_has("dangling symbolic link");
    assert_refused(f, filelink, false, -EEXIST);

    assert_int_equal(target_check(f->s, fresh, false, &t), 0);
    assert_false(t.replace || t.blockdev || t.keep);
    /* A replaced file's mode and owner are kept; a link is replaced, so the
     * new file gets a new file's mode. */
    assert_int_equal(target_check(f->s, file, true, &t), 0);
    assert_true(t.replace && t.keep && !t.blockdev);
    assert_int_equal(t.mode, 0600);
    assert_int_equal(t.uid, getuid());
    assert_int_equal(target_check(f->s, dangling, true, &t), 0);
    assert_true(t.replace && !t.keep);
    assert_int_equal(target_check(f->s, filelink, true, &t), 0);
    assert_true(t.replace && !t.keep);
    close(sfd);
    free(dir);
    free(slash);
    free(fifo);
    free(sock);
    free(file);
    free(fresh);
    free(dangling);
    free(dirlink);
    free(filelink);
    free(nodir);
}

/* Nothing inside the store, by any name: its files, new names in it, a
 * directory link into it, a link at the path that points into it. */
static void test_inside_store(void **state)
{
    struct fixture *f = *state;
    char *pack = path_in(f->store_path, "packs/new.img"),
         *config = path_in(f->store_path, "config");
    char *top = path_in(f->store_path, "x.img"), *lnk = path_in(f->dir, "lnk");
    char *via = path_in(f->dir, "lnk/x.img"), *atlink = path_in(f->dir, "at.img");
    char *sibling = path_in(f->dir, "store2"), *ok = path_in(f->dir, "store2/x.img");
    char *packs = path_in(f->store_path, "packs");
    struct target t;

    for (int force = 0; force < 2; force++) {
        assert_refused(f, pack, force, -EINVAL);
        assert_message_has("inside the store");
        assert_refused(f, config, force, -EINVAL);
        assert_refused(f, top, force, -EINVAL);
        assert_refused(f, f->store_path, force, -EISDIR);
    }
    assert_int_equal(symlink(packs, lnk), 0);
    assert_refused(f, via, true, -EINVAL);
    assert_int_equal(symlink(config, atlink), 0);
    assert_refused(f, atlink, true, -EINVAL);
    /* A name that only starts like the store's is not in it. */
    assert_int_equal(mkdir(sibling, 0755), 0);
    assert_int_equal(target_check(f->s, ok, false, &t), 0);
    free(pack);
    free(config);
    free(top);
    free(lnk);
    free(via);
    free(atlink);
    free(sibling);
    free(ok);
    free(packs);
}

static void test_new_file_mode(void **state)
{
    mode_t old = umask(027);

    (void)state;
    assert_int_equal(target_new_file_mode(), 0640);
    umask(077);
    assert_int_equal(target_new_file_mode(), 0600);
    umask(0);
    assert_int_equal(target_new_file_mode(), 0666);
    umask(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kinds, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_inside_store, setup_4k, teardown_fixture),
        cmocka_unit_test(test_new_file_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
