/* Exercises every function of the cluster API from C.
 * Usage: test_cluster BOOK_MANIFESTS.yaml PLAN_OUT.json */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn2.h"

static int failures = 0;
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(2); }
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

static cn2_result apply(cn2_cluster *c, const char *text) { return cn2_cluster_apply(c, text, strlen(text)); }

/* The handle's last error, checked to contain `needle`. */
static void last_error_contains(cn2_cluster *c, const char *needle) {
    char *err = NULL;
    size_t len = 0;
    CHECK(cn2_cluster_last_error(c, &err, &len) == CN2_OK);
    CHECK(err != NULL && strlen(err) == len);
    if (err && !strstr(err, needle)) {
        fprintf(stderr, "last error lacks \"%s\": %s\n", needle, err);
        failures++;
    }
    cn2_string_free(err);
}

static char *plan(cn2_cluster *c) {
    char *json = NULL;
    size_t len = 0;
    CHECK(cn2_cluster_plan_json(c, &json, &len) == CN2_OK);
    CHECK(json != NULL && strlen(json) == len);
    return json;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s BOOK.yaml PLAN_OUT.json\n", argv[0]); return 2; }

    /* Version and messages. */
    const char *v = cn2_version();
    CHECK(v != NULL && strlen(v) > 0);
    char buf[8];
    size_t full = cn2_result_message(CN2_NULL_PARAMETER, buf, sizeof buf);
    CHECK(full > sizeof buf && strlen(buf) == sizeof buf - 1);
    CHECK(cn2_result_message(CN2_OK, NULL, 0) == strlen("success"));
    char big[256];
    for (cn2_result r = CN2_OK; r <= CN2_INTERNAL; r++) {
        CHECK(cn2_result_message(r, big, sizeof big) > 0 && big[0] != 0);
    }

    /* NULL is harmless everywhere. */
    cn2_cluster_free(NULL);
    cn2_string_free(NULL);
    char *out = NULL;
    size_t out_len = 0;
    CHECK(cn2_cluster_apply(NULL, "x", 1) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_delete(NULL, "x", 1) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_plan_json(NULL, &out, &out_len) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_last_error(NULL, &out, &out_len) == CN2_NULL_PARAMETER);

    cn2_cluster *c = cn2_cluster_new();
    CHECK(c != NULL);
    CHECK(cn2_cluster_apply(c, NULL, 3) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_delete(c, NULL, 3) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_plan_json(c, NULL, &out_len) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_plan_json(c, &out, NULL) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_last_error(c, NULL, &out_len) == CN2_NULL_PARAMETER);

    /* Invalid UTF-8. */
    const char bad_utf8[] = "kind: Namespace\nmetadata: {name: \xff\xfe}\n";
    CHECK(cn2_cluster_apply(c, bad_utf8, sizeof bad_utf8 - 1) == CN2_INVALID_UTF8);

    /* Malformed YAML: an error naming the problem, and the handle still usable. */
    CHECK(apply(c, "apiVersion: v1\nkind: Service\nmetadata: {name: [\n") == CN2_PARSE_ERROR);
    last_error_contains(c, "line");

    size_t book_len = 0;
    char *book = read_file(argv[1], &book_len);
    CHECK(cn2_cluster_apply(c, book, book_len) == CN2_OK);
    free(book);
    char *json = plan(c);
    CHECK(strstr(json, "\"101.101.101.2\"") != NULL);
    FILE *f = fopen(argv[2], "wb");
    if (!f) { perror(argv[2]); return 2; }
    fwrite(json, 1, strlen(json), f);
    fclose(f);
    cn2_string_free(json);

    /* A selector from a service's members in the plan. */
    static const char ns[] = "ns-user-1", web[] = "service-web-clusterip";
    cn2_selector *sel = NULL;
    CHECK(cn2_cluster_selector(c, ns, strlen(ns), web, strlen(web), 6, 8888, CN2_LB_MAGLEV, &sel) == CN2_OK);
    CHECK(sel != NULL);
    cn2_five_tuple t;
    memset(&t, 0, sizeof t);
    t.protocol = 6;
    t.src.family = 4;
    t.src.bytes[0] = 10; t.src.bytes[1] = 47; t.src.bytes[2] = 255; t.src.bytes[3] = 250;
    t.src_port = 40000;
    t.dst.family = 4;
    t.dst.bytes[0] = 10; t.dst.bytes[1] = 96; t.dst.bytes[2] = 100; t.dst.bytes[3] = 10;
    t.dst_port = 8888;
    int seen[2] = {0, 0};
    for (uint16_t port = 40000; port < 40064; port++) {
        cn2_member m;
        t.src_port = port;
        CHECK(cn2_selector_select(sel, &t, &m) == CN2_OK);
        /* The members of the listener: 10.47.255.238:80 and 10.47.255.237:80. */
        CHECK(m.address.family == 4 && m.port == 80 && m.weight == 1);
        CHECK(m.address.bytes[0] == 10 && m.address.bytes[1] == 47 && m.address.bytes[2] == 255);
        CHECK(m.address.bytes[3] == 238 || m.address.bytes[3] == 237);
        seen[m.address.bytes[3] == 238]++;
    }
    CHECK(seen[0] > 0 && seen[1] > 0);
    cn2_selector_free(sel);
    sel = NULL;
    CHECK(cn2_cluster_selector(c, ns, strlen(ns), web, strlen(web), 6, 8888, CN2_LB_ECMP, &sel) == CN2_OK);
    cn2_selector_free(sel);
    sel = NULL;
    /* NULL for each pointer argument, then what does not exist. */
    CHECK(cn2_cluster_selector(NULL, ns, strlen(ns), web, strlen(web), 6, 8888, CN2_LB_MAGLEV, &sel) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_selector(c, NULL, 9, web, strlen(web), 6, 8888, CN2_LB_MAGLEV, &sel) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_selector(c, ns, strlen(ns), NULL, 3, 6, 8888, CN2_LB_MAGLEV, &sel) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_selector(c, ns, strlen(ns), web, strlen(web), 6, 8888, CN2_LB_MAGLEV, NULL) == CN2_NULL_PARAMETER);
    CHECK(cn2_cluster_selector(c, ns, strlen(ns), "nope", 4, 6, 8888, CN2_LB_MAGLEV, &sel) == CN2_NOT_FOUND);
    CHECK(cn2_cluster_selector(c, ns, strlen(ns), web, strlen(web), 6, 9999, CN2_LB_MAGLEV, &sel) == CN2_NOT_FOUND);
    CHECK(cn2_cluster_selector(c, ns, strlen(ns), web, strlen(web), 17, 8888, CN2_LB_MAGLEV, &sel) == CN2_NOT_FOUND);
    CHECK(cn2_cluster_selector(c, ns, strlen(ns), web, strlen(web), 1, 8888, CN2_LB_MAGLEV, &sel) == CN2_NOT_FOUND);
    CHECK(cn2_cluster_selector(c, "\xff", 1, web, strlen(web), 6, 8888, CN2_LB_MAGLEV, &sel) == CN2_INVALID_UTF8);
    CHECK(sel == NULL);

    /* A partly bad set: the good objects are applied, the bad one reported. */
    CHECK(apply(c,
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra-1}\n---\n"
                "apiVersion: v1\nkind: Service\nmetadata: {name: broken, namespace: extra-1}\n"
                "spec: {ports: [{port: 0}]}\n---\n"
                "apiVersion: v1\nkind: Service\nmetadata: {name: fine, namespace: extra-1}\n"
                "spec: {type: ClusterIP, clusterIP: 10.96.55.5, ports: [{port: 80}]}\n") == CN2_PARTIAL);
    last_error_contains(c, "document 1");
    last_error_contains(c, "spec.ports[0].port");
    json = plan(c);
    CHECK(strstr(json, "\"fine\"") != NULL);
    CHECK(strstr(json, "\"broken\"") == NULL);
    cn2_string_free(json);

    /* A VirtualNetwork naming a missing Subnet is rejected alone. */
    CHECK(apply(c,
                "apiVersion: core.contrail.juniper.net/v1\nkind: VirtualNetwork\n"
                "metadata: {name: orphan, namespace: extra-1}\nspec: {v4SubnetReference: {name: nowhere}}\n") ==
          CN2_PARSE_ERROR);
    last_error_contains(c, "Subnet extra-1/nowhere");

    /* Deletes: present, absent, and one that would break a reference. */
    const char *svc = "apiVersion: v1\nkind: Service\nmetadata: {name: fine, namespace: extra-1}\n";
    CHECK(cn2_cluster_delete(c, svc, strlen(svc)) == CN2_OK);
    CHECK(cn2_cluster_delete(c, svc, strlen(svc)) == CN2_NOT_FOUND);
    last_error_contains(c, "not found");
    const char *subnet = "apiVersion: core.contrail.juniper.net/v1alpha1\nkind: Subnet\nmetadata: {name: public-v4, namespace: contrail}\n";
    CHECK(cn2_cluster_delete(c, subnet, strlen(subnet)) == CN2_PARTIAL);
    last_error_contains(c, "public-v4");
    json = plan(c);
    CHECK(strstr(json, "\"fine\"") == NULL);
    CHECK(strstr(json, "contrail/public-vn") != NULL);
    cn2_string_free(json);

    cn2_cluster_free(c);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("cluster API: all checks passed\n");
    return failures ? 1 : 0;
}
