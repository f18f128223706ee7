/* Session kind, binding rules and script-reply parsing (SPEC §3, §4),
 * without Redis: the pure parts of src/session/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session/session.h"
#include "sessiond/error.h"
#include "store/script_result.h"

/* ------------------------------------------------------------------------
 * Fixtures
 * ------------------------------------------------------------------------ */

static sd_claims make_claims(const char *sub, const char *client, const char *sid,
                             const char *jti, unsigned char hash_tag) {
    sd_claims c = {.sub = sub, .client_id = client, .sid = sid, .jti = jti, .refs = 1};
    memset(c.token_sha256, hash_tag, sizeof c.token_sha256);
    return c;
}

/* An instance named "acme" with the given rule list. */
static void make_instance(sd_instance *inst, sd_instance_config *cfg,
                          const sd_binding_rule *rules, size_t n) {
    memset(inst, 0, sizeof *inst);
    memset(cfg, 0, sizeof *cfg);
    cfg->name = "acme";
    for (size_t i = 0; i < n; i++)
        cfg->binding[i] = rules[i];
    cfg->nbinding = n;
    inst->cfg = cfg;
    snprintf(inst->prefix, sizeof inst->prefix, "sd:{acme}:");
    inst->prefix_len = strlen(inst->prefix);
}

static const sd_binding_rule default_rules[] = {SD_BIND_SID, SD_BIND_SUBJECT,
                                                SD_BIND_TOKEN};

static void binding(const sd_instance *inst, const sd_claims *c, sd_binding *b) {
    sd_binding_of(inst, c, sd_session_kind_of(c), b);
}

/* ------------------------------------------------------------------------
 * Kind
 * ------------------------------------------------------------------------ */

static void test_kind(void **state) {
    (void)state;
    sd_claims no_sub = make_claims(NULL, "batch", NULL, NULL, 1);
    sd_claims sub_is_client = make_claims("batch", "batch", NULL, NULL, 1);
    sd_claims user = make_claims("alice", "erp-web", NULL, NULL, 1);
    sd_claims user_no_client = make_claims("alice", NULL, NULL, NULL, 1);
    assert_int_equal(sd_session_kind_of(&no_sub), SD_KIND_SERVICE);
    assert_int_equal(sd_session_kind_of(&sub_is_client), SD_KIND_SERVICE);
    assert_int_equal(sd_session_kind_of(&user), SD_KIND_INTERACTIVE);
    assert_int_equal(sd_session_kind_of(&user_no_client), SD_KIND_INTERACTIVE);
    assert_string_equal(sd_session_kind_name(SD_KIND_SERVICE), "service");
    assert_string_equal(sd_session_kind_name(SD_KIND_INTERACTIVE), "interactive");
}

/* ------------------------------------------------------------------------
 * Binding
 * ------------------------------------------------------------------------ */

static void test_binding_key_shape(void **state) {
    (void)state;
    sd_instance inst;
    sd_instance_config cfg;
    make_instance(&inst, &cfg, default_rules, 3);
    sd_claims c = make_claims("alice", "erp-web", "s-1", "j-1", 1);
    sd_binding b;
    binding(&inst, &c, &b);
    /* "sd:{acme}:binding:" + 32 lowercase hex digits, nothing else. */
    assert_int_equal(b.key_len, strlen("sd:{acme}:binding:") + 32);
    assert_int_equal(strlen(b.key), b.key_len);
    assert_memory_equal(b.key, "sd:{acme}:binding:", 18);
    for (size_t i = 18; i < b.key_len; i++)
        assert_non_null(strchr("0123456789abcdef", b.key[i]));
    assert_string_equal(b.desc, "sid:s-1");
    assert_int_equal(b.desc_len, 7);
}

static void test_refreshed_token_with_same_sid_same_binding(void **state) {
    (void)state;
    sd_instance inst;
    sd_instance_config cfg;
    make_instance(&inst, &cfg, default_rules, 3);
    sd_claims first = make_claims("alice", "erp-web", "s-1", "j-1", 1);
    sd_claims refreshed = make_claims("alice", "erp-web", "s-1", "j-2", 2);
    sd_claims other_sid = make_claims("alice", "erp-web", "s-2", "j-3", 3);
    sd_claims other_client = make_claims("alice", "erp-mobile", "s-1", "j-4", 4);
    sd_binding a, b, c, d;
    binding(&inst, &first, &a);
    binding(&inst, &refreshed, &b);
    binding(&inst, &other_sid, &c);
    binding(&inst, &other_client, &d);
    assert_string_equal(a.key, b.key);
    assert_string_not_equal(a.key, c.key);
    /* Same sid, another client: another session. */
    assert_string_not_equal(a.key, d.key);
}

