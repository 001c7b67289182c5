/* test-bootsect.c - MBR/GPT parsing and boot-mode detection over memory
 * volumes built by the tests themselves. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bootsect.h"
#include "util.h"

#define MiB (1024u * 1024u)

struct vol {
    uint8_t *buf;
    uint64_t size;
    int fail_at_or_after; /* -1: never; else reads at offsets >= this fail */
    unsigned reads;
};

static int mem_read(void *ud, void *buf, size_t len, uint64_t off)
{
    struct vol *v = ud;
    assert_true(off + len <= v->size); /* the parser never reads past the end */
    v->reads++;
    if (v->fail_at_or_after >= 0 && off >= (uint64_t)v->fail_at_or_after)
        return -EIO;
    memcpy(buf, v->buf + off, len);
    return 0;
}

static struct vol *vol_new(uint64_t size)
{
    struct vol *v = calloc(1, sizeof(*v));
    assert_non_null(v);
    v->buf = calloc(1, size);
    assert_non_null(v->buf);
    v->size = size;
    v->fail_at_or_after = -1;
    return v;
}

static void vol_free(struct vol *v)
{
    free(v->buf);
    free(v);
}

static void mbr_entry(uint8_t *sec, int i, uint8_t boot, uint8_t type, uint32_t start,
                      uint32_t count)
{
    uint8_t *e = sec + 446 + 16 * i;
    e[0] = boot;
    e[4] = type;
    le32_put(e + 8, start);
    le32_put(e + 12, count);
    sec[510] = 0x55;
    sec[511] = 0xaa;
}

static int parse(struct vol *v, bsnap_partition **parts, size_t *n, bsnap_boot_info *info)
{
    return bootsect_parse(mem_read, v, v->size, parts, n, info);
}

/* ---- GPT builder ---- */

static const uint8_t guid_esp[16] = {0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
                                     0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b};
static const uint8_t guid_linux[16] = {0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
                                       0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4};
static const uint8_t guid_bios[16] = {0x48, 0x61, 0x68, 0x21, 0x49, 0x64, 0x6f, 0x6e,
                                      0x74, 0x4e, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49};

struct gpt_part {
    const uint8_t *type;
    uint64_t first, last;
    const char *name;
};

/* Write a GPT header at @lba whose entry array (128 entries of 128 bytes)
 * is at @ent_lba, and the array itself. */
static void gpt_write(struct vol *v, uint32_t ss, uint64_t lba, uint64_t ent_lba,
                      const struct gpt_part *p, size_t np)
{
    uint8_t *ents = v->buf + ent_lba * ss;
    memset(ents, 0, 128 * 128);
    for (size_t i = 0; i < np; i++) {
        uint8_t *e = ents + 128 * i;
        memcpy(e, p[i].type, 16);
        memset(e + 16, (int)(i + 1), 16);
        le64_put(e + 32, p[i].first);
        le64_put(e + 40, p[i].last);
        for (size_t k = 0; p[i].name[k]; k++)
            le16_put(e + 56 + 2 * k, (uint8_t)p[i].name[k]);
    }
    uint8_t *h = v->buf + lba * ss;
    memset(h, 0, ss);
    memcpy(h, "EFI PART", 8);
    le32_put(h + 8, 0x00010000);
    le32_put(h + 12, 92);
    le64_put(h + 24, lba);
    le64_put(h + 32, lba == 1 ? v->size / ss - 1 : 1);
    le64_put(h + 40, 34);
    le64_put(h + 48, v->size / ss - 34);
    memset(h + 56, 0xab, 16);
    le64_put(h + 72, ent_lba);
    le32_put(h + 80, 128);
    le32_put(h + 84, 128);
    le32_put(h + 88, bootsect_crc32(0, ents, 128 * 128));
    le32_put(h + 16, bootsect_crc32(0, h, 92));
}

static void protective_mbr(struct vol *v)
{
    mbr_entry(v->buf, 0, 0, 0xee, 1, 0xffffffffu);
}

