/* Unit tests for the configuration loader: defaults, every field type, the
 * JSON file and environment layers, and error messages that name the field. */
#include "sessiond/config.h"
#include "sessiond/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* ------------------------------------------------------------------------
 * Fixture: a temp dir holding config.json, the last load's result and error
 * ------------------------------------------------------------------------ */

#define JSON_MAX 8192

typedef struct fixture {
    char dir[64];
    char path[128];
    char err[512];
    sd_config *cfg;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/sd_test_config.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/config.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    sd_config_free(f->cfg);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Writes json to the fixture's file with every ' turned into ", so tests can
 * write JSON without escaping quotes. */
static void write_json(const fixture *f, const char *json) {
    char text[JSON_MAX];
    size_t n = strlen(json);
    assert_true(n < sizeof text);
    for (size_t i = 0; i <= n; i++)
        text[i] = json[i] == '\'' ? '"' : json[i];
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Loads path (may be NULL) with envp into the fixture, freeing the previous
 * result. Returns sd_config_load's code. */
static int load_path(fixture *f, const char *path, char *const *envp) {
    sd_config_free(f->cfg);
    f->cfg = NULL;
    memset(f->err, 'X', sizeof f->err - 1);
    f->err[sizeof f->err - 1] = '\0';
    int rc = sd_config_load(path, envp, &f->cfg, f->err, sizeof f->err);
    if (rc == 0) {
        assert_non_null(f->cfg);
        assert_string_equal(f->err, "");
    } else {
        assert_null(f->cfg);
    }
    return rc;
}

static int load(fixture *f, const char *json, char *const *envp) {
    write_json(f, json);
    return load_path(f, f->path, envp);
}

/* The instance every test builds on: name, issuer, a key source and the
 * required license limit. */
#define MIN_INSTANCE                                                                     \
    "'name':'app','issuer':'https://idp.example','jwks_file':'/etc/jwks.json',"          \
    "'license_limit':5"

/* The members of MIN_INSTANCE one by one, so that a test can replace one. */
static const char *const min_members[] = {
    "'name':'app'",
    "'issuer':'https://idp.example'",
    "'jwks_file':'/etc/jwks.json'",
    "'license_limit':5",
};

/* Loads {<root_members> "instances":[{MIN_INSTANCE <instance_members>}]},
 * leaving out each MIN_INSTANCE member that instance_members sets itself
 * (the file would otherwise hold a duplicate key). root_members, if not
 * empty, ends with a comma; instance_members, if not empty, starts with
 * one. */
static int load_with(fixture *f, const char *root_members, const char *instance_members,
                     char *const *envp) {
    char base[256] = "";
    for (size_t i = 0; i < sizeof min_members / sizeof min_members[0]; i++) {
        const char *m = min_members[i];
        /* ",'key':" matches the instance's own members, not a nested
         * object's first member ("'service_claim':{'name':..."). */
        size_t key_len = (size_t)(strchr(m, ':') - m) + 1;
        char key[64];
        snprintf(key, sizeof key, ",%.*s", (int)key_len, m);
        if (strstr(instance_members, key) != NULL) continue;
        if (base[0] != '\0') strcat(base, ",");
        strcat(base, m);
    }
    /* Every member comes after a comma in instance_members. */
    if (base[0] == '\0' && instance_members[0] == ',') instance_members++;

    char json[JSON_MAX];
    int n = snprintf(json, sizeof json, "{%s'instances':[{%s%s}]}", root_members, base,
                     instance_members);
    assert_true(n > 0 && (size_t)n < sizeof json);
    return load(f, json, envp);
}

static void ok_with(fixture *f, const char *root_members, const char *instance_members) {
    int rc = load_with(f, root_members, instance_members, NULL);
    if (rc != 0) fail_msg("load failed (%d): %s", rc, f->err);
}

/* Asserts SD_EINVAL and exactly the message want. */
static void fails_with(fixture *f, const char *root_members, const char *instance_members,
                       const char *want) {
    int rc = load_with(f, root_members, instance_members, NULL);
    assert_int_equal(rc, SD_EINVAL);
    assert_string_equal(f->err, want);
}

/* Asserts SD_EINVAL and a message that starts with want. */
static void fails_starting(fixture *f, const char *root_members,
                           const char *instance_members, const char *want) {
    int rc = load_with(f, root_members, instance_members, NULL);
    assert_int_equal(rc, SD_EINVAL);
    if (strncmp(f->err, want, strlen(want)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", f->err, want);
}

static void assert_contains(const char *haystack, const char *needle) {
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void assert_not_contains(const char *haystack, const char *needle) {
    if (strstr(haystack, needle) != NULL)
        fail_msg("\"%s\" contains \"%s\"", haystack, needle);
}

#define DURATION_MSG_GT0                                                                 \
    ": must be a duration > 0 and at most 365 days, e.g. \"20m\", \"45s\", "             \
    "\"300ms\" or integer milliseconds"

/* ------------------------------------------------------------------------
 * Defaults
 * ------------------------------------------------------------------------ */

static void test_defaults(void **state) {
    fixture *f = *state;
    ok_with(f, "", "");
    const sd_config *c = f->cfg;

    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 8080);
    assert_string_equal(c->redis_host, "127.0.0.1");
    assert_int_equal(c->redis_port, 6379);
    assert_int_equal(c->redis_db, 0);
    assert_null(c->redis_password);
    assert_int_equal(c->redis_timeout_ms, 500);
    assert_int_equal(c->redis_reconnect_max_ms, 2000);
    assert_int_equal(c->sweep_interval_ms, 1000);
    assert_int_equal(c->sweep_batch, 1000);
    assert_int_equal(c->leeway_s, 60);
    assert_int_equal(c->max_token_bytes, 8192);
    assert_int_equal(c->token_cache_entries, 10000);
    assert_int_equal(c->max_body_bytes, 16384);
    assert_int_equal(c->max_header_bytes, 16384);
    assert_int_equal(c->drain_timeout_ms, 10000);
    assert_int_equal(c->http_timeout_ms, 30000);
    assert_int_equal(c->events_max, 10000);
    assert_int_equal(c->workers, 1);
    assert_non_null(c->replica_id);
    assert_true(strlen(c->replica_id) > 0);

    assert_int_equal(c->ninstances, 1);
    const sd_instance_config *in = &c->instances[0];
    assert_string_equal(in->name, "app");
    assert_string_equal(in->issuer, "https://idp.example");
    assert_null(in->audience);
    assert_int_equal(in->nhosts, 0);
    assert_string_equal(in->jwks_file, "/etc/jwks.json");
    assert_int_equal(in->npem_keys, 0);
    assert_null(in->hmac_secret);
    assert_int_equal(in->license_limit, 5);
    assert_int_equal(in->sliding_ms, 1200000);
    assert_int_equal(in->absolute_ms, 3600000);
    assert_int_equal(in->interactive_absolute_ms, 0);
    assert_int_equal(in->nbinding, 3);
    assert_int_equal(in->binding[0], SD_BIND_SID);
    assert_int_equal(in->binding[1], SD_BIND_SUBJECT);
    assert_int_equal(in->binding[2], SD_BIND_TOKEN);
    assert_int_equal(in->nreserved, 0);
    assert_int_equal(in->max_sessions_per_subject, 0);
    assert_null(in->service_claim_name);
    assert_null(in->service_claim_value);
}

static void test_every_root_field_set(void **state) {
    fixture *f = *state;
    ok_with(f,
            "'listen':'0.0.0.0:9000','redis':{'url':'redis://r.local:7000/3',"
            "'timeout':'250ms','reconnect_max':'5s'},'sweep_interval':'2s',"
            "'sweep_batch':50,'leeway':'30s','max_token_bytes':4096,"
            "'token_cache_entries':0,'max_body_bytes':1024,"
            "'max_header_bytes':2048,'drain_timeout':'1m','http_timeout':'250ms',"
            "'replica_id':'replica-a',",
            "");
    const sd_config *c = f->cfg;
    assert_string_equal(c->listen_host, "0.0.0.0");
    assert_int_equal(c->listen_port, 9000);
    assert_string_equal(c->redis_host, "r.local");
    assert_int_equal(c->redis_port, 7000);
    assert_int_equal(c->redis_db, 3);
    assert_int_equal(c->redis_timeout_ms, 250);
    assert_int_equal(c->redis_reconnect_max_ms, 5000);
    assert_int_equal(c->sweep_interval_ms, 2000);
    assert_int_equal(c->sweep_batch, 50);
    assert_int_equal(c->leeway_s, 30);
    assert_int_equal(c->max_token_bytes, 4096);
    assert_int_equal(c->token_cache_entries, 0);
    assert_int_equal(c->max_body_bytes, 1024);
    assert_int_equal(c->max_header_bytes, 2048);
    assert_int_equal(c->drain_timeout_ms, 60000);
    assert_int_equal(c->http_timeout_ms, 250);
    assert_string_equal(c->replica_id, "replica-a");
}

static void test_every_instance_field_set(void **state) {
    fixture *f = *state;
    ok_with(f, "",
            ",'audience':'api','hosts':['a.example','B.example'],'jwks_file':null,"
            "'pem_keys':[{'path':'/k1.pem','kid':'k1'},{'path':'/k2.pem'}],"
            "'hmac_secret':'0123456789abcdef0123456789abcdef',"
            "'sliding':'45s','absolute':'1h','interactive_absolute':'20m',"
            "'binding':['token','sid']");
    const sd_instance_config *in = &f->cfg->instances[0];
    assert_string_equal(in->audience, "api");
    assert_int_equal(in->nhosts, 2);
    assert_string_equal(in->hosts[0], "a.example");
    assert_string_equal(in->hosts[1], "B.example");
    assert_int_equal(in->npem_keys, 2);
    assert_string_equal(in->pem_keys[0].path, "/k1.pem");
    assert_string_equal(in->pem_keys[0].kid, "k1");
    assert_string_equal(in->pem_keys[1].path, "/k2.pem");
    assert_null(in->pem_keys[1].kid);
    assert_string_equal(in->hmac_secret, "0123456789abcdef0123456789abcdef");
    assert_int_equal(in->sliding_ms, 45000);
    assert_int_equal(in->absolute_ms, 3600000);
    assert_int_equal(in->interactive_absolute_ms, 1200000);
    assert_int_equal(in->nbinding, 2);
    assert_int_equal(in->binding[0], SD_BIND_TOKEN);
    assert_int_equal(in->binding[1], SD_BIND_SID);
}

/* ------------------------------------------------------------------------
 * Durations
 * ------------------------------------------------------------------------ */

static void test_durations_valid(void **state) {
    fixture *f = *state;
    ok_with(f, "", ",'sliding':300000");
    assert_int_equal(f->cfg->instances[0].sliding_ms, 300000);
    ok_with(f, "", ",'sliding':'300ms'");
    assert_int_equal(f->cfg->instances[0].sliding_ms, 300);
    ok_with(f, "", ",'sliding':'45s'");
    assert_int_equal(f->cfg->instances[0].sliding_ms, 45000);
    ok_with(f, "", ",'sliding':'20m'");
    assert_int_equal(f->cfg->instances[0].sliding_ms, 1200000);
    ok_with(f, "", ",'absolute':'1h'");
    assert_int_equal(f->cfg->instances[0].absolute_ms, 3600000);
    ok_with(f, "", ",'absolute':'8760h'"); /* the 365-day cap itself */
    assert_int_equal(f->cfg->instances[0].absolute_ms, 31536000000LL);
    ok_with(f, "", ",'interactive_absolute':0");
    assert_int_equal(f->cfg->instances[0].interactive_absolute_ms, 0);
    ok_with(f, "'redis':{'timeout':1},", "");
    assert_int_equal(f->cfg->redis_timeout_ms, 1);
}

static void test_durations_invalid(void **state) {
    fixture *f = *state;
    const char *bad[] = {"'5x'",    "'-1'", "''",   "'1.5s'", "'99999999999999999999h'",
                         "-1",      "1.5",  "true", "null",   "[1]",
                         "'8761h'", "'5 s'"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char member[128];
        snprintf(member, sizeof member, ",'sliding':%s", bad[i]);
        fails_with(f, "", member, "instances[0].sliding" DURATION_MSG_GT0);
    }
    fails_with(f, "", ",'sliding':0", "instances[0].sliding" DURATION_MSG_GT0);
    fails_with(f, "", ",'absolute':'0s'", "instances[0].absolute" DURATION_MSG_GT0);
    fails_with(f, "", ",'interactive_absolute':'-5m'",
               "instances[0].interactive_absolute: must be a duration >= 0 "
               "and at most 365 days, e.g. \"20m\", \"45s\", \"300ms\" or "
               "integer milliseconds");
    fails_with(f, "'redis':{'timeout':'fast'},", "", "redis.timeout" DURATION_MSG_GT0);
    fails_with(f, "'drain_timeout':0,", "", "drain_timeout" DURATION_MSG_GT0);
}

static void test_leeway_whole_seconds(void **state) {
    fixture *f = *state;
    ok_with(f, "'leeway':'90s',", "");
    assert_int_equal(f->cfg->leeway_s, 90);
    ok_with(f, "'leeway':0,", "");
    assert_int_equal(f->cfg->leeway_s, 0);
    ok_with(f, "'leeway':'1h',", "");
    assert_int_equal(f->cfg->leeway_s, 3600);
    ok_with(f, "'leeway':5000,", ""); /* integers are milliseconds */
    assert_int_equal(f->cfg->leeway_s, 5);

    const char *want = "leeway: must be a whole number of seconds from 0 to "
                       "3600, e.g. \"60s\" (integers are milliseconds)";
    fails_with(f, "'leeway':'1500ms',", "", want);
    fails_with(f, "'leeway':60,", "", want); /* 60 ms */
    fails_with(f, "'leeway':'61m',", "", want);
    fails_with(f, "'leeway':'-1s',", "", want);
}

/* ------------------------------------------------------------------------
 * Integers and strings
 * ------------------------------------------------------------------------ */

static void test_integers_in_range(void **state) {
    fixture *f = *state;
    ok_with(f,
            "'sweep_batch':1,'max_token_bytes':1048576,"
            "'token_cache_entries':10000000,",
            ",'license_limit':0");
    assert_int_equal(f->cfg->sweep_batch, 1);
    assert_int_equal(f->cfg->max_token_bytes, 1048576);
    assert_int_equal(f->cfg->token_cache_entries, 10000000);
    assert_int_equal(f->cfg->instances[0].license_limit, 0);
    ok_with(f, "'workers':64,", "");
    assert_int_equal(f->cfg->workers, 64);
    char *envp[] = {"SESSIOND_WORKERS=2", NULL};
    assert_int_equal(load_with(f, "'workers':4,", "", envp), 0);
    assert_int_equal(f->cfg->workers, 2);
    ok_with(f, "", ",'license_limit':9223372036854775807");
    assert_int_equal(f->cfg->instances[0].license_limit, INT64_MAX);
}

static void test_integers_out_of_range(void **state) {
    fixture *f = *state;
    const char *limit = "instances[0].license_limit: must be an integer >= 0";
    fails_with(f, "", ",'license_limit':-1", limit);
    fails_with(f, "", ",'license_limit':'5'", limit);
    fails_with(f, "", ",'license_limit':1.5", limit);
    fails_with(f, "", ",'license_limit':true", limit);
    fails_with(f, "", ",'license_limit':null", limit);
    fails_with(f, "'sweep_batch':0,", "",
               "sweep_batch: must be an integer from 1 to 1000000");
    fails_with(f, "'sweep_batch':1000001,", "",
               "sweep_batch: must be an integer from 1 to 1000000");
    fails_with(f, "'max_token_bytes':1048577,", "",
               "max_token_bytes: must be an integer from 1 to 1048576");
    fails_with(f, "'token_cache_entries':-1,", "",
               "token_cache_entries: must be an integer from 0 to 10000000");
    fails_with(f, "'max_body_bytes':0,", "",
               "max_body_bytes: must be an integer from 1 to 67108864");
    fails_with(f, "'max_header_bytes':67108865,", "",
               "max_header_bytes: must be an integer from 1024 to 67108864");
    fails_with(f, "'max_header_bytes':10,", "",
               "max_header_bytes: must be an integer from 1024 to 67108864");
    fails_with(f, "'max_header_bytes':1023,", "",
               "max_header_bytes: must be an integer from 1024 to 67108864");
    ok_with(f, "'max_header_bytes':1024,", "");
    assert_int_equal(f->cfg->max_header_bytes, 1024);
    fails_with(f, "'workers':0,", "", "workers: must be an integer from 1 to 64");
    fails_with(f, "'workers':65,", "", "workers: must be an integer from 1 to 64");
}

static void test_strings_wrong_types(void **state) {
    fixture *f = *state;
    fails_with(f, "'replica_id':7,", "", "replica_id: must be a string");
    fails_with(f, "", ",'issuer':['x']", "instances[0].issuer: must be a string");
    fails_with(f, "", ",'audience':{}", "instances[0].audience: must be a string");
    fails_with(f, "", ",'jwks_file':false", "instances[0].jwks_file: must be a string");
    fails_with(f, "'listen':8080,", "", "listen: must be a string");
    fails_with(f, "'redis':{'url':1},", "", "redis.url: must be a string");
    fails_with(f, "'redis':'redis://h',", "", "redis: must be an object");
    assert_int_equal(load(f, "{'instances':{}}", NULL), SD_EINVAL);
    assert_string_equal(f->err, "instances: must be an array of objects");

    /* null unsets an optional string */
    ok_with(f, "", ",'audience':null");
    assert_null(f->cfg->instances[0].audience);
    fails_with(f, "", ",'audience':''",
               "instances[0].audience: must not be empty (leave it out to "
               "skip the check)");
    fails_with(f, "'replica_id':'two words',", "",
               "replica_id: must be 1 to 255 visible ASCII characters");
    fails_with(f, "'replica_id':null,", "",
               "replica_id: must be 1 to 255 visible ASCII characters");
}

/* ------------------------------------------------------------------------
 * Lists: hosts, pem_keys, binding
 * ------------------------------------------------------------------------ */

static void test_hosts(void **state) {
    fixture *f = *state;
    ok_with(f, "", ",'hosts':[]");
    assert_int_equal(f->cfg->instances[0].nhosts, 0);
    fails_with(f, "", ",'hosts':'a.example'",
               "instances[0].hosts: must be an array of strings");
    fails_with(f, "", ",'hosts':['a.example',3]",
               "instances[0].hosts[1]: must be a string");
    fails_with(f, "", ",'hosts':['a.example','']",
               "instances[0].hosts[1]: must be a host name without spaces");
    fails_with(f, "", ",'hosts':['a b']",
               "instances[0].hosts[0]: must be a host name without spaces");
    fails_with(f, "", ",'hosts':['a.example','A.EXAMPLE']",
               "instances[0].hosts[1]: \"A.EXAMPLE\" is already listed at "
               "instances[0].hosts[0]");

    int rc = load(f,
                  "{'instances':[{" MIN_INSTANCE ",'hosts':['x.example']},"
                  "{'name':'b','issuer':'i','jwks_file':'/j','license_limit':1,"
                  "'hosts':['y.example','X.example']}]}",
                  NULL);
    assert_int_equal(rc, SD_EINVAL);
    assert_string_equal(f->err, "instances[1].hosts[1]: \"X.example\" is "
                                "already listed at instances[0].hosts[0]");
}

static void test_pem_keys(void **state) {
    fixture *f = *state;
    int rc = load(f,
                  "{'instances':[{'name':'p','issuer':'i','license_limit':1,"
                  "'pem_keys':[{'path':'/a.pem','kid':null}]}]}",
                  NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(f->cfg->instances[0].npem_keys, 1);
    assert_string_equal(f->cfg->instances[0].pem_keys[0].path, "/a.pem");
    assert_null(f->cfg->instances[0].pem_keys[0].kid);

    fails_with(f, "", ",'pem_keys':{'path':'/a.pem'}",
               "instances[0].pem_keys: must be an array of {\"path\": ..., "
               "\"kid\": ...}");
    fails_with(f, "", ",'pem_keys':['/a.pem']",
               "instances[0].pem_keys[0]: must be an object");
    fails_with(f, "", ",'pem_keys':[{'path':'/a.pem'},{'kid':'k'}]",
               "instances[0].pem_keys[1].path: required");
    fails_with(f, "", ",'pem_keys':[{'path':''}]",
               "instances[0].pem_keys[0].path: required");
    fails_with(f, "", ",'pem_keys':[{'path':'/a.pem','alg':'RS256'}]",
               "instances[0].pem_keys[0].alg: unknown field");
    fails_with(f, "", ",'pem_keys':[{'path':5}]",
               "instances[0].pem_keys[0].path: must be a string");

    char member[1024];
    size_t n = (size_t)snprintf(member, sizeof member, ",'pem_keys':[");
    for (int i = 0; i < SD_MAX_INSTANCE_KEYS + 1; i++)
        n += (size_t)snprintf(member + n, sizeof member - n, "%s{'path':'/%d'}",
                              i ? "," : "", i);
    snprintf(member + n, sizeof member - n, "]");
    fails_with(f, "", member, "instances[0].pem_keys: at most 16 keys");
}

static void test_binding(void **state) {
    fixture *f = *state;
    ok_with(f, "", ",'binding':['subject']");
    assert_int_equal(f->cfg->instances[0].nbinding, 1);
    assert_int_equal(f->cfg->instances[0].binding[0], SD_BIND_SUBJECT);

    const char *nonempty = "instances[0].binding: must be a non-empty array of "
                           "\"sid\", \"subject\", \"token\"";
    fails_with(f, "", ",'binding':[]", nonempty);
    fails_with(f, "", ",'binding':'sid'", nonempty);
    fails_with(f, "", ",'binding':['sid','cookie']",
               "instances[0].binding[1]: must be one of \"sid\", \"subject\", "
               "\"token\"");
    fails_with(f, "", ",'binding':[1]",
               "instances[0].binding[0]: must be one of \"sid\", \"subject\", "
               "\"token\"");
    fails_with(f, "", ",'binding':['SID']",
               "instances[0].binding[0]: must be one of \"sid\", \"subject\", "
               "\"token\"");
    fails_with(f, "", ",'binding':['token','sid','token']",
               "instances[0].binding[2]: \"token\" is listed twice");
    fails_with(f, "", ",'binding':['sid','subject','token','sid']",
               "instances[0].binding: at most 3 rules");
}

/* ------------------------------------------------------------------------
 * listen and redis.url
 * ------------------------------------------------------------------------ */

static void test_listen_forms(void **state) {
    fixture *f = *state;
    ok_with(f, "'listen':'[::1]:8080',", "");
    assert_string_equal(f->cfg->listen_host, "::1");
    assert_int_equal(f->cfg->listen_port, 8080);
    ok_with(f, "'listen':'localhost:1',", "");
    assert_string_equal(f->cfg->listen_host, "localhost");
    assert_int_equal(f->cfg->listen_port, 1);
    ok_with(f, "'listen':'10.0.0.1:65535',", "");
    assert_string_equal(f->cfg->listen_host, "10.0.0.1");
    assert_int_equal(f->cfg->listen_port, 65535);

    const char *port = "listen: port must be a number from 1 to 65535";
    fails_with(f, "'listen':'127.0.0.1:0',", "", port);
    fails_with(f, "'listen':'127.0.0.1:65536',", "", port);
    fails_with(f, "'listen':'127.0.0.1:x',", "", port);
    fails_with(f, "'listen':'127.0.0.1:',", "", port);
    fails_with(f, "'listen':'127.0.0.1:-1',", "", port);
    fails_with(f, "'listen':'[::1]:99999999999',", "", port);
    fails_with(f, "'listen':'127.0.0.1',", "",
               "listen: must be \"host:port\", e.g. \"127.0.0.1:8080\"");
    fails_with(f, "'listen':'[::1]',", "",
               "listen: must be \"host:port\", e.g. \"127.0.0.1:8080\"");
    fails_with(f, "'listen':':8080',", "", "listen: host is missing");
    fails_with(f, "'listen':'::1:8080',", "",
               "listen: host is not an IPv4 address or host name (write IPv6 "
               "addresses in brackets)");
    fails_with(f, "'listen':'[::1:8080',", "", "listen: bad bracketed IPv6 address");
    fails_with(f, "'listen':'[::g]:8080',", "", "listen: bad IPv6 address");
    fails_with(f, "'listen':'[::1]x:8080',", "",
               "listen: unexpected text after the IPv6 address");
    fails_with(f, "'listen':'300.1.1.1:80',", "",
               "listen: host is not a valid IPv4 address");
    fails_with(f, "'listen':'a b:80',", "",
               "listen: host is not an IPv4 address or host name");
}

static void test_redis_url_forms(void **state) {
    fixture *f = *state;
    ok_with(f, "'redis':{'url':'redis://cache'},", "");
    assert_string_equal(f->cfg->redis_host, "cache");
    assert_int_equal(f->cfg->redis_port, 6379);
    assert_int_equal(f->cfg->redis_db, 0);
    assert_null(f->cfg->redis_password);

    ok_with(f, "'redis':{'url':'REDIS://cache/1000000'},", "");
    assert_int_equal(f->cfg->redis_db, 1000000);

    ok_with(f, "'redis':{'url':'redis://10.1.2.3:6380/2'},", "");
    assert_string_equal(f->cfg->redis_host, "10.1.2.3");
    assert_int_equal(f->cfg->redis_port, 6380);
    assert_int_equal(f->cfg->redis_db, 2);

    ok_with(f, "'redis':{'url':'redis://:hunter2@cache/'},", "");
    assert_string_equal(f->cfg->redis_host, "cache");
    assert_string_equal(f->cfg->redis_password, "hunter2");
    assert_int_equal(f->cfg->redis_db, 0);

    ok_with(f, "'redis':{'url':'redis://default:p%40ss%3Aw%2Fd@[::1]:7000/1'},", "");
    assert_string_equal(f->cfg->redis_password, "p@ss:w/d");
    assert_string_equal(f->cfg->redis_host, "::1");
    assert_int_equal(f->cfg->redis_port, 7000);
    assert_int_equal(f->cfg->redis_db, 1);
}

static void test_redis_url_errors(void **state) {
    fixture *f = *state;
    const char *scheme = "redis.url: must be \"redis://[:password@]host[:port][/db]\"";
    fails_with(f, "'redis':{'url':'http://cache:6379'},", "", scheme);
    fails_with(f, "'redis':{'url':'cache:6379'},", "", scheme);
    fails_with(f, "'redis':{'url':'rediss://cache'},", "",
               "redis.url: TLS (rediss://) is not supported");
    fails_with(f, "'redis':{'url':'redis://cache/x'},", "",
               "redis.url: the database must be a number, e.g. /0");
    fails_with(f, "'redis':{'url':'redis://cache/-1'},", "",
               "redis.url: the database must be a number, e.g. /0");
    fails_with(f, "'redis':{'url':'redis://cache/1000001'},", "",
               "redis.url: the database must be a number, e.g. /0");
    fails_with(f, "'redis':{'url':'redis://cache/9999999999'},", "",
               "redis.url: the database must be a number, e.g. /0");
    fails_with(f, "'redis':{'url':'redis://cache:4294967297'},", "",
               "redis.url: port must be a number from 1 to 65535");
    fails_with(f, "'redis':{'url':'redis://cache:0'},", "",
               "redis.url: port must be a number from 1 to 65535");
    fails_with(f, "'redis':{'url':'redis://'},", "", "redis.url: host is missing");
    fails_with(f, "'redis':{'url':'redis://cache?db=1'},", "",
               "redis.url: query and fragment are not supported");
    fails_with(f, "'redis':{'url':'redis://:@cache'},", "",
               "redis.url: the password is empty");
    fails_with(f, "'redis':{'url':'redis://:bad%zzpw@cache'},", "",
               "redis.url: the password has a bad %-escape");
    fails_with(f, "'redis':{'url':'redis://:bad%00pw@cache'},", "",
               "redis.url: the password has a bad %-escape");
    fails_with(f, "'redis':{'url':'redis://admin:pw@cache'},", "",
               "redis.url: only a password is supported in the user "
               "information (redis://:password@host)");
}

/* The password must not reach any message, whatever else is wrong. */
static void test_redis_password_never_in_messages(void **state) {
    fixture *f = *state;
    const char *urls[] = {
        "redis://:Sup3rS3cret@bad host:6379", "redis://:Sup3rS3cret@cache:0",
        "redis://:Sup3rS3cret@cache/x",       "redis://:Sup3rS3cret%zz@cache",
        "redis://user:Sup3rS3cret@cache",     "redis://:Sup3rS3cret@",
        "redis://:Sup3rS3cret@cache?x",       "redis://:Sup3rS3cret/x@cache",
        "http://:Sup3rS3cret@cache",          "redis://:Sup3rS3cret@[::1",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char member[256];
        snprintf(member, sizeof member, "'redis':{'url':'%s'},", urls[i]);
        assert_int_equal(load_with(f, member, "", NULL), SD_EINVAL);
        assert_contains(f->err, "redis.url: ");
        assert_not_contains(f->err, "Sup3rS3cret");

        char var[256];
        snprintf(var, sizeof var, "SESSIOND_REDIS_URL=%s", urls[i]);
        char *envp[] = {var, NULL};
        assert_int_equal(load_with(f, "", "", envp), SD_EINVAL);
        assert_contains(f->err, "(from SESSIOND_REDIS_URL)");
        assert_not_contains(f->err, "Sup3rS3cret");
    }

    /* A JSON syntax error inside the URL: jansson's excerpt of the file
     * would quote the password. */
    write_json(f, "{'redis':{'url':'redis://:Sup3rS3cret\\q@cache'}}");
    assert_int_equal(load_path(f, f->path, NULL), SD_EINVAL);
    assert_not_contains(f->err, "Sup3rS3cret");
    write_json(f, "{'instances':[{'hmac_secret':'Sup3rS3cret\x01'}]}");
    assert_int_equal(load_path(f, f->path, NULL), SD_EINVAL);
    assert_not_contains(f->err, "Sup3rS3cret");
}

/* ------------------------------------------------------------------------
 * File-level errors
 * ------------------------------------------------------------------------ */

static void test_unknown_members(void **state) {
    fixture *f = *state;
    fails_with(f, "'lisen':'127.0.0.1:1',", "", "lisen: unknown field");
    fails_with(f, "", ",'colour':'red'", "instances[0].colour: unknown field");
    fails_with(f, "'redis':{'passwd':'x'},", "", "redis.passwd: unknown field");
    /* The struct's unit suffix is not the JSON name. */
    fails_with(f, "", ",'sliding_ms':1000", "instances[0].sliding_ms: unknown field");
}

/* Sentinel and Cluster topologies: one at a time, addresses checked, the
 * node password apart from the URL's. */
static void test_redis_topologies(void **state) {
    fixture *f = *state;
    ok_with(f,
            "'redis':{'sentinels':['127.0.0.1:26379','s2.example:26380','[::1]:26381'],"
            "'master_name':'mymaster','sentinel_password':'sp','password':'np'},",
            "");
    const sd_config *c = f->cfg;
    assert_int_equal(c->nredis_sentinels, 3);
    assert_string_equal(c->redis_sentinels[1], "s2.example:26380");
    assert_string_equal(c->redis_master_name, "mymaster");
    assert_string_equal(c->redis_sentinel_password, "sp");
    assert_string_equal(sd_config_redis_password(c), "np");
    assert_int_equal(c->nredis_cluster, 0);

    ok_with(f, "'redis':{'cluster':['127.0.0.1:7000','127.0.0.1:7001']},", "");
    assert_int_equal(f->cfg->nredis_cluster, 2);
    assert_null(sd_config_redis_password(f->cfg));
    ok_with(f, "'redis':{'url':'redis://:up@127.0.0.1:6379'},", "");
    assert_string_equal(sd_config_redis_password(f->cfg), "up");
    /* An empty list is no topology (an empty environment variable). */
    ok_with(f, "'redis':{'sentinels':[],'cluster':[]},", "");

    fails_with(f, "'redis':{'sentinels':['127.0.0.1:26379']},", "",
               "redis.master_name: required with redis.sentinels (one word, e.g. "
               "\"mymaster\")");
    fails_with(f, "'redis':{'sentinels':['127.0.0.1:26379','h:0'],'master_name':'m'},", "",
               "redis.sentinels[1]: port must be a number from 1 to 65535");
    fails_with(f, "'redis':{'cluster':['nohost']},", "",
               "redis.cluster[0]: must be \"host:port\", e.g. \"127.0.0.1:8080\"");
    fails_with(f,
               "'redis':{'sentinels':['a:1'],'master_name':'m','cluster':['b:2']},", "",
               "redis.cluster: cannot be combined with redis.sentinels: choose one "
               "topology");
    fails_with(f, "'redis':{'url':'redis://127.0.0.1','cluster':['b:2']},", "",
               "redis.url: cannot be combined with redis.cluster (a password goes in "
               "redis.password)");
    fails_with(f, "'redis':{'master_name':'m'},", "",
               "redis.master_name: needs redis.sentinels");
    fails_with(f, "'redis':{'sentinel_password':'x'},", "",
               "redis.sentinel_password: needs redis.sentinels");

    char *envp[] = {"SESSIOND_REDIS_SENTINELS=127.0.0.1:1, 127.0.0.1:2",
                    "SESSIOND_REDIS_MASTER_NAME=env-master", NULL};
    assert_int_equal(load_with(f, "", "", envp), 0);
    assert_int_equal(f->cfg->nredis_sentinels, 2);
    assert_string_equal(f->cfg->redis_sentinels[1], "127.0.0.1:2");
    assert_string_equal(f->cfg->redis_master_name, "env-master");
    char *env_cluster[] = {"SESSIOND_REDIS_CLUSTER=127.0.0.1:7000",
                           "SESSIOND_REDIS_URL=redis://127.0.0.1:1", NULL};
    assert_int_equal(load_with(f, "", "", env_cluster), SD_EINVAL);
    assert_string_equal(f->err, "redis.url: cannot be combined with redis.cluster (a "
                                "password goes in redis.password)");
}

static void test_invalid_json(void **state) {
    fixture *f = *state;
    char want[256];

    write_json(f, "{\n  'listen': '127.0.0.1:1',\n  'x': tru\n}\n");
    assert_int_equal(load_path(f, f->path, NULL), SD_EINVAL);
    snprintf(want, sizeof want, "%s:3:10: invalid token", f->path);
    assert_string_equal(f->err, want);

    write_json(f, "{'listen':'127.0.0.1:1',\n'listen':'127.0.0.1:2'}");
    assert_int_equal(load_path(f, f->path, NULL), SD_EINVAL);
    snprintf(want, sizeof want, "%s:2:8: duplicate object key", f->path);
    assert_string_equal(f->err, want);

    write_json(f, "{} {}");
    assert_int_equal(load_path(f, f->path, NULL), SD_EINVAL);
    snprintf(want, sizeof want, "%s:1:4: end of file expected", f->path);
    assert_string_equal(f->err, want);

    write_json(f, "[]");
    assert_int_equal(load_path(f, f->path, NULL), SD_EINVAL);
    snprintf(want, sizeof want, "%s: must be a JSON object", f->path);
    assert_string_equal(f->err, want);

    write_json(f, "");
    assert_int_equal(load_path(f, f->path, NULL), SD_EINVAL);
    snprintf(want, sizeof want, "%s:", f->path);
    assert_contains(f->err, want);
}

static void test_missing_file(void **state) {
    fixture *f = *state;
    char path[192], want[256];
    snprintf(path, sizeof path, "%s/missing.json", f->dir);
    assert_int_equal(load_path(f, path, NULL), SD_EIO);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(f->err, want);

    /* A directory opens but cannot be read. */
    assert_int_equal(load_path(f, f->dir, NULL), SD_EIO);
    assert_contains(f->err, f->dir);
}

static void test_instance_rules(void **state) {
    fixture *f = *state;
    int rc = load(f, "{'instances':[{" MIN_INSTANCE "},{" MIN_INSTANCE "}]}", NULL);
    assert_int_equal(rc, SD_EINVAL);
    assert_string_equal(f->err, "instances[1].name: \"app\" is already the "
                                "name of instances[0]");
    /* A shared issuer would make one token valid at both instances. */
    rc = load(f,
              "{'instances':[{'name':'a','issuer':'https://idp.example/a',"
              "'jwks_file':'/j','license_limit':1},"
              "{'name':'b','issuer':'https://idp.example/b','jwks_file':'/j',"
              "'license_limit':1},"
              "{'name':'c','issuer':'https://idp.example/a','jwks_file':'/j',"
              "'license_limit':1}]}",
              NULL);
    assert_int_equal(rc, SD_EINVAL);
    assert_string_equal(f->err, "instances[2].issuer: same as instances[0].issuer");

    assert_int_equal(load(f,
                          "{'instances':[{'name':'a','jwks_file':'/j',"
                          "'license_limit':1}]}",
                          NULL),
                     SD_EINVAL);
    assert_string_equal(f->err, "instances[0].issuer: required");

    assert_int_equal(load(f,
                          "{'instances':[{'name':'a','issuer':'i',"
                          "'license_limit':1}]}",
                          NULL),
                     SD_EINVAL);
    assert_string_equal(f->err, "instances[0]: needs a key source: jwks_file, "
                                "jwks_uri, pem_keys or hmac_secret");

    assert_int_equal(load(f,
                          "{'instances':[{'issuer':'i','jwks_file':'/j',"
                          "'license_limit':1}]}",
                          NULL),
                     SD_EINVAL);
    assert_string_equal(f->err, "instances[0].name: required");

    assert_int_equal(load(f,
                          "{'instances':[{'name':'a','issuer':'i',"
                          "'jwks_file':'/j'}]}",
                          NULL),
                     SD_EINVAL);
    assert_string_equal(f->err, "instances[0].license_limit: required (an integer >= 0)");

    const char *name_msg =
        "instances[0].name: must be 1 to 64 characters of A-Z a-z 0-9 _ -";
    fails_with(f, "", ",'name':'a b'", name_msg);
    fails_with(f, "", ",'name':'a{b}'", name_msg); /* would break hash tags */
    fails_with(f, "", ",'name':'caf\\u00e9'", name_msg);
    fails_with(f, "",
               ",'name':'"
               "0123456789012345678901234567890123456789012345678901234567890123"
               "4'",
               name_msg);
    ok_with(f, "",
            ",'name':'"
            "0123456789012345678901234567890123456789012345678901234567890123'");
    ok_with(f, "", ",'name':'Prod_EU-1'");
    fails_with(f, "", ",'name':''", "instances[0].name: required");

    fails_with(f, "", ",'jwks_file':''", "instances[0].jwks_file: must not be empty");
    /* The base instance has a jwks_file: pem_keys beside it is refused. */
    fails_with(f, "", ",'pem_keys':[{'path':'/k.pem'}]",
               "instances[0].pem_keys: cannot be combined with jwks_file: give the keys "
               "in one of them");
    ok_with(f, "", ",'jwks_file':null,'pem_keys':[{'path':'/k.pem'}]");
    fails_with(f, "", ",'hmac_secret':'short'",
               "instances[0].hmac_secret: must be at least 32 bytes");
    assert_int_equal(load(f, "{'instances':[]}", NULL), SD_EINVAL);
    assert_string_equal(f->err, "instances: at least one instance is required");
    fails_starting(f, "", ",'x':1", "instances[0].x:");

    assert_int_equal(load(f, "{}", NULL), SD_EINVAL);
    assert_string_equal(f->err, "instances: at least one instance is required");
    assert_int_equal(load(f, "{'instances':[5]}", NULL), SD_EINVAL);
    assert_string_equal(f->err, "instances[0]: must be an object");
}

/* ------------------------------------------------------------------------
 * Environment overrides
 * ------------------------------------------------------------------------ */

static void test_env_overrides_file(void **state) {
    fixture *f = *state;
    char *envp[] = {
        "PATH=/usr/bin",
        "SESSIOND_LISTEN=0.0.0.0:9999",
        "SESSIOND_REDIS_URL=redis://:pw%21@cache:7001/4",
        "SESSIOND_REDIS_TIMEOUT=2s",
        "SESSIOND_INSTANCES_0_LICENSE_LIMIT=42",
        "SESSIOND_INSTANCES_0_SLIDING=5m",
        "SESSIOND_INSTANCES_0_AUDIENCE=",
        "SESSIOND_LEEWAY=30s",
        "SESSIOND_TOKEN_CACHE_ENTRIES=0",
        "SESSIOND_CONFIG=/ignored/path.json",
        NULL,
    };
    int rc = load_with(f, "'listen':'127.0.0.1:1','leeway':'10s',",
                       ",'audience':'api','license_limit':7", envp);
    if (rc != 0) fail_msg("load failed (%d): %s", rc, f->err);
    const sd_config *c = f->cfg;
    assert_string_equal(c->listen_host, "0.0.0.0");
    assert_int_equal(c->listen_port, 9999);
    assert_string_equal(c->redis_host, "cache");
    assert_int_equal(c->redis_port, 7001);
    assert_int_equal(c->redis_db, 4);
    assert_string_equal(c->redis_password, "pw!");
    assert_int_equal(c->redis_timeout_ms, 2000);
    assert_int_equal(c->leeway_s, 30);
    assert_int_equal(c->token_cache_entries, 0);
    assert_int_equal(c->ninstances, 1);
    assert_int_equal(c->instances[0].license_limit, 42);
    assert_int_equal(c->instances[0].sliding_ms, 300000);
    assert_null(c->instances[0].audience);
    assert_string_equal(c->instances[0].issuer, "https://idp.example");
}

static void test_env_alone(void **state) {
    fixture *f = *state;
    char *envp[] = {
        "SESSIOND_INSTANCES_0_NAME=env",
        "SESSIOND_INSTANCES_0_ISSUER=https://idp.env",
        "SESSIOND_INSTANCES_0_HMAC_SECRET=0123456789abcdef0123456789abcdef",
        "SESSIOND_INSTANCES_0_LICENSE_LIMIT=3",
        "SESSIOND_INSTANCES_0_HOSTS=a.example, b.example ,c.example",
        "SESSIOND_INSTANCES_0_BINDING=token,sid",
        "SESSIOND_INSTANCES_0_PEM_KEYS=/k1.pem#kid1,/k2.pem",
        "SESSIOND_REPLICA_ID=r1",
        NULL,
    };
    int rc = load_path(f, NULL, envp);
    if (rc != 0) fail_msg("load failed (%d): %s", rc, f->err);
    const sd_config *c = f->cfg;
    assert_string_equal(c->replica_id, "r1");
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->ninstances, 1);
    const sd_instance_config *in = &c->instances[0];
    assert_string_equal(in->name, "env");
    assert_string_equal(in->issuer, "https://idp.env");
    assert_string_equal(in->hmac_secret, "0123456789abcdef0123456789abcdef");
    assert_int_equal(in->license_limit, 3);
    assert_int_equal(in->nhosts, 3);
    assert_string_equal(in->hosts[0], "a.example");
    assert_string_equal(in->hosts[1], "b.example");
    assert_string_equal(in->hosts[2], "c.example");
    assert_int_equal(in->nbinding, 2);
    assert_int_equal(in->binding[0], SD_BIND_TOKEN);
    assert_int_equal(in->binding[1], SD_BIND_SID);
    assert_int_equal(in->npem_keys, 2);
    assert_string_equal(in->pem_keys[0].path, "/k1.pem");
    assert_string_equal(in->pem_keys[0].kid, "kid1");
    assert_string_equal(in->pem_keys[1].path, "/k2.pem");
    assert_null(in->pem_keys[1].kid);
    assert_int_equal(in->sliding_ms, 1200000);
    assert_int_equal(in->absolute_ms, 3600000);
}

static void test_env_adds_instance(void **state) {
    fixture *f = *state;
    char *envp[] = {
        "SESSIOND_INSTANCES_1_LICENSE_LIMIT=9",
        "SESSIOND_INSTANCES_1_NAME=second",
        "SESSIOND_INSTANCES_1_ISSUER=i2",
        "SESSIOND_INSTANCES_1_JWKS_FILE=/j2",
        NULL,
    };
    int rc = load_with(f, "", "", envp);
    if (rc != 0) fail_msg("load failed (%d): %s", rc, f->err);
    assert_int_equal(f->cfg->ninstances, 2);
    assert_string_equal(f->cfg->instances[0].name, "app");
    assert_string_equal(f->cfg->instances[1].name, "second");
    assert_int_equal(f->cfg->instances[1].license_limit, 9);
    assert_int_equal(f->cfg->instances[1].sliding_ms, 1200000);

    /* A gap leaves an empty instance that validation names. */
    char *gap[] = {"SESSIOND_INSTANCES_2_NAME=third", NULL};
    assert_int_equal(load_with(f, "", "", gap), SD_EINVAL);
    assert_string_equal(f->err, "instances[1].name: required");
}

static void test_env_errors(void **state) {
    fixture *f = *state;
    char *unknown[] = {"SESSIOND_LISTEN=0.0.0.0:1", "SESSIOND_LISTN=x", NULL};
    assert_int_equal(load_with(f, "", "", unknown), SD_EINVAL);
    assert_string_equal(f->err, "SESSIOND_LISTN: unknown environment variable");

    char *unknown_inst[] = {"SESSIOND_INSTANCES_0_COLOUR=red", NULL};
    assert_int_equal(load_with(f, "", "", unknown_inst), SD_EINVAL);
    assert_string_equal(f->err, "SESSIOND_INSTANCES_0_COLOUR: unknown "
                                "environment variable");

    char *object[] = {"SESSIOND_REDIS=x", NULL};
    assert_int_equal(load_with(f, "", "", object), SD_EINVAL);
    assert_string_equal(f->err, "SESSIOND_REDIS: unknown environment variable");

    char *lower[] = {"SESSIOND_listen=0.0.0.0:1", NULL};
    assert_int_equal(load_with(f, "", "", lower), SD_EINVAL);
    assert_string_equal(f->err, "SESSIOND_listen: unknown environment variable");

    char *leading_zero[] = {"SESSIOND_INSTANCES_00_NAME=x", NULL};
    assert_int_equal(load_with(f, "", "", leading_zero), SD_EINVAL);
    assert_string_equal(f->err, "SESSIOND_INSTANCES_00_NAME: unknown "
                                "environment variable");

    char *big_index[] = {"SESSIOND_INSTANCES_256_NAME=x", NULL};
    assert_int_equal(load_with(f, "", "", big_index), SD_EINVAL);
    assert_string_equal(f->err, "SESSIOND_INSTANCES_256_NAME: instance index "
                                "must be below 256");

    char *bad_int[] = {"SESSIOND_INSTANCES_0_LICENSE_LIMIT=ten", NULL};
    assert_int_equal(load_with(f, "", "", bad_int), SD_EINVAL);
    assert_string_equal(f->err, "instances[0].license_limit: must be an integer >= 0 "
                                "(from SESSIOND_INSTANCES_0_LICENSE_LIMIT)");

    char *negative[] = {"SESSIOND_INSTANCES_0_LICENSE_LIMIT=-1", NULL};
    assert_int_equal(load_with(f, "", "", negative), SD_EINVAL);
    assert_contains(f->err, "(from SESSIOND_INSTANCES_0_LICENSE_LIMIT)");

    char *overflow[] = {"SESSIOND_SWEEP_BATCH=99999999999999999999", NULL};
    assert_int_equal(load_with(f, "", "", overflow), SD_EINVAL);
    assert_string_equal(f->err, "sweep_batch: must be an integer from 1 to "
                                "1000000 (from SESSIOND_SWEEP_BATCH)");

    char *bad_duration[] = {"SESSIOND_INSTANCES_0_SLIDING=5x", NULL};
    assert_int_equal(load_with(f, "", "", bad_duration), SD_EINVAL);
    assert_string_equal(f->err, "instances[0].sliding" DURATION_MSG_GT0
                                " (from SESSIOND_INSTANCES_0_SLIDING)");

    char *bad_listen[] = {"SESSIOND_LISTEN=127.0.0.1:65536", NULL};
    assert_int_equal(load_with(f, "", "", bad_listen), SD_EINVAL);
    assert_string_equal(f->err, "listen: port must be a number from 1 to 65535 "
                                "(from SESSIOND_LISTEN)");

    char *bad_binding[] = {"SESSIOND_INSTANCES_0_BINDING=sid,jwt", NULL};
    assert_int_equal(load_with(f, "", "", bad_binding), SD_EINVAL);
    assert_string_equal(f->err, "instances[0].binding[1]: must be one of "
                                "\"sid\", \"subject\", \"token\" (from "
                                "SESSIOND_INSTANCES_0_BINDING)");

    char *empty_host[] = {"SESSIOND_INSTANCES_0_HOSTS=a.example,", NULL};
    assert_int_equal(load_with(f, "", "", empty_host), SD_EINVAL);
    assert_string_equal(f->err, "instances[0].hosts[1]: must be a host name "
                                "without spaces");
}

static void test_env_ignores_other_variables(void **state) {
    fixture *f = *state;
    char *envp[] = {
        "HOME=/root",
        "sessiond_listen=bad",
        "SESSIOND=bad",
        "XSESSIOND_LISTEN=bad",
        "SESSIOND_LISTEN_NO_EQUALS",
        "SESSIONDX_A=b",
        "SESSIOND_CONFIG=/etc/sessiond.json",
        NULL,
    };
    int rc = load_with(f, "", "", envp);
    if (rc != 0) fail_msg("load failed (%d): %s", rc, f->err);
    assert_string_equal(f->cfg->listen_host, "127.0.0.1");
    assert_int_equal(f->cfg->listen_port, 8080);

    /* Empty hosts variable clears the file's list. */
    char *clear[] = {"SESSIOND_INSTANCES_0_HOSTS=", NULL};
    rc = load_with(f, "", ",'hosts':['a.example']", clear);
    if (rc != 0) fail_msg("load failed (%d): %s", rc, f->err);
    assert_int_equal(f->cfg->instances[0].nhosts, 0);
}

static void test_no_file_no_env(void **state) {
    fixture *f = *state;
    assert_int_equal(load_path(f, NULL, NULL), SD_EINVAL);
    assert_string_equal(f->err, "instances: at least one instance is required");
}

/* ------------------------------------------------------------------------
 * Licensing fields: reserved seats, per-subject cap, service claim
 * ------------------------------------------------------------------------ */

static void test_licensing_fields(void **state) {
    fixture *f = *state;
    ok_with(f, "'events_max':1,",
            ",'reserved':['alice','bob'],'max_sessions_per_subject':2,"
            "'service_claim':{'name':'client_type','value':'service'}");
    const sd_instance_config *in = &f->cfg->instances[0];
    assert_int_equal(f->cfg->events_max, 1);
    assert_int_equal(in->nreserved, 2);
    assert_string_equal(in->reserved[0], "alice");
    assert_string_equal(in->reserved[1], "bob");
    assert_int_equal(in->max_sessions_per_subject, 2);
    assert_string_equal(in->service_claim_name, "client_type");
    assert_string_equal(in->service_claim_value, "service");

    fails_with(f, "'events_max':0,", "",
               "events_max: must be an integer from 1 to 100000000");
    fails_with(f, "", ",'max_sessions_per_subject':-1",
               "instances[0].max_sessions_per_subject: must be an integer "
               "from 0 to 1000000");
    fails_with(f, "", ",'reserved':['a','b','c','d','e','f']",
               "instances[0].reserved: 6 subjects but license_limit is 5");
    fails_with(f, "", ",'reserved':['a','a']",
               "instances[0].reserved: \"a\" is listed twice");
    fails_with(f, "", ",'reserved':['']",
               "instances[0].reserved: subjects must not be empty");
    fails_with(f, "", ",'reserved':['a\\nb']",
               "instances[0].reserved: subjects must not contain control characters "
               "(C0, DEL or C1): no token can carry them");
    fails_with(f, "", ",'reserved':['ok','nel\\u0085']",
               "instances[0].reserved: subjects must not contain control characters "
               "(C0, DEL or C1): no token can carry them");
    fails_with(f, "", ",'service_claim':{'name':'client_type'}",
               "instances[0].service_claim: needs both a non-empty \"name\" "
               "and a \"value\"");
    fails_with(f, "", ",'service_claim':{'name':'t','scope':'x'}",
               "instances[0].service_claim.scope: unknown field");
    fails_with(f, "", ",'service_claim':'t=x'",
               "instances[0].service_claim: must be an object");
}

/* A nested object inside an instance is reachable from the environment. */
static void test_env_licensing_fields(void **state) {
    fixture *f = *state;
    char *envp[] = {
        "SESSIOND_INSTANCES_0_SERVICE_CLAIM_NAME=client_type",
        "SESSIOND_INSTANCES_0_SERVICE_CLAIM_VALUE=service",
        "SESSIOND_INSTANCES_0_RESERVED=alice, bob",
        "SESSIOND_INSTANCES_0_MAX_SESSIONS_PER_SUBJECT=3",
        "SESSIOND_EVENTS_MAX=500",
        NULL,
    };
    int rc = load_with(f, "", "", envp);
    if (rc != 0) fail_msg("load failed (%d): %s", rc, f->err);
    const sd_instance_config *in = &f->cfg->instances[0];
    assert_string_equal(in->service_claim_name, "client_type");
    assert_string_equal(in->service_claim_value, "service");
    assert_int_equal(in->nreserved, 2);
    assert_string_equal(in->reserved[1], "bob");
    assert_int_equal(in->max_sessions_per_subject, 3);
    assert_int_equal(f->cfg->events_max, 500);

    char *bad[] = {"SESSIOND_INSTANCES_0_SERVICE_CLAIM=x", NULL};
    assert_int_equal(load_with(f, "", "", bad), SD_EINVAL);
    assert_string_equal(f->err, "SESSIOND_INSTANCES_0_SERVICE_CLAIM: unknown "
                                "environment variable");
}

/* ------------------------------------------------------------------------
 * Lookup and free
 * ------------------------------------------------------------------------ */

static void test_instance_lookup(void **state) {
    fixture *f = *state;
    int rc = load(f,
                  "{'instances':[{" MIN_INSTANCE "},{'name':'other','issuer':'i',"
                  "'jwks_file':'/j','license_limit':0}]}",
                  NULL);
    if (rc != 0) fail_msg("load failed (%d): %s", rc, f->err);
    assert_ptr_equal(sd_config_instance(f->cfg, "app"), &f->cfg->instances[0]);
    assert_ptr_equal(sd_config_instance(f->cfg, "other"), &f->cfg->instances[1]);
    assert_null(sd_config_instance(f->cfg, "APP"));
    assert_null(sd_config_instance(f->cfg, "nope"));
    assert_null(sd_config_instance(f->cfg, NULL));
    assert_null(sd_config_instance(NULL, "app"));
}

static void test_free_null_and_err_optional(void **state) {
    fixture *f = *state;
    sd_config_free(NULL);

    /* err may be NULL: the code still tells what went wrong. */
    sd_config *cfg = (sd_config *)1;
    assert_int_equal(sd_config_load(NULL, NULL, &cfg, NULL, 0), SD_EINVAL);
    assert_null(cfg);

    /* A short buffer is cut, never overrun. */
    char small[8];
    write_json(f, "{}");
    assert_int_equal(sd_config_load(f->path, NULL, &cfg, small, sizeof small), SD_EINVAL);
    assert_string_equal(small, "instanc");
}

/* http_timeout: the HTTP connections' inactivity cut-off (slowloris), in
 * milliseconds from 100 ms to 1 h; the environment sets it too. */
static void test_http_timeout(void **state) {
    fixture *f = *state;
    ok_with(f, "'http_timeout':'100ms',", "");
    assert_int_equal(f->cfg->http_timeout_ms, 100);
    ok_with(f, "'http_timeout':'1h',", "");
    assert_int_equal(f->cfg->http_timeout_ms, 3600000);
    ok_with(f, "'http_timeout':1500,", "");
    assert_int_equal(f->cfg->http_timeout_ms, 1500);
    const char *want = "http_timeout: must be a duration from 100ms to 1h, e.g. \"30s\" "
                       "or integer milliseconds";
    fails_with(f, "'http_timeout':'99ms',", "", want);
    fails_with(f, "'http_timeout':'61m',", "", want);
    fails_with(f, "'http_timeout':0,", "", want);
    fails_with(f, "'http_timeout':'soon',", "", want);
    char *env[] = {"SESSIOND_HTTP_TIMEOUT=2s", NULL};
    assert_int_equal(load_with(f, "'http_timeout':'5s',", "", env), 0);
    assert_int_equal(f->cfg->http_timeout_ms, 2000);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_every_root_field_set),
        T(test_every_instance_field_set),
        T(test_durations_valid),
        T(test_durations_invalid),
        T(test_leeway_whole_seconds),
        T(test_http_timeout),
        T(test_integers_in_range),
        T(test_integers_out_of_range),
        T(test_strings_wrong_types),
        T(test_hosts),
        T(test_pem_keys),
        T(test_binding),
        T(test_listen_forms),
        T(test_redis_url_forms),
        T(test_redis_url_errors),
        T(test_redis_password_never_in_messages),
        T(test_unknown_members),
        T(test_redis_topologies),
        T(test_invalid_json),
        T(test_missing_file),
        T(test_instance_rules),
        T(test_env_overrides_file),
        T(test_env_alone),
        T(test_env_adds_instance),
        T(test_env_errors),
        T(test_env_ignores_other_variables),
        T(test_no_file_no_env),
        T(test_licensing_fields),
        T(test_env_licensing_fields),
        T(test_instance_lookup),
        T(test_free_null_and_err_optional),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
