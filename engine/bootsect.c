/* bootsect.c - MBR and GPT partition tables, and boot-mode detection.
 *
 * Everything read from the volume is hostile: offsets are checked for
 * overflow before use, table sizes are bounded before allocation, and
 * partitions are clipped to the volume.  See bootsect.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocksnap.h"
#include "bootsect.h"
#include "error.h"
#include "util.h"

#define MBR_SIZE 512
#define MBR_TABLE 446
#define MBR_SIG 510
#define MBR_BOOT_CODE 440
#define MBR_TYPE_EFI 0xef
#define MBR_TYPE_PROTECTIVE 0xee

#define GPT_HEADER_MIN 92
#define GPT_ENTRY_MIN 128
#define GPT_MAX_ENTRIES 4096

/* GUIDs in on-disk (mixed-endian) byte order. */
static const uint8_t guid_esp[16] = {0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
                                     0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b};
static const uint8_t guid_bios_boot[16] = {0x48, 0x61, 0x68, 0x21, 0x49, 0x64, 0x6f, 0x6e,
                                           0x74, 0x4e, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49};

uint32_t bootsect_crc32(uint32_t crc, const void *buf, size_t len)
{
    /* Bitwise rather than table-driven: GPT headers and entry arrays are a
     * few KiB, read once per open. */
    const uint8_t *p = buf;
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

struct parse {
    bootsect_read_func read;
    void *ud;
    uint64_t size;
    bsnap_partition *parts;
    size_t n;
};

static int vol_read(struct parse *p, void *buf, size_t len, uint64_t off)
{
    if (off > p->size || len > p->size - off)
        return -ERANGE; /* not an error of the volume: the caller skips */
    return p->read(p->ud, buf, len, off);
}

static void guid_format(const uint8_t *g, char out[37])
{
    snprintf(out, 37, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X", le32_get(g),
             le16_get(g + 4), le16_get(g + 6), g[8], g[9], g[10], g[11], g[12], g[13], g[14],
             g[15]);
}

/* UTF-16LE (36 units, NUL-padded) to UTF-8; unpaired surrogates become '?'. */
static void name_utf16_to_utf8(const uint8_t *in, size_t units, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < units; i++) {
        uint32_t c = le16_get(in + 2 * i);
        if (c == 0)
            break;
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < units) {
            uint32_t lo = le16_get(in + 2 * (i + 1));
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                i++;
            } else {
                c = '?';
            }
        } else if (c >= 0xd800 && c <= 0xdfff) {
            c = '?';
        }
        uint8_t b[4];
        size_t nb;
        if (c < 0x80) {
            b[0] = (uint8_t)c;
            nb = 1;
        } else if (c < 0x800) {
            b[0] = (uint8_t)(0xc0 | (c >> 6));
            b[1] = (uint8_t)(0x80 | (c & 0x3f));
            nb = 2;
        } else if (c < 0x10000) {
            b[0] = (uint8_t)(0xe0 | (c >> 12));
            b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            b[2] = (uint8_t)(0x80 | (c & 0x3f));
            nb = 3;
        } else {
            b[0] = (uint8_t)(0xf0 | (c >> 18));
            b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
            b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
            b[3] = (uint8_t)(0x80 | (c & 0x3f));
            nb = 4;
        }
        if (o + nb >= outlen)
            break;
        memcpy(out + o, b, nb);
        o += nb;
    }
    out[o] = '\0';
}

/* Add a partition of @count units of @unit bytes at unit @start, clipped to
 * the volume.  Returns the new entry (for the caller to fill in), or NULL if
 * it was dropped (empty, past the end, or too many). */
