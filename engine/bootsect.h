/* bootsect.h - MBR and GPT partition tables, and boot-mode detection.
 *
 * The parser reads a volume through a callback, so that the same code serves
 * a snapshot reader (bsnap_partitions_read, bsnap_boot_inspect), the unit
 * tests and the fuzzer, which hand it a memory buffer.
 *
 * Guarantees: every field read from the volume is treated as hostile.  The
 * parser never reads outside [0, volume_size), never allocates more than a
 * fixed bound (BOOTSECT_MAX_TABLE_BYTES for a GPT entry array, at most
 * BOOTSECT_MAX_PARTITIONS results), terminates on looping extended-partition
 * chains, and returns partitions whose [offset, offset + size) lies inside
 * the volume: a table that claims more is clipped (and the partition marked
 * clipped), a partition that starts past the end is dropped.  A GPT is used
 * only when its header CRC32 and entry-array CRC32 both check; if the primary
 * header fails, the backup header at the last LBA is tried.
 */
#ifndef BSNAP_BOOTSECT_H
#define BSNAP_BOOTSECT_H

#include <stddef.h>
#include <stdint.h>

#include "blocksnap.h"

#define BOOTSECT_MAX_PARTITIONS 256
#define BOOTSECT_MAX_TABLE_BYTES (1u << 20)
/* Longest chain of MBR extended boot records followed. */
#define BOOTSECT_MAX_LOGICAL 128

/* Read exactly @len bytes at @off (the caller guarantees off + len <= the
 * volume size).  Returns 0 or a negative errno. */
typedef int (*bootsect_read_func)(void *ud, void *buf, size_t len, uint64_t off);

/* Parse the partition table and boot facts of a volume of @volume_size
 * bytes.  @ret_parts (malloc'd, may be NULL when *ret_n is 0) and @ret_info
 * are written on success only.  A volume without any table is a success with
 * no partitions and scheme BSNAP_PART_NONE.
 * Errors: whatever @read returns (-EIO); -ENOMEM. */
int bootsect_parse(bootsect_read_func read, void *ud, uint64_t volume_size,
                   bsnap_partition **ret_parts, size_t *ret_n, bsnap_boot_info *ret_info)
    BSNAP_NONNULL(1, 4, 5, 6);

/* CRC-32 (IEEE 802.3, as GPT and zlib use), continuing from @crc (0 to
 * start). */
uint32_t bootsect_crc32(uint32_t crc, const void *buf, size_t len);

#endif
