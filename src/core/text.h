/* Checks on identifier text (subjects, claims). */
#ifndef SD_CORE_TEXT_H
#define SD_CORE_TEXT_H

#include <stddef.h>

/* 1 when s[0..len) holds a control character, NUL included: C0 (0x00-0x1f),
 * DEL (0x7f) or a C1 control in UTF-8 (U+0080-U+009F, bytes C2 80-C2 9F). */
static inline int sd_has_control(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return 1;
        if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return 1;
    }
    return 0;
}

#endif
