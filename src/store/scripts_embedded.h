/* The Lua scripts of lua/, embedded at build time by cmake/embed_lua.cmake. */
#ifndef SD_STORE_SCRIPTS_EMBEDDED_H
#define SD_STORE_SCRIPTS_EMBEDDED_H

typedef struct sd_embedded_script {
    const char *name;   /* file name without ".lua", e.g. "close-2" */
    const char *text;   /* NUL-terminated source, includes inlined */
    unsigned len;       /* bytes, without the NUL */
} sd_embedded_script;

extern const sd_embedded_script sd_embedded_scripts[];
extern const unsigned sd_embedded_script_count;

#endif
