/* Result codes of the Lua scripts: the first element of every script's reply.
 * Mirrors the "Returns" blocks at the top of the lua/ scripts; keep them in step. */
#ifndef SD_STORE_SCRIPT_RESULT_H
#define SD_STORE_SCRIPT_RESULT_H

typedef enum sd_script_result {
    SD_SCRIPT_OPENED = 1,   /* open_or_resume: a new session took a slot */
    SD_SCRIPT_RESUMED = 2,  /* open_or_resume: the open session was extended */
    SD_SCRIPT_DENIED = 3,   /* open_or_resume: no free slot */
    SD_SCRIPT_CLOSED = 4,   /* close: the session was closed */
    SD_SCRIPT_NONE = 5,     /* close: no open session */
    SD_SCRIPT_SWEPT = 6,    /* sweep: expired slots removed */
    SD_SCRIPT_USAGE = 7,    /* usage: counts */
    SD_SCRIPT_REVOKED = 8,  /* open_or_resume: the token's jti is revoked */
    SD_SCRIPT_SEEDED = 9,   /* seed: settings written (1) or already there (0) */
    SD_SCRIPT_LISTED = 10,  /* list: one page of open sessions */
    SD_SCRIPT_SHOWN = 11,   /* show: one session */
    SD_SCRIPT_SETTINGS = 12, /* settings: the pool settings after a change */
    SD_SCRIPT_REVOCATION = 13, /* revoke: recorded (1) or already expired (0) */
    SD_SCRIPT_CHECKED_SLOTS = 14, /* check_slots: one batch of slot entries */
    SD_SCRIPT_CHECKED_KEYS = 15,  /* check_keys: one SCAN step of keys */
    SD_SCRIPT_TOO_LATE = 16, /* open_or_resume: ran after its deadline; did nothing */
} sd_script_result;

/* The scripts the store loads, by position in its script table. */
typedef enum sd_script_id {
    SD_SCRIPT_OPEN_OR_RESUME = 0,
    SD_SCRIPT_CLOSE,
    SD_SCRIPT_SWEEP,
    SD_SCRIPT_USAGE_REPORT,
    SD_SCRIPT_SEED,
    SD_SCRIPT_LIST,
    SD_SCRIPT_SHOW,
    SD_SCRIPT_SETTINGS_CHANGE,
    SD_SCRIPT_REVOKE,
    SD_SCRIPT_CHECK_SLOTS,
    SD_SCRIPT_CHECK_KEYS,
    SD_SCRIPT_COUNT
} sd_script_id;

#endif