static bsnap_partition *part_add(struct parse *p, unsigned number, uint64_t start, uint64_t count,
                                 uint32_t unit)
{
    if (count == 0 || p->n >= BOOTSECT_MAX_PARTITIONS)
        return NULL;
    if (start > p->size / unit)
        return NULL;
    uint64_t off = start * unit;
    if (off >= p->size)
        return NULL;
    uint64_t avail = p->size - off;
    bool clipped = false;
    uint64_t len;
    if (count > avail / unit) {
        len = avail;
        clipped = true;
    } else {
        len = count * unit;
    }
    bsnap_partition *e = &p->parts[p->n++];
    memset(e, 0, sizeof(*e));
    e->number = number;
    e->offset = off;
    e->size = len;
    e->clipped = clipped;
    return e;
}

static bool mbr_is_extended(uint8_t type)
{
    return type == 0x05 || type == 0x0f || type == 0x85;
}

/* Follow the chain of extended boot records inside the extended partition
 * at sectors [ext_start, ext_start + ext_len).  Each EBR names one logical
 * partition (relative to the EBR) and the next EBR (relative to the
 * extended partition).  The chain must move strictly forward, so it ends. */
static int mbr_logical(struct parse *p, uint64_t ext_start, uint64_t ext_len)
{
    uint8_t sec[MBR_SIZE];
    uint64_t ebr = ext_start;
    uint64_t last = 0;
    unsigned number = 5;

    for (int i = 0; i < BOOTSECT_MAX_LOGICAL; i++) {
        if (ebr > UINT64_MAX / MBR_SIZE)
            return 0;
        int r = vol_read(p, sec, sizeof(sec), ebr * MBR_SIZE);
        if (r == -ERANGE)
            return 0;
        if (r < 0)
            return r;
        if (sec[MBR_SIG] != 0x55 || sec[MBR_SIG + 1] != 0xaa)
            return 0;
        const uint8_t *e0 = sec + MBR_TABLE, *e1 = e0 + 16;
        uint32_t rel = le32_get(e0 + 8), cnt = le32_get(e0 + 12);
        if (e0[4] != 0 && !mbr_is_extended(e0[4]) && rel != 0) {
            bsnap_partition *e = part_add(p, number, ebr + rel, cnt, MBR_SIZE);
            if (e) {
                e->mbr_type = e0[4];
                e->bootable = e0[0] == 0x80;
                e->esp = e0[4] == MBR_TYPE_EFI;
            }
            number++;
        }
        if (!mbr_is_extended(e1[4]))
            return 0;
        uint64_t next_rel = le32_get(e1 + 8);
        if (next_rel <= last || next_rel >= ext_len)
            return 0; /* backwards, looping or outside the container */
        last = next_rel;
        ebr = ext_start + next_rel;
    }
    return 0;
}

static int mbr_parse(struct parse *p, const uint8_t *mbr)
{
    bool have_ext = false;
    for (unsigned i = 0; i < 4; i++) {
        const uint8_t *pe = mbr + MBR_TABLE + 16 * i;
        uint8_t type = pe[4];
        uint32_t start = le32_get(pe + 8), count = le32_get(pe + 12);
        if (type == 0 || start == 0 || count == 0)
            continue;
        if (mbr_is_extended(type)) {
            /* Only the first extended partition counts, as in Linux. */
            if (!have_ext) {
                have_ext = true;
                int r = mbr_logical(p, start, count);
                if (r < 0)
                    return r;
            }
            continue;
        }
        bsnap_partition *e = part_add(p, i + 1, start, count, MBR_SIZE);
        if (e) {
            e->mbr_type = type;
            e->bootable = pe[0] == 0x80;
            e->esp = type == MBR_TYPE_EFI;
        }
    }
    return 0;
}

/* Read and check the GPT header at @lba (of @ss-byte sectors), expecting
 * its own-LBA field to say @lba, then its entry array.  Returns 1 and sets
 * *ret_entries (malloc'd), *ret_hdr when valid; 0 when not a valid GPT. */
