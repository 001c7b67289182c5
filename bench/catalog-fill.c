/* catalog-fill.c - the benchmark's fast setup of a store with many
 * snapshots (bench/run --scenario catalog).
 *
 *   bsnap-catalog-fill STORE N [VOLUMES]
 *
 * Takes one real snapshot of each of VOLUMES (default 10) tiny volumes
 * (files of 16 KiB beside the store, one non-zero chunk each) through
 * bsnap_snapshot_create(), then adds snapshot records until the store holds
 * N: each new one a copy of its volume's last snapshot (same tree, so the
 * root's refcount is raised for it, as a snapshot that changed nothing
 * would) with a new id, that snapshot as its parent, a later start time,
 * and on every tenth a tag batch=N/100.  They are written through the
 * catalog (catalog_snapshot_save(), so the cross-reference tables are kept
 * as for any snapshot), 1000 per write transaction; each volume's last
 * snapshot follows.  The result is what N runs of create-snapshot over
 * unchanged volumes would leave, in seconds instead of hours; verify passes
 * on it.  Prints "N VOLUMES FIRST MIDDLE LAST" (snapshot ids: the first real
 * one, one in the middle of a chain, with a child, the newest).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "error.h"
#include "index.h"
#include "store.h"
#include "util.h"

#define BATCH 1000
#define VOLUMES_MAX 1000

static int die(const char *what)
{
    fprintf(stderr, "bsnap-catalog-fill: %s: %s (%s)\n", what, bsnap_last_error()->message,
            bsnap_last_error()->code);
    return 1;
}

int main(int argc, char **argv)
{
    static struct snapshot_rec last[VOLUMES_MAX];
    char first[BSNAP_ID_MAX] = "", middle[BSNAP_ID_MAX] = "";
    unsigned long n, nvol = argc > 3 ? strtoul(argv[3], NULL, 10) : 10, have;
    bsnap_store *s = NULL;
    int64_t t;

    if (argc < 3 || !(n = strtoul(argv[2], NULL, 10)) || !nvol || nvol > VOLUMES_MAX || n < nvol) {
        fprintf(stderr, "usage: bsnap-catalog-fill STORE N [VOLUMES (1..%d, <= N)]\n", VOLUMES_MAX);
        return 2;
    }
    if (bsnap_store_open(argv[1], BSNAP_STORE_CREATE, NULL, &s) < 0)
        return die("open");
    for (unsigned long v = 0; v < nvol; v++) {
        char path[4096], id[BSNAP_ID_MAX], byte = (char)(v + 1);
        bsnap_snapshot_options o = {.volume_path = path, .threads = 1};
        bsnap_snapshot_stats st;
        int fd;
        snprintf(path, sizeof path, "%s.vol%lu.img", argv[1], v);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || ftruncate(fd, 16384) < 0 || pwrite(fd, &byte, 1, 0) != 1 || close(fd) < 0) {
            perror(path);
            return 1;
        }
        if (bsnap_snapshot_create(s, &o, id, &st) < 0 || catalog_snapshot_get(s, id, &last[v]) < 0)
            return die("snapshot");
        if (!first[0])
            snprintf(first, sizeof first, "%s", id);
    }
    t = time_now_ms();
    for (have = nvol; have < n;) {
        meta_txn *txn = NULL;
        int r = meta_txn_begin(s->meta, true, &txn);
        for (unsigned long i = 0; r >= 0 && i < BATCH && have < n; i++, have++) {
            struct snapshot_rec *p = &last[have % nvol], c = *p;
            char batch[32];
            c.tags = (struct tags){0};
            c.description = NULL;
            snprintf(c.parent_id, sizeof c.parent_id, "%s", p->id);
            c.start_ms = c.completion_ms = ++t;
            r = id_generate("snap", c.id);
            if (r >= 0 && have % 10 == 0) {
                snprintf(batch, sizeof batch, "%lu", have / 100);
                r = tags_set(&c.tags, "batch", batch);
            }
            if (r >= 0)
                r = index_incref(s, txn, &c.root);
            if (r >= 0)
                r = catalog_snapshot_save(txn, &c);
            tags_clear(&c.tags);
            if (r >= 0 && have == n / 2)
                snprintf(middle, sizeof middle, "%s", p->id); /* c is its child */
            if (r >= 0) {
                memcpy(p->parent_id, p->id, sizeof p->id);
                memcpy(p->id, c.id, sizeof c.id);
                p->start_ms = p->completion_ms = c.start_ms;
            }
        }
        /* Each volume's next snapshot would follow its newest. */
        for (unsigned long v = 0; r >= 0 && v < nvol; v++) {
            struct volume_rec vol = {0};
            r = catalog_volume_load(txn, last[v].volume_id, &vol);
            if (r >= 0) {
                snprintf(vol.last_snapshot, sizeof vol.last_snapshot, "%s", last[v].id);
                r = catalog_volume_save(txn, &vol);
            }
            volume_rec_clear(&vol);
        }
        if (r >= 0)
            r = meta_txn_commit(txn);
        else
            meta_txn_abort(txn);
        if (r < 0)
            return die("records");
    }
    printf("%lu %lu %s %s %s\n", n, nvol, first, middle[0] ? middle : first,
           last[(n - 1) % nvol].id);
    for (unsigned long v = 0; v < nvol; v++)
        snapshot_rec_clear(&last[v]);
    bsnap_store_close(s);
    return 0;
}