/* A sid names one user's login at the identity server. Should a server
 * reuse it across users (or send a constant one), the users still get a
 * session each: the subject is part of every binding. */
static void test_same_sid_other_subject_other_session(void **state) {
    (void)state;
    sd_instance inst;
    sd_instance_config cfg;
    make_instance(&inst, &cfg, default_rules, 3);
    sd_claims alice = make_claims("alice", "erp-web", "shared-1", "j-1", 1);
    sd_claims bob = make_claims("bob", "erp-web", "shared-1", "j-2", 2);
    sd_claims alice_again = make_claims("alice", "erp-web", "shared-1", "j-3", 3);
    sd_binding a, b, c;
    binding(&inst, &alice, &a);
    binding(&inst, &bob, &b);
    binding(&inst, &alice_again, &c);
    assert_string_not_equal(a.key, b.key);
    assert_string_equal(a.key, c.key);
    assert_string_equal(a.desc, "sid:shared-1");
    assert_string_equal(b.desc, "sid:shared-1");
}

static void test_interactive_without_sid_binds_to_subject(void **state) {
    (void)state;
    sd_instance inst;
    sd_instance_config cfg;
    make_instance(&inst, &cfg, default_rules, 3);
    sd_claims t1 = make_claims("alice", "erp-web", NULL, "j-1", 1);
    sd_claims t2 = make_claims("alice", "erp-web", NULL, "j-2", 2);
    sd_claims bob = make_claims("bob", "erp-web", NULL, "j-3", 3);
    sd_binding a, b, c;
    binding(&inst, &t1, &a);
    binding(&inst, &t2, &b);
    binding(&inst, &bob, &c);
    assert_string_equal(a.key, b.key);
    assert_string_not_equal(a.key, c.key);
    assert_string_equal(a.desc, "sub");
}

static void test_service_token_is_its_own_session(void **state) {
    (void)state;
    sd_instance inst;
    sd_instance_config cfg;
    make_instance(&inst, &cfg, default_rules, 3);
    /* sub == client_id: service, so the subject rule does not apply. */
    sd_claims j1 = make_claims("batch", "batch", NULL, "j-1", 1);
    sd_claims j2 = make_claims("batch", "batch", NULL, "j-2", 2);
    sd_claims h1 = make_claims(NULL, "batch", NULL, NULL, 5);
    sd_claims h2 = make_claims(NULL, "batch", NULL, NULL, 6);
    sd_binding a, b, c, d;
    binding(&inst, &j1, &a);
    binding(&inst, &j2, &b);
    binding(&inst, &h1, &c);
    binding(&inst, &h2, &d);
    assert_string_not_equal(a.key, b.key);
    assert_string_equal(a.desc, "jti:j-1");
    /* No jti: the token's hash. */
    assert_string_not_equal(c.key, d.key);
    assert_int_equal(strncmp(c.desc, "token:", 6), 0);
    assert_int_equal(strlen(c.desc), 6 + 16);
}

static void test_rule_list_is_configurable(void **state) {
    (void)state;
    sd_instance inst;
    sd_instance_config cfg;
    const sd_binding_rule token_only[] = {SD_BIND_TOKEN};
    make_instance(&inst, &cfg, token_only, 1);
    /* With only the token rule, a refreshed token is a new session. */
    sd_claims first = make_claims("alice", "erp-web", "s-1", "j-1", 1);
    sd_claims refreshed = make_claims("alice", "erp-web", "s-1", "j-2", 2);
    sd_binding a, b;
    binding(&inst, &first, &a);
    binding(&inst, &refreshed, &b);
    assert_string_not_equal(a.key, b.key);
    assert_string_equal(a.desc, "jti:j-1");

    const sd_binding_rule subject_first[] = {SD_BIND_SUBJECT, SD_BIND_SID};
    make_instance(&inst, &cfg, subject_first, 2);
    sd_claims other_sid = make_claims("alice", "erp-web", "s-9", "j-3", 3);
    binding(&inst, &first, &a);
    binding(&inst, &other_sid, &b);
    assert_string_equal(a.key, b.key);
    assert_string_equal(a.desc, "sub");
}

