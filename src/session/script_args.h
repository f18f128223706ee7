/* Private to src/session/: script argument lists, built as parallel arrays
 * of pointers and lengths for sd_store_call (nothing is copied until the
 * store formats the command). */
#ifndef SD_SESSION_SCRIPT_ARGS_H
#define SD_SESSION_SCRIPT_ARGS_H

#include <stddef.h>
#include <string.h>

#include "session/session.h"

#define SD_SCRIPT_MAX_ARGS 28

typedef struct script_args {
    const char *v[SD_SCRIPT_MAX_ARGS];
    size_t len[SD_SCRIPT_MAX_ARGS];
    int n;
} script_args;

/* Appends one argument; callers add a fixed, small number per script. */
static inline void add(script_args *a, const char *s, size_t len) {
    a->v[a->n] = s;
    a->len[a->n++] = len;
}

static inline void add_str(script_args *a, const char *s) { add(a, s, strlen(s)); }

static inline void add_key(script_args *a, const sd_instance *inst,
                           sd_instance_key k) {
    add(a, inst->key[k], inst->key_len[k]);
}

#endif
