/* CRC16/XMODEM and Redis Cluster hash slots (see crc16.h). */
#include "store/crc16.h"

#include <string.h>

/* Bit by bit: the hashed part is a hash tag (an instance name, a few bytes),
 * so a 512-byte table would buy nothing measurable. */
uint16_t sd_crc16(const char *buf, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

int sd_cluster_keyslot(const char *key, size_t len) {
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        /* "{}" hashes the whole key, as in Redis. */
        if (close && close > key + from) {
            key += from;
            len = (size_t)(close - key);
        }
    }
    return sd_crc16(key, len) & (SD_CLUSTER_SLOTS - 1);
}