static void test_long_sid_description_is_cut(void **state) {
    (void)state;
    sd_instance inst;
    sd_instance_config cfg;
    make_instance(&inst, &cfg, default_rules, 3);
    char sid[500];
    memset(sid, 'x', sizeof sid - 1);
    sid[sizeof sid - 1] = '\0';
    sd_claims c = make_claims("alice", "erp-web", sid, NULL, 1);
    sd_binding b;
    binding(&inst, &c, &b);
    assert_int_equal(b.desc_len, 4 + 64);
    assert_int_equal(strlen(b.desc), b.desc_len);
    assert_int_equal(b.key_len, strlen("sd:{acme}:binding:") + 32);
}

/* ------------------------------------------------------------------------
 * Script replies
 * ------------------------------------------------------------------------ */

/* A hand-built reply array of n elements: integers, or strings where
 * strings[i] is not NULL. */
typedef struct fake_reply {
    redisReply top;
    redisReply el[10];
    redisReply *ptrs[10];
} fake_reply;

static void fake(fake_reply *f, size_t n, const long long *ints, const char **strings) {
    memset(f, 0, sizeof *f);
    f->top.type = REDIS_REPLY_ARRAY;
    f->top.elements = n;
    f->top.element = f->ptrs;
    for (size_t i = 0; i < n; i++) {
        f->ptrs[i] = &f->el[i];
        if (strings && strings[i]) {
            f->el[i].type = REDIS_REPLY_STRING;
            f->el[i].str = (char *)strings[i];
            f->el[i].len = strlen(strings[i]);
        } else {
            f->el[i].type = REDIS_REPLY_INTEGER;
            f->el[i].integer = ints[i];
        }
    }
}

static void test_parse_opened_resumed_denied_closed(void **state) {
    (void)state;
    fake_reply f;
    sd_session_result r;
    const char *opened_s[] = {NULL, "abcDEF_-123", NULL, NULL, NULL,
                              NULL, NULL,          NULL, NULL};
    const long long opened_i[] = {SD_SCRIPT_OPENED, 0, 1000, 2200, 1, 3, 5, 2, 1};
    fake(&f, 9, opened_i, opened_s);
    assert_int_equal(sd_session_parse(&f.top, &r), 0);
    assert_int_equal(r.code, SD_SCRIPT_OPENED);
    assert_string_equal(r.id, "abcDEF_-123");
    assert_int_equal(r.opened_at_ms, 1000);
    assert_int_equal(r.expires_at_ms, 2200);
    assert_int_equal(r.requests, 1);
    assert_int_equal(r.used, 3);
    assert_int_equal(r.limit, 5);
    assert_int_equal(r.closed_idle, 2);
    assert_int_equal(r.closed_absolute, 1);

    const long long denied_i[] = {SD_SCRIPT_DENIED, 1500, 5, 5, 0, 0, 4};
    const char *license_s[] = {NULL, NULL, NULL, NULL, "license_limit", NULL, NULL};
    fake(&f, 7, denied_i, license_s);
    assert_int_equal(sd_session_parse(&f.top, &r), 0);
    assert_int_equal(r.code, SD_SCRIPT_DENIED);
    assert_int_equal(r.denied, SD_ELICENSE_LIMIT);
    assert_int_equal(r.retry_after_ms, 1500);
    assert_int_equal(r.used, 5);
    assert_int_equal(r.limit, 5);
    assert_int_equal(r.closed_idle, 0);
    assert_int_equal(r.closed_absolute, 4);
    /* A subject's denial adds the subject's sessions and cap; without
     * them the reply is malformed. */
    const long long subject_i[] = {SD_SCRIPT_DENIED, 1500, 5, 10, 0, 0, 4, 3, 2};
    const char *subject_s[] = {NULL, NULL, NULL, NULL, "subject_limit",
                               NULL, NULL, NULL, NULL};
    fake(&f, 9, subject_i, subject_s);
    assert_int_equal(sd_session_parse(&f.top, &r), 0);
    assert_int_equal(r.denied, SD_ESUBJECT_LIMIT);
    assert_int_equal(r.used, 5);
    assert_int_equal(r.limit, 10);
    assert_int_equal(r.subject_sessions, 3);
    assert_int_equal(r.subject_limit, 2);
    fake(&f, 7, denied_i, subject_s);
    assert_int_equal(sd_session_parse(&f.top, &r), SD_ESTORE_REPLY);

    const long long revoked_i[] = {SD_SCRIPT_REVOKED};
    fake(&f, 1, revoked_i, NULL);
    assert_int_equal(sd_session_parse(&f.top, &r), 0);
    assert_int_equal(r.code, SD_SCRIPT_REVOKED);

    const char *closed_s[] = {NULL, "xyz"};
    const long long closed_i[] = {SD_SCRIPT_CLOSED, 0};
    fake(&f, 2, closed_i, closed_s);
    assert_int_equal(sd_session_parse(&f.top, &r), 0);
    assert_int_equal(r.code, SD_SCRIPT_CLOSED);
    assert_string_equal(r.id, "xyz");

    const long long none_i[] = {SD_SCRIPT_NONE, 1, 0};
    fake(&f, 3, none_i, NULL);
    assert_int_equal(sd_session_parse(&f.top, &r), 0);
    assert_int_equal(r.code, SD_SCRIPT_NONE);
    assert_int_equal(r.closed_idle, 1);
    assert_int_equal(r.closed_absolute, 0);
}

