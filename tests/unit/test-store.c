/* test-store.c - store.c: creation, config, format version, refusals,
 * resolution of the store directory, the store lock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "util.h"
#include "unit-helpers.h"

static char *read_config(const char *store)
{
    char *p = path_in(store, "config"), *text = NULL;
    size_t len;

    assert_int_equal(file_read_all(p, 1 << 20, &text, &len), 0);
    free(p);
    return text;
}

static void write_config(const char *store, const char *text)
{
    char *p = path_in(store, "config");
    FILE *f = fopen(p, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    fclose(f);
    free(p);
}

/* Replace the line starting with "KEY " in the config by @line (NULL:
 * drop it). */
static void edit_config(const char *store, const char *key, const char *line)
{
    char *text = read_config(store), *out = calloc(1, strlen(text) + 512);
    size_t klen = strlen(key);

    assert_non_null(out);
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
        if (strncmp(l, key, klen) == 0 && l[klen] == ' ') {
            if (line) {
                strcat(out, line);
                strcat(out, "\n");
            }
            continue;
        }
        strcat(out, l);
        strcat(out, "\n");
    }
    write_config(store, out);
    free(text);
    free(out);
}

static void test_create_defaults(void **state)
{
    char dir[256], *path;
    bsnap_store *s = NULL;
    bsnap_store_info info, again;
    char *text;

    (void)state;
    tmpdir_make(dir, sizeof dir);
    /* No config is the zero config: every default.  The region is "local",
     * never the directory's name. */
    path = path_in(dir, "My-Region");
    assert_int_equal(bsnap_store_open(path, BSNAP_STORE_CREATE, NULL, &s), 0);
    assert_int_equal(bsnap_store_get_info(s, &info), 0);
    assert_int_equal(info.chunk_size, BSNAP_CHUNK_SIZE_DEFAULT);
    assert_int_equal(info.format, 1);
    assert_string_equal(info.region, "local");
    assert_string_equal(info.account, "123456789012");
    assert_int_equal(strlen(info.uuid), 36);
    assert_int_equal(info.uuid[14], '4'); /* a version 4 uuid */
    assert_true(info.pack_count == 0 && info.pack_bytes == 0 && info.chunk_count == 0);
    assert_true(info.snapshot_count == 0 && info.volume_count == 0);
    assert_true(info.meta_bytes > 0);
    bsnap_store_close(s);

    /* The config is text and names every fact; its secret is random. */
    text = read_config(path);
    assert_non_null(strstr(text, "format 1\n"));
    assert_non_null(strstr(text, "chunk-size 65536\n"));
    assert_non_null(strstr(text, "region local\n"));
    assert_non_null(strstr(text, "secret "));
    free(text);
    for (const char *sub = "meta\0packs\0pins\0keys\0"; *sub; sub += strlen(sub) + 1) {
        char *d = path_in(path, sub);
        struct stat st;
        assert_int_equal(stat(d, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        free(d);
    }

    /* Reopening (without CREATE, with a trailing slash) gives the same store. */
    {
        char *slashed = NULL;
        assert_true(asprintf(&slashed, "%s//", path) > 0);
        assert_int_equal(bsnap_store_open(slashed, 0, NULL, &s), 0);
        free(slashed);
    }
    assert_int_equal(bsnap_store_get_info(s, &again), 0);
    assert_string_equal(again.uuid, info.uuid);
    assert_string_equal(again.region, "local");
    assert_string_equal(s->path, path);
    bsnap_store_close(s);
    bsnap_store_close(NULL);
    free(path);
    tmpdir_remove(dir);
}

static void test_create_config(void **state)
{
    char dir[256], *a, *b;
    bsnap_store *s = NULL, *t = NULL;
    bsnap_store_config cfg = {.chunk_size = 4096, .region = "eu-west-1"};
    bsnap_store_info info;

    (void)state;
    tmpdir_make(dir, sizeof dir);
    a = path_in(dir, "deep/er/a"); /* parents are made */
    b = path_in(dir, "b");
    assert_int_equal(bsnap_store_open(a, BSNAP_STORE_CREATE, &cfg, &s), 0);
    assert_int_equal(bsnap_store_get_info(s, &info), 0);
    assert_int_equal(info.chunk_size, 4096);
    assert_string_equal(info.region, "eu-west-1");
    /* Two stores never share a secret, a uuid, or a page key. */
    assert_int_equal(bsnap_store_open(b, BSNAP_STORE_CREATE, &cfg, &t), 0);
    assert_memory_not_equal(s->secret, t->secret, STORE_SECRET_BYTES);
    assert_memory_not_equal(s->uuid, t->uuid, 16);
    assert_memory_not_equal(s->secret, s->page_secret, STORE_SECRET_BYTES);
    bsnap_store_close(s);
    bsnap_store_close(t);
    /* The config of an existing store wins over one passed at open. */
    cfg.chunk_size = 1 << 20;
    assert_int_equal(bsnap_store_open(a, BSNAP_STORE_CREATE, &cfg, &s), 0);
    assert_int_equal(s->chunk_size, 4096);
    bsnap_store_close(s);
    free(a);
    free(b);
    tmpdir_remove(dir);
}

static void test_bad_chunk_size(void **state)
{
    static const uint32_t bad[] = {1, 512, 2048, 4095, 12288, 65535, 8u << 20, 3u << 20};
    char dir[256], *path;
    bsnap_store *s = NULL;

    (void)state;
    tmpdir_make(dir, sizeof dir);
    path = path_in(dir, "store");
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        bsnap_store_config cfg = {.chunk_size = bad[i]};
        int r = bsnap_store_open(path, BSNAP_STORE_CREATE, &cfg, &s);
        assert_error(r, -EINVAL, "InvalidParameterValue");
        assert_null(s);
    }
    /* A refused creation leaves nothing that would later block one. */
    {
        bsnap_store_config cfg = {.chunk_size = BSNAP_CHUNK_SIZE_MAX};
        assert_int_equal(bsnap_store_open(path, BSNAP_STORE_CREATE, &cfg, &s), 0);
        assert_int_equal(s->chunk_size, 4u << 20);
        bsnap_store_close(s);
    }
    free(path);
    tmpdir_remove(dir);
}

static void test_bad_region(void **state)
{
    static const char *const bad[] = {"", "Upper", "with space", "under_score", "dot.ted",
                                      /* 65 characters: one over the limit */
                                      ("12345678901234567890123456789012345678901234567890123456"
                                       "789012345")};
    char dir[256], *path;
    bsnap_store *s = NULL;

    (void)state;
    tmpdir_make(dir, sizeof dir);
    path = path_in(dir, "store");
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        bsnap_store_config cfg = {.region = bad[i]};
        assert_error(bsnap_store_open(path, BSNAP_STORE_CREATE, &cfg, &s), -EINVAL,
                     "InvalidParameterValue");
    }
    free(path);
    /* A zero-initialised config is every default, as NULL is; a directory
     * named like a region does not name the store's region. */
    path = path_in(dir, "eu-west-2");
    {
        bsnap_store_config zero = {0};
        bsnap_store_info info;
        assert_int_equal(bsnap_store_open(path, BSNAP_STORE_CREATE, &zero, &s), 0);
        assert_int_equal(bsnap_store_get_info(s, &info), 0);
        assert_string_equal(info.region, "local");
        assert_int_equal(info.chunk_size, BSNAP_CHUNK_SIZE_DEFAULT);
    }
    bsnap_store_close(s);
    free(path);
    tmpdir_remove(dir);
}