static int gpt_load(struct parse *p, uint32_t ss, uint64_t lba, uint8_t *hdr, uint8_t **ret_entries)
{
    if (lba > UINT64_MAX / ss)
        return 0;
    int r = vol_read(p, hdr, ss, lba * ss);
    if (r == -ERANGE)
        return 0;
    if (r < 0)
        return r;
    if (memcmp(hdr, "EFI PART", 8) != 0)
        return 0;
    uint32_t hsize = le32_get(hdr + 12);
    if (hsize < GPT_HEADER_MIN || hsize > ss)
        return 0;
    uint32_t want = le32_get(hdr + 16);
    uint8_t tmp[4096];
    memcpy(tmp, hdr, hsize);
    memset(tmp + 16, 0, 4);
    if (bootsect_crc32(0, tmp, hsize) != want)
        return 0;
    if (le64_get(hdr + 24) != lba)
        return 0;
    uint64_t ent_lba = le64_get(hdr + 72);
    uint32_t nent = le32_get(hdr + 80), esize = le32_get(hdr + 84);
    if (nent == 0 || nent > GPT_MAX_ENTRIES || esize < GPT_ENTRY_MIN || esize % 8 != 0)
        return 0;
    uint64_t bytes = (uint64_t)nent * esize;
    if (bytes > BOOTSECT_MAX_TABLE_BYTES || ent_lba > UINT64_MAX / ss)
        return 0;
    uint8_t *ents = malloc(bytes);
    if (!ents)
        return -ENOMEM;
    r = vol_read(p, ents, bytes, ent_lba * ss);
    if (r < 0 || bootsect_crc32(0, ents, bytes) != le32_get(hdr + 88)) {
        free(ents);
        return r == -ERANGE || r >= 0 ? 0 : r;
    }
    *ret_entries = ents;
    return 1;
}

static int gpt_parse(struct parse *p, uint32_t ss, bsnap_boot_info *info)
{
    uint8_t hdr[4096];
    uint8_t *ents = NULL;

    int r = gpt_load(p, ss, 1, hdr, &ents);
    if (r == 0 && p->size / ss >= 2)
        r = gpt_load(p, ss, p->size / ss - 1, hdr, &ents); /* the backup header */
    if (r <= 0)
        return r;

    uint32_t nent = le32_get(hdr + 80), esize = le32_get(hdr + 84);
    guid_format(hdr + 56, info->disk_guid);
    for (uint32_t i = 0; i < nent; i++) {
        const uint8_t *pe = ents + (size_t)i * esize;
        static const uint8_t zero[16];
        if (memcmp(pe, zero, 16) == 0)
            continue;
        uint64_t first = le64_get(pe + 32), last = le64_get(pe + 40);
        if (last < first)
            continue;
        uint64_t count = last - first + 1; /* last is inclusive */
        if (count == 0)
            continue; /* first = 0, last = UINT64_MAX */
        bsnap_partition *e = part_add(p, i + 1, first, count, ss);
        if (!e)
            continue;
        guid_format(pe, e->type_guid);
        guid_format(pe + 16, e->uuid);
        name_utf16_to_utf8(pe + 56, (esize - 56 < 72 ? esize - 56 : 72) / 2, e->name,
                           sizeof(e->name));
        e->esp = memcmp(pe, guid_esp, 16) == 0;
        if (memcmp(pe, guid_bios_boot, 16) == 0)
            info->bios_boot_partition = true;
    }
    free(ents);
    info->scheme = BSNAP_PART_GPT;
    info->sector_size = ss;
    return 1;
}