static void test_parse_rejects_other_shapes(void **state) {
    (void)state;
    fake_reply f;
    sd_session_result r;
    assert_int_equal(sd_session_parse(NULL, &r), SD_ESTORE_REPLY);

    redisReply err = {.type = REDIS_REPLY_ERROR, .str = "ERR boom", .len = 8};
    assert_int_equal(sd_session_parse(&err, &r), SD_ESTORE_REPLY);

    const long long unknown[] = {99};
    fake(&f, 1, unknown, NULL);
    assert_int_equal(sd_session_parse(&f.top, &r), SD_ESTORE_REPLY);

    /* Opened, but one element short. */
    const char *short_s[] = {NULL, "id", NULL, NULL, NULL, NULL, NULL, NULL};
    const long long short_i[] = {SD_SCRIPT_OPENED, 0, 1, 2, 3, 4, 5, 6};
    fake(&f, 8, short_i, short_s);
    assert_int_equal(sd_session_parse(&f.top, &r), SD_ESTORE_REPLY);

    /* Opened, but the id is an integer. */
    const long long bad_id[] = {SD_SCRIPT_OPENED, 7, 1, 2, 3, 4, 5, 0, 0};
    fake(&f, 9, bad_id, NULL);
    assert_int_equal(sd_session_parse(&f.top, &r), SD_ESTORE_REPLY);

    /* Denied without a reason, and with an unknown one. */
    const long long denied_short[] = {SD_SCRIPT_DENIED, 1, 2, 3};
    fake(&f, 4, denied_short, NULL);
    assert_int_equal(sd_session_parse(&f.top, &r), SD_ESTORE_REPLY);
    const long long denied_i[] = {SD_SCRIPT_DENIED, 1, 2, 3, 0, 0, 0};
    const char *odd_s[] = {NULL, NULL, NULL, NULL, "moon_phase", NULL, NULL};
    fake(&f, 7, denied_i, odd_s);
    assert_int_equal(sd_session_parse(&f.top, &r), SD_ESTORE_REPLY);

    /* Closed without an id. */
    const long long closed_short[] = {SD_SCRIPT_CLOSED};
    fake(&f, 1, closed_short, NULL);
    assert_int_equal(sd_session_parse(&f.top, &r), SD_ESTORE_REPLY);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_binding_key_shape),
        cmocka_unit_test(test_refreshed_token_with_same_sid_same_binding),
        cmocka_unit_test(test_same_sid_other_subject_other_session),
        cmocka_unit_test(test_interactive_without_sid_binds_to_subject),
        cmocka_unit_test(test_service_token_is_its_own_session),
        cmocka_unit_test(test_rule_list_is_configurable),
        cmocka_unit_test(test_long_sid_description_is_cut),
        cmocka_unit_test(test_parse_opened_resumed_denied_closed),
        cmocka_unit_test(test_parse_rejects_other_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
