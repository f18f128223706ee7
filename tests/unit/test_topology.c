/* The store's topology parsers: CRC16 and hash slots (against CLUSTER
 * KEYSLOT's known answers), -MOVED / -ASK replies, CLUSTER SLOTS replies
 * and Sentinel's +switch-master messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "store/cluster.h"
#include "store/crc16.h"
#include "store/sentinel.h"

static int slot_of(const char *key) { return sd_cluster_keyslot(key, strlen(key)); }

static void test_crc16_known_values(void **state) {
    /* The CRC16/XMODEM check value, and Redis's own example. */
    assert_int_equal(sd_crc16("123456789", 9), 0x31C3);
    assert_int_equal(slot_of("123456789"), 12739);
    assert_int_equal(sd_crc16("", 0), 0);
    /* Answers of CLUSTER KEYSLOT on Redis 7.0. */
    assert_int_equal(slot_of("foo"), 12182);
    assert_int_equal(slot_of("bar"), 5061);
    assert_int_equal(slot_of("{acme}"), 11304);
    assert_int_equal(slot_of("sd:{acme}:pool"), 11304);
}

static void test_hash_tags(void **state) {
    /* Only what is between the first '{' and the next '}' counts. */
    assert_int_equal(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
    assert_int_equal(slot_of("sd:{acme}:slots"), slot_of("acme"));
    assert_int_equal(slot_of("sd:{acme}:session:xyz"), slot_of("acme"));
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    /* An empty tag or no closing brace: the whole key. */
    assert_int_equal(slot_of("foo{}{bar}"), sd_crc16("foo{}{bar}", 10) & 16383);
    assert_int_equal(slot_of("foo{bar"), sd_crc16("foo{bar", 7) & 16383);
    assert_int_equal(slot_of("}{"), sd_crc16("}{", 2) & 16383);
    /* Bytes after a NUL count: lengths, not C strings. */
    assert_int_not_equal(sd_cluster_keyslot("a\0b", 3), slot_of("a"));
    for (int i = 0; i < 1000; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "k%d", i);
        int s = sd_cluster_keyslot(key, (size_t)n);
        assert_true(s >= 0 && s < SD_CLUSTER_SLOTS);
    }
}

static void redirect_ok(const char *msg, int ask, int slot, const char *host, int port) {
    sd_cluster_redirect rd;
    assert_int_equal(sd_cluster_parse_redirect(msg, strlen(msg), &rd), 0);
    assert_int_equal(rd.ask, ask);
    assert_int_equal(rd.slot, slot);
    assert_string_equal(rd.host, host);
    assert_int_equal(rd.port, port);
}

static void redirect_bad(const char *msg) {
    sd_cluster_redirect rd;
    if (sd_cluster_parse_redirect(msg, strlen(msg), &rd) == 0)
        fail_msg("\"%s\" parsed as a redirect", msg);
}

static void test_redirect_parsing(void **state) {
    redirect_ok("MOVED 3999 127.0.0.1:6381", 0, 3999, "127.0.0.1", 6381);
    redirect_ok("ASK 3999 127.0.0.1:6381", 1, 3999, "127.0.0.1", 6381);
    redirect_ok("MOVED 0 redis-2.example:7000", 0, 0, "redis-2.example", 7000);
    redirect_ok("MOVED 16383 ::1:7001", 0, 16383, "::1", 7001);
    /* An empty endpoint: "the node that replied" (host filled in later). */
    redirect_ok("MOVED 12 :7002", 0, 12, "", 7002);
    redirect_bad("MOVED 16384 127.0.0.1:6381");
    redirect_bad("MOVED -1 127.0.0.1:6381");
    redirect_bad("MOVED 12 127.0.0.1");
    redirect_bad("MOVED 12 127.0.0.1:0");
    redirect_bad("MOVED 12 127.0.0.1:65536");
    redirect_bad("MOVED 12 127.0.0.1:12ab");
    redirect_bad("MOVED  127.0.0.1:6381");
    redirect_bad("MOVED 12");
    redirect_bad("ASKING 12 127.0.0.1:6381");
    redirect_bad("TRYAGAIN Multiple keys request during rehashing of slot");
    redirect_bad("ERR unknown command");
    redirect_bad("");
}

/* ------------------------------------------------------------------------
 * CLUSTER SLOTS replies, built by hand
 * ------------------------------------------------------------------------ */

