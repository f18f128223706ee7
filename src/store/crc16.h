/* Redis Cluster's key hashing: CRC16 (XMODEM: polynomial 0x1021, initial value
 * 0, no reflection) of the key's hash tag, modulo 16384 slots. Pure
 * functions, private to src/store/. */
#ifndef SD_STORE_CRC16_H
#define SD_STORE_CRC16_H

#include <stddef.h>
#include <stdint.h>

#define SD_CLUSTER_SLOTS 16384

/* CRC16/XMODEM of len bytes of buf ("123456789" gives 0x31C3). */
uint16_t sd_crc16(const char *buf, size_t len);

/* The hash slot of a key, as CLUSTER KEYSLOT computes it: when the key has a
 * '{' followed later by a '}' with at least one byte between them, only the
 * bytes between the first '{' and the first '}' after it are hashed; else
 * the whole key. Returns 0..16383. */
int sd_cluster_keyslot(const char *key, size_t len);

#endif
