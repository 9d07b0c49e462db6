/* Loads Kubernetes manifests through the cn2 C API, prints the plan, builds a
 * Maglev member-selection table for one service port from the plan's members
 * and selects the member of a few connections to it.
 *
 *   cc select.c $(pkg-config --cflags --libs cn2) -o select
 *   ./select ../book/services.yaml
 *   ./select MANIFESTS.yaml NAMESPACE/NAME SERVICE-ADDRESS PORT
 *
 * Without the last three arguments it uses the book's ClusterIP service,
 * ns-user-1/service-web-clusterip at 10.96.100.10, TCP port 8888, and
 * connections from the client pod 10.47.255.250. Each selection is a line
 *
 *   select PROTO SRC:SPORT -> DST:DPORT member ADDRESS:PORT
 */
#define _POSIX_C_SOURCE 200112L
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cn2.h>

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Parses an IPv4 or IPv6 address into a cn2_ip; 0 on failure. */
static int parse_ip(const char *text, cn2_ip *ip) {
    memset(ip, 0, sizeof *ip);
    if (inet_pton(AF_INET, text, ip->bytes) == 1) {
        ip->family = 4;
        return 1;
    }
    if (inet_pton(AF_INET6, text, ip->bytes) == 1) {
        ip->family = 6;
        return 1;
    }
    return 0;
}

/* Writes "a.b.c.d:port" or "[v6]:port" into buf. */
static const char *endpoint(const cn2_ip *ip, uint16_t port, char *buf, size_t len) {
    char addr[INET6_ADDRSTRLEN];
    inet_ntop(ip->family == 6 ? AF_INET6 : AF_INET, ip->bytes, addr, sizeof addr);
    snprintf(buf, len, ip->family == 6 ? "[%s]:%u" : "%s:%u", addr, (unsigned)port);
    return buf;
}

static int fail(const char *what, cn2_result r) {
    char msg[128];
    cn2_result_message(r, msg, sizeof msg);
    fprintf(stderr, "%s: %s\n", what, msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 5) {
        fprintf(stderr, "usage: %s MANIFESTS.yaml [NAMESPACE/NAME SERVICE-ADDRESS PORT]\n", argv[0]);
        return 2;
    }
    const char *service = argc == 5 ? argv[2] : "ns-user-1/service-web-clusterip";
    const char *address = argc == 5 ? argv[3] : "10.96.100.10";
    long port = argc == 5 ? strtol(argv[4], NULL, 10) : 8888;
    const char *slash = strchr(service, '/');
    cn2_five_tuple t;
    memset(&t, 0, sizeof t);
    if (!slash || port <= 0 || port > 65535 || !parse_ip(address, &t.dst)) {
        fprintf(stderr, "%s: expected NAMESPACE/NAME SERVICE-ADDRESS PORT\n", argv[0]);
        return 2;
    }

    size_t len = 0;
    char *text = read_all(argv[1], &len);
    if (!text) {
        perror(argv[1]);
        return 1;
    }
    cn2_cluster *cluster = cn2_cluster_new();
    cn2_result r = cn2_cluster_apply(cluster, text, len);
    free(text);
    if (r != CN2_OK) {
        cn2_cluster_free(cluster);
        return fail(argv[1], r);
    }

    /* The plan, as cn2ctl plan -o json prints it. */
    char *json = NULL;
    size_t json_len = 0;
    r = cn2_cluster_plan_json(cluster, &json, &json_len);
    if (r != CN2_OK) {
        cn2_cluster_free(cluster);
        return fail("plan", r);
    }
    fwrite(json, 1, json_len, stdout);
    cn2_string_free(json);

    /* The Maglev table over the members of the service's TCP port. */
    cn2_selector *selector = NULL;
    r = cn2_cluster_selector(cluster, service, (size_t)(slash - service), slash + 1, strlen(slash + 1), 6,
                             (uint16_t)port, CN2_LB_MAGLEV, &selector);
    cn2_cluster_free(cluster); /* the selector is independent of the cluster */
    if (r != CN2_OK) return fail(service, r);
    printf("maglev %s TCP %ld\n", service, port);

    /* A few connections from the client pod to the service. */
    t.protocol = 6;
    parse_ip(t.dst.family == 6 ? "fd00:47::250" : "10.47.255.250", &t.src);
    t.dst_port = (uint16_t)port;
    int status = 0;
    for (uint16_t sport = 40000; sport < 40008; sport++) {
        t.src_port = sport;
        cn2_member m;
        r = cn2_selector_select(selector, &t, &m);
        if (r != CN2_OK) {
            status = fail("select", r);
            break;
        }
        char src[64], dst[64], member[64];
        printf("select tcp %s -> %s member %s\n", endpoint(&t.src, t.src_port, src, sizeof src),
               endpoint(&t.dst, t.dst_port, dst, sizeof dst), endpoint(&m.address, m.port, member, sizeof member));
    }

    /* The same connections as one burst, as a data path receives packets. */
    cn2_five_tuple burst[8];
    cn2_member chosen[8];
    for (int i = 0; i < 8; i++) {
        burst[i] = t;
        burst[i].src_port = (uint16_t)(40000 + i);
    }
    if (status == 0) {
        r = cn2_selector_select_burst(selector, burst, 8, chosen);
        if (r != CN2_OK) status = fail("select burst", r);
    }
    for (int i = 0; status == 0 && i < 8; i++) {
        char src[64], member[64];
        printf("burst tcp %s member %s\n", endpoint(&burst[i].src, burst[i].src_port, src, sizeof src),
               endpoint(&chosen[i].address, chosen[i].port, member, sizeof member));
    }
    cn2_selector_free(selector);
    return status;
}