static redisReply *r_int(long long v) {
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

static redisReply *r_str(const char *s) {
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->str = strdup(s);
    r->len = strlen(s);
    return r;
}

static redisReply *r_arr(size_t n, ...) {
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n ? n : 1, sizeof *r->element);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}

static void rfree(redisReply *r) {
    if (!r) return;
    for (size_t i = 0; i < r->elements; i++)
        rfree(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

/* One range with a master and one replica, as Redis 7 sends it (the
 * master entry has a fourth element, its metadata map as an array). */
static redisReply *range(int a, int b, const char *host, int port) {
    return r_arr(4, r_int(a), r_int(b),
                 r_arr(4, r_str(host), r_int(port), r_str("id1"), r_arr(0)),
                 r_arr(3, r_str("127.0.0.9"), r_int(9999), r_str("id2")));
}

typedef struct seen {
    int n;
    int first[8], last[8], port[8];
    char host[8][64];
} seen;

static void on_range(void *ctx, int first, int last, const char *host, uint16_t port) {
    seen *s = ctx;
    s->first[s->n] = first;
    s->last[s->n] = last;
    s->port[s->n] = port;
    strcpy(s->host[s->n], host);
    s->n++;
}

static void test_cluster_slots_parsing(void **state) {
    redisReply *r =
        r_arr(3, range(0, 5460, "127.0.0.1", 7000), range(5461, 10922, "", 7001),
              range(10923, 16383, "10.0.0.3", 7002));
    seen s = {0};
    assert_int_equal(sd_cluster_parse_slots(r, "asked.example", on_range, &s), 16384);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.first[1], 5461);
    assert_int_equal(s.last[1], 10922);
    assert_string_equal(s.host[0], "127.0.0.1");
    assert_string_equal(s.host[1], "asked.example"); /* empty: the node asked */
    assert_int_equal(s.port[2], 7002);
    rfree(r);

    /* A partial map counts only what it covers. */
    r = r_arr(1, range(100, 199, "h", 1));
    assert_int_equal(sd_cluster_parse_slots(r, "x", NULL, NULL), 100);
    rfree(r);

    /* Malformed: nothing is applied, -1. */
    redisReply *bad[] = {
        r_arr(1, range(5, 4, "h", 1)),                           /* last before first */
        r_arr(1, range(0, 16384, "h", 1)),                       /* past the last slot */
        r_arr(1, range(0, 10, "h", 0)),                          /* port 0 */
        r_arr(1, r_arr(2, r_int(0), r_int(10))),                 /* no master */
        r_arr(2, range(0, 16383, "h", 1), range(0, 10, "h", 2)), /* over-covered */
        r_str("not an array"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        seen none = {0};
        assert_int_equal(sd_cluster_parse_slots(bad[i], "x", on_range, &none), -1);
        assert_int_equal(none.n, 0);
        rfree(bad[i]);
    }
    assert_int_equal(sd_cluster_parse_slots(NULL, "x", NULL, NULL), -1);
}

static void test_switch_master_parsing(void **state) {
    char host[64];
    uint16_t port = 0;
    assert_int_equal(sd_sentinel_parse_switch("mymaster 127.0.0.1 6379 127.0.0.1 6380",
                                              "mymaster", host, sizeof host, &port),
                     0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6380);
    assert_int_equal(sd_sentinel_parse_switch("other 1.1.1.1 1 2.2.2.2 2", "mymaster",
                                              host, sizeof host, &port),
                     -1);
    assert_int_equal(sd_sentinel_parse_switch("mymaster 1.1.1.1 1 2.2.2.2", "mymaster",
                                              host, sizeof host, &port),
                     -1);
    assert_int_equal(sd_sentinel_parse_switch("mymaster 1.1.1.1 1 2.2.2.2 70000",
                                              "mymaster", host, sizeof host, &port),
                     -1);
    assert_int_equal(sd_sentinel_parse_switch("mymaster 1.1.1.1 1 2.2.2.2 2 extra",
                                              "mymaster", host, sizeof host, &port),
                     -1);
    /* A prefix of the name is another master. */
    assert_int_equal(sd_sentinel_parse_switch("mymaster2 1.1.1.1 1 2.2.2.2 2", "mymaster",
                                              host, sizeof host, &port),
                     -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_known_values),
        cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_redirect_parsing),
        cmocka_unit_test(test_cluster_slots_parsing),
        cmocka_unit_test(test_switch_master_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