/* ---- tests ---- */

static void test_crc32(void **state)
{
    assert_int_equal(bootsect_crc32(0, "123456789", 9), 0xcbf43926u);
    assert_int_equal(bootsect_crc32(0, "", 0), 0);
}

static void test_blank(void **state)
{
    struct vol *v = vol_new(MiB);
    bsnap_partition *parts = (void *)1;
    size_t n = 99;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(n, 0);
    assert_null(parts);
    assert_int_equal(info.scheme, BSNAP_PART_NONE);
    assert_int_equal(info.mode, BSNAP_BOOT_NONE);
    assert_false(info.mbr_signature);
    vol_free(v);
}

static void test_tiny_volume(void **state)
{
    struct vol *v = vol_new(100);
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(n, 0);
    assert_int_equal(v->reads, 0);
    vol_free(v);
}

static void test_mbr_primary(void **state)
{
    struct vol *v = vol_new(8 * MiB);
    v->buf[0] = 0xeb; /* boot code */
    mbr_entry(v->buf, 0, 0x80, 0x83, 2048, 4096);
    mbr_entry(v->buf, 2, 0x00, 0x0c, 8192, 2048);
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(info.scheme, BSNAP_PART_MBR);
    assert_int_equal(info.mode, BSNAP_BOOT_LEGACY_BIOS);
    assert_true(info.mbr_boot_code);
    assert_int_equal(n, 2);
    assert_int_equal(parts[0].number, 1);
    assert_int_equal(parts[0].offset, 2048 * 512);
    assert_int_equal(parts[0].size, 4096 * 512);
    assert_true(parts[0].bootable);
    assert_int_equal(parts[0].mbr_type, 0x83);
    assert_false(parts[0].clipped);
    assert_int_equal(parts[1].number, 3);
    assert_int_equal(parts[1].offset, 8192 * 512);
    assert_false(parts[1].bootable);
    assert_string_equal(parts[1].type_guid, "");
    free(parts);
    vol_free(v);
}

static void test_mbr_lies(void **state)
{
    struct vol *v = vol_new(4 * MiB);                 /* 8192 sectors */
    mbr_entry(v->buf, 0, 0, 0x83, 2048, 0xffffffffu); /* runs far past the end */
    mbr_entry(v->buf, 1, 0, 0x83, 9000, 100);         /* starts past the end */
    mbr_entry(v->buf, 2, 0, 0x83, 0xffffffffu, 0xffffffffu);
    mbr_entry(v->buf, 3, 0, 0x83, 100, 0); /* empty */
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].number, 1);
    assert_int_equal(parts[0].offset, 2048 * 512);
    assert_int_equal(parts[0].size, 4 * MiB - 2048 * 512);
    assert_true(parts[0].clipped);
    free(parts);
    vol_free(v);
}

static void test_mbr_logical(void **state)
{
    struct vol *v = vol_new(16 * MiB);
    mbr_entry(v->buf, 0, 0, 0x83, 2048, 2048);
    mbr_entry(v->buf, 1, 0, 0x05, 8192, 16384); /* extended, sectors 8192.. */
    /* EBR 1 at 8192: logical at +2048, next EBR at ext+4096 */
    uint8_t *ebr1 = v->buf + 8192 * 512;
    mbr_entry(ebr1, 0, 0, 0x83, 2048, 1024);
    mbr_entry(ebr1, 1, 0, 0x05, 4096, 4096);
    /* EBR 2 at 12288: logical at +2048, end of chain */
    uint8_t *ebr2 = v->buf + 12288 * 512;
    mbr_entry(ebr2, 0, 0, 0x82, 2048, 1024);
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(n, 3);
    assert_int_equal(parts[0].number, 1);
    assert_int_equal(parts[1].number, 5);
    assert_int_equal(parts[1].offset, (8192 + 2048) * 512ull);
    assert_int_equal(parts[1].size, 1024 * 512);
    assert_int_equal(parts[2].number, 6);
    assert_int_equal(parts[2].offset, (12288 + 2048) * 512ull);
    assert_int_equal(parts[2].mbr_type, 0x82);
    free(parts);
    vol_free(v);
}