static void test_refusals(void **state)
{
    char dir[256], *missing, *empty, *foreign, *file, *keep;
    bsnap_store *s = NULL;
    struct stat st;
    FILE *f;

    (void)state;
    tmpdir_make(dir, sizeof dir);
    missing = path_in(dir, "missing");
    empty = path_in(dir, "empty");
    foreign = path_in(dir, "foreign");
    file = path_in(dir, "file");
    keep = path_in(foreign, "precious.txt");
    assert_int_equal(mkdir(empty, 0755), 0);
    assert_int_equal(mkdir(foreign, 0755), 0);
    f = fopen(keep, "w");
    assert_non_null(f);
    fputs("user data", f);
    fclose(f);
    f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);

    assert_error(bsnap_store_open(missing, 0, NULL, &s), -ENOENT, "Store.NotFound");
    assert_int_equal(stat(missing, &st), -1); /* nothing made without CREATE */
    assert_error(bsnap_store_open(empty, 0, NULL, &s), -ENOENT, "Store.NotFound");
    assert_error(bsnap_store_open(foreign, 0, NULL, &s), -ENOENT, "Store.Invalid");
    /* A non-empty directory without a config never becomes a store. */
    assert_error(bsnap_store_open(foreign, BSNAP_STORE_CREATE, NULL, &s), -EEXIST, "Store.Invalid");
    assert_message_has(foreign);
    {
        char *cfg = path_in(foreign, "config"), *metadir = path_in(foreign, "meta");
        assert_int_equal(stat(cfg, &st), -1);
        assert_int_equal(stat(metadir, &st), -1);
        assert_int_equal(stat(keep, &st), 0);
        assert_int_equal(st.st_size, 9);
        free(cfg);
        free(metadir);
    }
    assert_error(bsnap_store_open(file, BSNAP_STORE_CREATE, NULL, &s), -ENOTDIR, "Store.Invalid");
    assert_null(s);
    /* An empty directory is fine to create in. */
    assert_int_equal(bsnap_store_open(empty, BSNAP_STORE_CREATE, NULL, &s), 0);
    bsnap_store_close(s);
    free(missing);
    free(empty);
    free(foreign);
    free(file);
    free(keep);
    tmpdir_remove(dir);
}