int bootsect_parse(bootsect_read_func read, void *ud, uint64_t volume_size,
                   bsnap_partition **ret_parts, size_t *ret_n, bsnap_boot_info *ret_info)
{
    struct parse p = {.read = read, .ud = ud, .size = volume_size};
    bsnap_boot_info info = {.scheme = BSNAP_PART_NONE, .sector_size = MBR_SIZE};
    uint8_t mbr[MBR_SIZE];
    int r;

    p.parts = calloc(BOOTSECT_MAX_PARTITIONS, sizeof(*p.parts));
    if (!p.parts)
        return -ENOMEM;

    r = vol_read(&p, mbr, sizeof(mbr), 0);
    if (r == -ERANGE)
        goto done; /* smaller than a sector: no table */
    if (r < 0)
        goto fail;
    info.mbr_signature = mbr[MBR_SIG] == 0x55 && mbr[MBR_SIG + 1] == 0xaa;
    info.mbr_boot_code = !mem_is_zero(mbr, MBR_BOOT_CODE);

    /* A GPT is looked for whether or not a protective MBR is present: some
     * tools write a hybrid MBR instead, and the CRCs decide anyway. */
    r = gpt_parse(&p, 512, &info);
    if (r == 0)
        r = gpt_parse(&p, 4096, &info);
    if (r < 0)
        goto fail;
    if (r == 0 && info.mbr_signature) {
        bool protective = false;
        for (unsigned i = 0; i < 4; i++)
            if (mbr[MBR_TABLE + 16 * i + 4] == MBR_TYPE_PROTECTIVE)
                protective = true;
        if (!protective) {
            r = mbr_parse(&p, mbr);
            if (r < 0)
                goto fail;
            info.scheme = p.n > 0 ? BSNAP_PART_MBR : BSNAP_PART_NONE;
        }
    }

done:
    for (size_t i = 0; i < p.n; i++)
        if (p.parts[i].esp)
            info.has_esp = true;
    /* Logical MBR partitions are found after the primaries that follow
     * the extended one; present them in number order. */
    for (size_t i = 1; i < p.n; i++)
        for (size_t j = i; j > 0 && p.parts[j - 1].number > p.parts[j].number; j--) {
            bsnap_partition t = p.parts[j];
            p.parts[j] = p.parts[j - 1];
            p.parts[j - 1] = t;
        }
    bool bios = info.mbr_signature &&
                (info.scheme != BSNAP_PART_GPT || info.mbr_boot_code || info.bios_boot_partition);
    info.mode = (bsnap_boot_mode)((bios ? BSNAP_BOOT_LEGACY_BIOS : 0) |
                                  (info.has_esp ? BSNAP_BOOT_UEFI : 0));
    info.npartitions = p.n;
    if (p.n == 0) {
        free(p.parts);
        p.parts = NULL;
    }
    *ret_parts = p.parts;
    *ret_n = p.n;
    *ret_info = info;
    return 0;

fail:
    free(p.parts);
    return r;
}

/* ---- public calls over a snapshot reader ---- */

static int reader_read(void *ud, void *buf, size_t len, uint64_t off)
{
    long n = bsnap_reader_pread(ud, buf, len, off);
    if (n < 0)
        return (int)n;
    if ((size_t)n != len)
        return bsnap_fail(-EIO, "Snapshot.ReadError", "short read at offset %llu",
                          (unsigned long long)off);
    return 0;
}

int bsnap_partitions_read(bsnap_reader *reader, bsnap_partition **ret_parts, size_t *ret_n)
{
    bsnap_boot_info info;
    bsnap_error_clear();
    return bootsect_parse(reader_read, reader, bsnap_reader_size(reader), ret_parts, ret_n, &info);
}

int bsnap_boot_inspect(bsnap_reader *reader, bsnap_boot_info *ret_info)
{
    bsnap_partition *parts;
    size_t n;
    bsnap_error_clear();
    int r = bootsect_parse(reader_read, reader, bsnap_reader_size(reader), &parts, &n, ret_info);
    if (r < 0)
        return r;
    free(parts);
    return 0;
}

const char *bsnap_boot_mode_name(bsnap_boot_mode mode)
{
    switch (mode) {
    case BSNAP_BOOT_LEGACY_BIOS:
        return "legacy-bios";
    case BSNAP_BOOT_UEFI:
        return "uefi";
    case BSNAP_BOOT_HYBRID:
        return "hybrid";
    default:
        return "none";
    }
}