static void test_mbr_logical_loop(void **state)
{
    struct vol *v = vol_new(16 * MiB);
    mbr_entry(v->buf, 0, 0, 0x05, 2048, 16384);
    /* EBR at 2048 names itself (relative 0) then one at +2048 naming back. */
    uint8_t *ebr1 = v->buf + 2048 * 512;
    mbr_entry(ebr1, 0, 0, 0x83, 64, 64);
    mbr_entry(ebr1, 1, 0, 0x05, 2048, 4096);
    uint8_t *ebr2 = v->buf + 4096 * 512;
    mbr_entry(ebr2, 0, 0, 0x83, 64, 64);
    mbr_entry(ebr2, 1, 0, 0x05, 2048, 4096); /* the same EBR again: a loop */
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(n, 2);
    assert_true(v->reads < 10);
    free(parts);
    vol_free(v);
}

static void test_gpt_uefi(void **state)
{
    struct vol *v = vol_new(64 * MiB);
    protective_mbr(v);
    struct gpt_part p[] = {
        {guid_esp, 2048, 4095, "EFI system"},
        {guid_linux, 4096, 131038, "root"},
    };
    uint64_t last = v->size / 512 - 1;
    gpt_write(v, 512, 1, 2, p, 2);
    gpt_write(v, 512, last, last - 32, p, 2);
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(info.scheme, BSNAP_PART_GPT);
    assert_int_equal(info.mode, BSNAP_BOOT_UEFI);
    assert_true(info.has_esp);
    assert_true(info.mbr_signature);
    assert_string_equal(info.disk_guid, "ABABABAB-ABAB-ABAB-ABAB-ABABABABABAB");
    assert_int_equal(n, 2);
    assert_int_equal(parts[0].number, 1);
    assert_true(parts[0].esp);
    assert_int_equal(parts[0].offset, 2048 * 512);
    assert_int_equal(parts[0].size, 2048 * 512);
    assert_string_equal(parts[0].type_guid, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    assert_string_equal(parts[0].name, "EFI system");
    assert_string_equal(parts[1].name, "root");
    assert_string_equal(parts[1].type_guid, "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
    assert_string_equal(parts[1].uuid, "02020202-0202-0202-0202-020202020202");
    assert_false(parts[1].esp);
    free(parts);
    vol_free(v);
}

static void test_gpt_backup(void **state)
{
    struct vol *v = vol_new(64 * MiB);
    protective_mbr(v);
    struct gpt_part p[] = {{guid_linux, 2048, 4095, "data"}};
    uint64_t last = v->size / 512 - 1;
    gpt_write(v, 512, 1, 2, p, 1);
    gpt_write(v, 512, last, last - 32, p, 1);
    v->buf[512 + 60] ^= 1; /* break the primary header's CRC */
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(info.scheme, BSNAP_PART_GPT);
    assert_int_equal(n, 1);
    assert_string_equal(parts[0].name, "data");
    free(parts);

    /* Break the backup's entry array too: no GPT, and a protective MBR is
     * not an MBR table. */
    v->buf[(last - 32) * 512 + 40] ^= 1;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(info.scheme, BSNAP_PART_NONE);
    assert_int_equal(n, 0);
    vol_free(v);
}

static void test_gpt_bad_entries_crc(void **state)
{
    struct vol *v = vol_new(8 * MiB);
    protective_mbr(v);
    struct gpt_part p[] = {{guid_linux, 2048, 4095, "data"}};
    gpt_write(v, 512, 1, 2, p, 1);
    v->buf[2 * 512 + 33] ^= 0x40; /* entry array changed, header not */
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(info.scheme, BSNAP_PART_NONE);
    assert_int_equal(n, 0);
    vol_free(v);
}

static void test_gpt_lies_and_hybrid(void **state)
{
    struct vol *v = vol_new(8 * MiB); /* 16384 sectors */
    protective_mbr(v);
    v->buf[0] = 0xfa; /* boot code in the protective MBR */
    struct gpt_part p[] = {
        {guid_bios, 34, 2047, "bios"},
        {guid_esp, 2048, 4095, "esp"},
        {guid_linux, 4096, UINT64_MAX - 1, "huge"}, /* clipped */
        {guid_linux, 20000, 30000, "past"},         /* dropped */
        {guid_linux, 9000, 8000, "backwards"},      /* dropped */
        {guid_linux, 0, UINT64_MAX, "everything"},  /* count overflows */
    };
    gpt_write(v, 512, 1, 2, p, 6);
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(info.scheme, BSNAP_PART_GPT);
    assert_true(info.bios_boot_partition);
    assert_int_equal(info.mode, BSNAP_BOOT_HYBRID);
    assert_int_equal(n, 3);
    assert_int_equal(parts[2].number, 3);
    assert_int_equal(parts[2].offset, 4096 * 512);
    assert_int_equal(parts[2].size, 8 * MiB - 4096 * 512);
    assert_true(parts[2].clipped);
    for (size_t i = 0; i < n; i++)
        assert_true(parts[i].offset + parts[i].size <= v->size);
    free(parts);
    vol_free(v);
}

static void test_gpt_4k(void **state)
{
    struct vol *v = vol_new(64 * MiB);
    protective_mbr(v);
    struct gpt_part p[] = {{guid_esp, 256, 511, "esp"}};
    gpt_write(v, 4096, 1, 2, p, 1);
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(info.scheme, BSNAP_PART_GPT);
    assert_int_equal(info.sector_size, 4096);
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].offset, 256 * 4096);
    assert_int_equal(parts[0].size, 256 * 4096);
    free(parts);
    vol_free(v);
}