static void test_unsupported_version(void **state)
{
    struct fixture *f = *state;
    bsnap_store *s = NULL;

    bsnap_store_close(f->s);
    f->s = NULL;
    edit_config(f->store_path, "format", "format 2");
    assert_error(bsnap_store_open(f->store_path, 0, NULL, &s), -EPROTONOSUPPORT,
                 "Store.UnsupportedVersion");
    assert_message_has("version 2");
    assert_null(s);
    /* Also with CREATE: an existing store is never re-created. */
    assert_error(bsnap_store_open(f->store_path, BSNAP_STORE_CREATE, NULL, &s), -EPROTONOSUPPORT,
                 "Store.UnsupportedVersion");
    edit_config(f->store_path, "format", "format 1");
    assert_int_equal(bsnap_store_open(f->store_path, 0, NULL, &f->s), 0);
}

/* Every damaged config is refused as Store.Invalid, never guessed at. */
static void test_bad_config(void **state)
{
    static const struct {
        const char *key, *line;
    } cases[] = {
        {"format", NULL},
        {"format", "format x"},
        {"format", "format 0"},
        {"format", "format"},
        {"uuid", NULL},
        {"uuid", "uuid 1234"},
        {"uuid", "uuid zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"},
        {"secret", NULL},
        {"secret", "secret abcd"},
        {"chunk-size", NULL},
        {"chunk-size", "chunk-size 1000"},
        {"chunk-size", "chunk-size 8388608"},
        {"chunk-size", "chunk-size 64k"},
        {"pack-size", "pack-size 1000"},
    };
    struct fixture *f = *state;
    char *orig;
    bsnap_store *s = NULL;

    bsnap_store_close(f->s);
    f->s = NULL;
    orig = read_config(f->store_path);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int r;
        write_config(f->store_path, orig);
        edit_config(f->store_path, cases[i].key, cases[i].line);
        r = bsnap_store_open(f->store_path, 0, NULL, &s);
        if (r != -EINVAL)
            print_error("case %zu (%s -> %s): %d\n", i, cases[i].key,
                        cases[i].line ? cases[i].line : "(dropped)", r);
        assert_error(r, -EINVAL, "Store.Invalid");
        assert_message_has(f->store_path);
    }
    /* A NUL byte: the config is not text. */
    {
        char *p = path_in(f->store_path, "config");
        FILE *fp = fopen(p, "w");
        assert_non_null(fp);
        fwrite("format 1\n\0x\n", 1, 12, fp);
        fclose(fp);
        free(p);
        assert_error(bsnap_store_open(f->store_path, 0, NULL, &s), -EINVAL, "Store.Invalid");
    }
    /* Unknown keys and comments are ignored (later minor versions). */
    write_config(f->store_path, orig);
    {
        char *p = path_in(f->store_path, "config");
        FILE *fp = fopen(p, "a");
        assert_non_null(fp);
        fputs("# a comment\nfuture-key some value\n", fp);
        fclose(fp);
        free(p);
    }
    assert_int_equal(bsnap_store_open(f->store_path, 0, NULL, &f->s), 0);
    free(orig);
}

