/* fusenull - the fastest FUSE file system this machine can run: one
 * read-only file, /data, of SIZE bytes, every read answered from a buffer
 * of zeros without any work.  bench/run reads it with cat to measure the
 * ceiling of sequential reads through FUSE (the kernel round trips and
 * copies), against which a FUSE target can be judged.
 *
 *   fusenull MOUNTPOINT SIZE      (runs in the foreground; fusermount3 -u ends it)
 *
 * Same settings as blocksnap's mount: low-level API, multithreaded loop,
 * max_read 1 MiB, no page-cache reuse across opens (so every read comes
 * here).  Its buffer of zeros is page-aligned, as blocksnap's buffers are: a
 * buffer from malloc() (16 bytes past a page) would make it a slower ceiling
 * on machines where the kernel copies slowly between misaligned buffers (see
 * bench/alignsweep.c).  Built by bench/run with: cc -O2 fusenull.c
 * $(pkg-config --cflags --libs fuse3).
 */
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_READ (1u << 20)

struct nullfs {
    unsigned long long size;
    char *zeros;
};

static void fill(const struct nullfs *fs, fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    if (ino == FUSE_ROOT_ID) {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = (off_t)fs->size;
    }
}

static void nf_init(void *ud, struct fuse_conn_info *conn)
{
    (void)ud;
    conn->max_read = MAX_READ;
}

static void nf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    const struct nullfs *fs = fuse_req_userdata(req);
    struct fuse_entry_param e;

    if (parent != FUSE_ROOT_ID || strcmp(name, "data") != 0) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    memset(&e, 0, sizeof e);
    e.ino = 2;
    e.attr_timeout = e.entry_timeout = 3600;
    fill(fs, 2, &e.attr);
    fuse_reply_entry(req, &e);
}

static void nf_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    const struct nullfs *fs = fuse_req_userdata(req);
    struct stat st;

    (void)fi;
    if (ino != FUSE_ROOT_ID && ino != 2) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    fill(fs, ino, &st);
    fuse_reply_attr(req, &st, 3600);
}

static void nf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (ino != 2) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    fi->keep_cache = 0;
    fuse_reply_open(req, fi);
}

static void nf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    const struct nullfs *fs = fuse_req_userdata(req);
    unsigned long long left;

    (void)ino;
    (void)fi;
    left = (unsigned long long)off >= fs->size ? 0 : fs->size - (unsigned long long)off;
    if (size > left)
        size = (size_t)left;
    if (size > MAX_READ)
        size = MAX_READ;
    fuse_reply_buf(req, fs->zeros, size);
}

static void nf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    const struct nullfs *fs = fuse_req_userdata(req);
    char buf[512];
    size_t n = 0;
    struct stat st;

    (void)fi;
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    if (off == 0) {
        fill(fs, 2, &st);
        n = fuse_add_direntry(req, buf, sizeof buf, "data", &st, 1);
    }
    fuse_reply_buf(req, buf, n < size ? n : size);
}

static const struct fuse_lowlevel_ops ops = {
    .init = nf_init,
    .lookup = nf_lookup,
    .getattr = nf_getattr,
    .open = nf_open,
    .read = nf_read,
    .readdir = nf_readdir,
};

int main(int argc, char **argv)
{
    struct nullfs fs;
    char *fargv[] = {argv[0], "-o", "ro,fsname=fusenull,max_read=1048576", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    struct fuse_session *se;
    struct fuse_loop_config *cfg;
    int r = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: fusenull MOUNTPOINT SIZE\n");
        return 2;
    }
    fs.size = strtoull(argv[2], NULL, 10);
    if (posix_memalign((void **)&fs.zeros, 4096, MAX_READ) != 0)
        return 1;
    memset(fs.zeros, 0, MAX_READ);
    se = fuse_session_new(&args, &ops, sizeof ops, &fs);
    if (!se)
        return 1;
    if (fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, argv[1]) == 0) {
            cfg = fuse_loop_cfg_create();
            fuse_loop_cfg_set_max_threads(cfg, 4);
            r = fuse_session_loop_mt(se, cfg) ? 1 : 0;
            fuse_loop_cfg_destroy(cfg);
            fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
    }
    fuse_session_destroy(se);
    free(fs.zeros);
    return r;
}