static void test_mbr_esp_and_data_only(void **state)
{
    struct vol *v = vol_new(8 * MiB);
    mbr_entry(v->buf, 0, 0, 0xef, 2048, 2048);
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), 0);
    assert_int_equal(info.mode, BSNAP_BOOT_HYBRID); /* 0x55AA + an ESP */
    assert_true(parts[0].esp);
    free(parts);
    assert_string_equal(bsnap_boot_mode_name(BSNAP_BOOT_HYBRID), "hybrid");
    assert_string_equal(bsnap_boot_mode_name(BSNAP_BOOT_LEGACY_BIOS), "legacy-bios");
    assert_string_equal(bsnap_boot_mode_name(BSNAP_BOOT_UEFI), "uefi");
    assert_string_equal(bsnap_boot_mode_name(BSNAP_BOOT_NONE), "none");
    vol_free(v);
}

static void test_read_error(void **state)
{
    struct vol *v = vol_new(8 * MiB);
    mbr_entry(v->buf, 0, 0, 0x05, 2048, 4096);
    v->fail_at_or_after = 512; /* the MBR reads, the EBR does not */
    bsnap_partition *parts = NULL;
    size_t n = 42;
    bsnap_boot_info info;
    assert_int_equal(parse(v, &parts, &n, &info), -EIO);
    assert_int_equal(n, 42); /* untouched on failure */
    assert_null(parts);
    v->fail_at_or_after = 0;
    assert_int_equal(parse(v, &parts, &n, &info), -EIO);
    vol_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_blank),
        cmocka_unit_test(test_tiny_volume),
        cmocka_unit_test(test_mbr_primary),
        cmocka_unit_test(test_mbr_lies),
        cmocka_unit_test(test_mbr_logical),
        cmocka_unit_test(test_mbr_logical_loop),
        cmocka_unit_test(test_gpt_uefi),
        cmocka_unit_test(test_gpt_backup),
        cmocka_unit_test(test_gpt_bad_entries_crc),
        cmocka_unit_test(test_gpt_lies_and_hybrid),
        cmocka_unit_test(test_gpt_4k),
        cmocka_unit_test(test_mbr_esp_and_data_only),
        cmocka_unit_test(test_read_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