static void test_read_only(void **state)
{
    struct fixture *f = *state;
    meta_txn *txn = NULL;
    bsnap_snapshot_options o = {0};
    char id[BSNAP_ID_MAX], *vol = volume_create(f, "v.img", 3 * 4096);

    chunk_write(vol, 4096, 1, 1);
    bsnap_store_close(f->s);
    assert_int_equal(bsnap_store_open(f->store_path, BSNAP_STORE_RDONLY, NULL, &f->s), 0);
    assert_error(meta_txn_begin(f->s->meta, true, &txn), -EROFS, "Store.ReadOnly");
    assert_int_equal(meta_txn_begin(f->s->meta, false, &txn), 0);
    meta_txn_abort(txn);
    o.volume_path = vol;
    assert_error(bsnap_snapshot_create(f->s, &o, id, NULL), -EROFS, "Store.ReadOnly");
    free(vol);
}

static void test_resolve(void **state)
{
    char *p = NULL;
    const char *names[] = {"BLOCKSNAP_STORE", "XDG_DATA_HOME", "HOME"};
    char *saved[3];

    (void)state;
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(names[i]);
        saved[i] = v ? strdup(v) : NULL;
    }
    setenv("BLOCKSNAP_STORE", "/env/store", 1);
    setenv("XDG_DATA_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);

    assert_int_equal(bsnap_store_resolve("/explicit", "eu-1", &p), 0);
    assert_string_equal(p, "/explicit"); /* --store wins */
    free(p);
    assert_int_equal(bsnap_store_resolve(NULL, "eu-1", &p), 0);
    assert_string_equal(p, "/xdg/blocksnap/eu-1"); /* --region beats the env */
    free(p);
    assert_int_equal(bsnap_store_resolve(NULL, NULL, &p), 0);
    assert_string_equal(p, "/env/store");
    free(p);
    assert_int_equal(bsnap_store_resolve("", NULL, &p), 0);
    assert_string_equal(p, "/env/store");
    free(p);
    unsetenv("BLOCKSNAP_STORE");
    assert_int_equal(bsnap_store_resolve(NULL, NULL, &p), 0);
    assert_string_equal(p, "/xdg/blocksnap/local");
    free(p);
    unsetenv("XDG_DATA_HOME");
    assert_int_equal(bsnap_store_resolve(NULL, "us-east-2", &p), 0);
    assert_string_equal(p, "/home/u/.local/share/blocksnap/us-east-2");
    free(p);
    p = NULL;
    assert_error(bsnap_store_resolve(NULL, "Bad Region", &p), -EINVAL, "InvalidParameterValue");
    assert_null(p);
    assert_error(bsnap_store_resolve(NULL, "", &p), -EINVAL, "InvalidParameterValue");
    unsetenv("HOME");
    assert_error(bsnap_store_resolve(NULL, NULL, &p), -EINVAL, "MissingParameter");
    assert_null(p);

    for (int i = 0; i < 3; i++) {
        if (saved[i])
            setenv(names[i], saved[i], 1);
        else
            unsetenv(names[i]);
        free(saved[i]);
    }
}

static void test_lock(void **state)
{
    struct fixture *f = *state;
    int a = -1, b = -1, probe;
    char *lock = path_in(f->store_path, "lock");

    /* Shared holders coexist (several snapshot writers)... */
    assert_int_equal(store_lock(f->s, false, NULL, &a), 0);
    assert_int_equal(store_lock(f->s, false, NULL, &b), 0);
    probe = open(lock, O_RDONLY);
    assert_true(probe >= 0);
    /* ...and keep gc's exclusive lock out until both are gone. */
    assert_int_equal(flock(probe, LOCK_EX | LOCK_NB), -1);
    assert_int_equal(errno, EWOULDBLOCK);
    store_unlock(a);
    assert_int_equal(flock(probe, LOCK_EX | LOCK_NB), -1);
    store_unlock(b);
    assert_int_equal(flock(probe, LOCK_EX | LOCK_NB), 0);
    flock(probe, LOCK_UN);
    /* Exclusive excludes shared. */
    assert_int_equal(store_lock(f->s, true, NULL, &a), 0);
    assert_int_equal(flock(probe, LOCK_SH | LOCK_NB), -1);
    store_unlock(a);
    assert_int_equal(flock(probe, LOCK_SH | LOCK_NB), 0);
    close(probe);
    store_unlock(-1); /* a no-op */
    free(lock);
}

/* A lock held elsewhere: the waiter's cancel flag (a signal, in the CLI)
 * ends the wait with -ECANCELED, and the lock file is the owner's only. */
static void test_lock_cancel(void **state)
{
    struct fixture *f = *state;
    volatile int cancel = 1;
    bsnap_run_options run = {.cancel = &cancel};
    char *lock = path_in(f->store_path, "lock");
    int a = -1, probe;
    struct stat st;

    assert_int_equal(store_lock(f->s, false, NULL, &a), 0);
    store_unlock(a);
    assert_int_equal(stat(lock, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    probe = open(lock, O_RDONLY);
    assert_true(probe >= 0);
    assert_int_equal(flock(probe, LOCK_EX), 0);
    a = -1;
    assert_int_equal(store_lock(f->s, false, &run, &a), -ECANCELED);
    assert_string_equal(bsnap_last_error()->code, "Cancelled");
    assert_int_equal(a, -1);
    assert_int_equal(store_lock(f->s, true, &run, &a), -ECANCELED);
    close(probe);
    free(lock);
}

static void assert_mode(const char *dir, const char *name, mode_t want)
{
    char *p = path_in(dir, name);
    struct stat st;

    assert_int_equal(stat(p, &st), 0);
    if ((st.st_mode & 07777) != want)
        fail_msg("%s: mode %04o, want %04o", p, (unsigned)(st.st_mode & 07777), (unsigned)want);
    free(p);
}

/* assert_mode() of each of @names under @dir. */
static void assert_modes(const char *dir, const char *const *names, size_t n, mode_t want)
{
    for (size_t i = 0; i < n; i++)
        assert_mode(dir, names[i], want);
}

/* chmod each of @names under @dir to @mode. */
static void set_modes(const char *dir, const char *const *names, size_t n, mode_t mode)
{
    for (size_t i = 0; i < n; i++) {
        char *p = path_in(dir, names[i]);
        assert_int_equal(chmod(p, mode), 0);
        free(p);
    }
}

/* Whatever the umask, a new store is private: 0700 directories, 0600
 * files; one made by an older blocksnap (0755, 0644) is made private when
 * its owner opens it; a setgid store directory shares it with its group. */
static void test_modes(void **state)
{
    char dir[256], *path, *shared, *pack;
    const char *dirs[] = {"", "meta", "packs", "pins", "keys"};
    const char *files[] = {"config", "lock", "meta/data.mdb", "meta/lock.mdb"};
    bsnap_store *s = NULL;
    mode_t old = umask(0);
    int fd = -1;

    (void)state;
    tmpdir_make(dir, sizeof dir);
    path = path_in(dir, "a/b/store");
    assert_int_equal(bsnap_store_open(path, BSNAP_STORE_CREATE, NULL, &s), 0);
    assert_int_equal(store_lock(s, false, NULL, &fd), 0);
    store_unlock(fd);
    bsnap_store_close(s);
    assert_modes(path, dirs, ARRAY_SIZE(dirs), 0700);
    assert_modes(path, files, ARRAY_SIZE(files), 0600);
    assert_mode(dir, "a", 0700);

    /* an older store: everything readable by all */
    pack = path_in(path, "packs/pack-000001");
    fd = open(pack, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    set_modes(path, dirs, ARRAY_SIZE(dirs), 0755);
    set_modes(path, files, ARRAY_SIZE(files), 0644);
    assert_int_equal(bsnap_store_open(path, BSNAP_STORE_RDONLY, NULL, &s), 0);
    bsnap_store_close(s);
    assert_modes(path, dirs, ARRAY_SIZE(dirs), 0700);
    assert_modes(path, files, ARRAY_SIZE(files), 0600);
    assert_mode(path, "packs/pack-000001", 0600);

    /* shared with the directory's group: the owner made it setgid */
    shared = path_in(dir, "shared");
    assert_int_equal(mkdir(shared, 0700), 0);
    assert_int_equal(chmod(shared, 02750), 0);
    assert_int_equal(bsnap_store_open(shared, BSNAP_STORE_CREATE, NULL, &s), 0);
    assert_int_equal(store_lock(s, false, NULL, &fd), 0);
    store_unlock(fd);
    bsnap_store_close(s);
    assert_modes(shared, dirs, ARRAY_SIZE(dirs), 02750);
    assert_mode(shared, "config", 0640);
    assert_mode(shared, "meta/data.mdb", 0640);
    assert_mode(shared, "meta/lock.mdb", 0660);
    assert_mode(shared, "lock", 0600); /* writers only */

    umask(old);
    tmpdir_remove(dir);
    free(pack);
    free(shared);
    free(path);
}

static void test_version(void **state)
{
    char want[32];

    (void)state;
    snprintf(want, sizeof want, "%d.%d.%d", BSNAP_VERSION_MAJOR, BSNAP_VERSION_MINOR,
             BSNAP_VERSION_PATCH);
    assert_string_equal(bsnap_version(), want);
}

static void test_error_record(void **state)
{
    (void)state;
    bsnap_error_clear();
    assert_int_equal(bsnap_last_error()->err, 0);
    assert_string_equal(bsnap_last_error()->code, "");
    assert_string_equal(bsnap_last_error()->message, "");
    assert_int_equal(bsnap_fail(-ENOENT, "Some.Code", "thing %d missing", 7), -ENOENT);
    assert_error(-ENOENT, -ENOENT, "Some.Code");
    assert_string_equal(bsnap_last_error()->message, "thing 7 missing");
    assert_int_equal(bsnap_fail_prefix("ctx %s", "here"), -ENOENT);
    assert_string_equal(bsnap_last_error()->message, "ctx here: thing 7 missing");
    assert_string_equal(bsnap_last_error()->code, "Some.Code");
}

/* A view acts as its own account over the same open store: what it
 * creates is that account's, the base does not see it, a dry run of the
 * view ends at its first write, and closing the view leaves the base open. */
static void test_view(void **state)
{
    struct fixture *f = *state;
    bsnap_snapshot_options o = {0};
    bsnap_snapshot_info info;
    bsnap_store *v = NULL, *vv = NULL;
    char id[BSNAP_ID_MAX], id2[BSNAP_ID_MAX], *vol = volume_create(f, "v.img", 3 * 4096);

    chunk_write(vol, 4096, 1, 1);
    assert_error(bsnap_store_view(f->s, "12", &v), -EINVAL, "InvalidParameterValue");
    assert_null(v);
    assert_int_equal(bsnap_store_view(f->s, "111122223333", &v), 0);
    assert_string_equal(bsnap_store_account(v), "111122223333");
    assert_string_equal(bsnap_store_account(f->s), "123456789012");
    o.volume_path = vol;
    assert_int_equal(bsnap_snapshot_create(v, &o, id, NULL), 0);
    assert_int_equal(bsnap_snapshot_get(v, id, &info), 0);
    assert_error(bsnap_snapshot_delete(f->s, id), -ENOENT, "InvalidSnapshot.NotFound");
    /* a view of a view is a view of the store */
    assert_int_equal(bsnap_store_view(v, "123456789012", &vv), 0);
    assert_error(bsnap_snapshot_delete(vv, id), -ENOENT, "InvalidSnapshot.NotFound");
    bsnap_store_set_dry_run(v, true);
    assert_error(bsnap_snapshot_delete(v, id), -ENOEXEC, "DryRunOperation");
    bsnap_store_set_dry_run(v, false);
    bsnap_store_close(vv);
    assert_int_equal(bsnap_snapshot_delete(v, id), 0);
    bsnap_store_close(v);
    /* the base works on after its views are closed */
    free(vol);
    vol = volume_create(f, "w.img", 2 * 4096);
    o.volume_path = vol;
    assert_int_equal(bsnap_snapshot_create(f->s, &o, id2, NULL), 0);
    assert_int_equal(bsnap_snapshot_get(f->s, id2, &info), 0);
    free(vol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_defaults),
        cmocka_unit_test(test_create_config),
        cmocka_unit_test(test_bad_chunk_size),
        cmocka_unit_test(test_bad_region),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test_setup_teardown(test_unsupported_version, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_bad_config, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_read_only, setup_4k, teardown_fixture),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test_setup_teardown(test_lock, setup_4k, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_lock_cancel, setup_4k, teardown_fixture),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_error_record),
        cmocka_unit_test_setup_teardown(test_view, setup_4k, teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
