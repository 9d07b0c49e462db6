/* Exercises the typed hot path from C: selectors and the flow table. */
#include <stdio.h>
#include <string.h>

#include "cn2.h"

static int failures = 0;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

static cn2_ip v4(unsigned a, unsigned b, unsigned c, unsigned d) {
    cn2_ip ip;
    memset(&ip, 0, sizeof ip);
    ip.family = 4;
    ip.bytes[0] = (uint8_t)a; ip.bytes[1] = (uint8_t)b; ip.bytes[2] = (uint8_t)c; ip.bytes[3] = (uint8_t)d;
    return ip;
}

static cn2_five_tuple tuple(uint16_t sport, uint16_t dport) {
    cn2_five_tuple t;
    memset(&t, 0, sizeof t);
    t.protocol = 6;
    t.src = v4(10, 47, 255, 250);
    t.src_port = sport;
    t.dst = v4(10, 96, 100, 10);
    t.dst_port = dport;
    return t;
}

int main(void) {
    cn2_member members[3];
    for (int i = 0; i < 3; i++) {
        members[i].address = v4(10, 0, 0, (unsigned)(i + 1));
        members[i].port = 8080;
        members[i].weight = 1;
    }

    /* Selectors: NULLs, a bad family, both algorithms, add and remove. */
    cn2_selector *s = NULL;
    CHECK(cn2_selector_new(CN2_LB_MAGLEV, members, 3, NULL) == CN2_NULL_PARAMETER);
    CHECK(cn2_selector_new(CN2_LB_MAGLEV, NULL, 3, &s) == CN2_NULL_PARAMETER);
    cn2_member bad = members[0];
    bad.address.family = 5;
    CHECK(cn2_selector_new(CN2_LB_ECMP, &bad, 1, &s) == CN2_INVALID_ARGUMENT);
    cn2_member zero = members[0];
    zero.weight = 0;
    CHECK(cn2_selector_new(CN2_LB_MAGLEV, &zero, 1, &s) == CN2_INVALID_ARGUMENT);
    for (int alg = CN2_LB_ECMP; alg <= CN2_LB_MAGLEV; alg++) {
        CHECK(cn2_selector_new((cn2_lb_algorithm)alg, members, 3, &s) == CN2_OK);
        cn2_five_tuple t = tuple(40000, 8888);
        cn2_member a, b;
        CHECK(cn2_selector_select(s, &t, &a) == CN2_OK);
        CHECK(cn2_selector_select(s, &t, &b) == CN2_OK);
        CHECK(memcmp(&a.address, &b.address, sizeof a.address) == 0 && a.port == 8080);
        CHECK(cn2_selector_select(NULL, &t, &a) == CN2_NULL_PARAMETER);
        CHECK(cn2_selector_select(s, NULL, &a) == CN2_NULL_PARAMETER);
        CHECK(cn2_selector_select(s, &t, NULL) == CN2_NULL_PARAMETER);
        CHECK(cn2_selector_remove(s, &a) == CN2_OK);
        CHECK(cn2_selector_select(s, &t, &b) == CN2_OK);
        CHECK(memcmp(&a.address, &b.address, sizeof a.address) != 0);
        CHECK(cn2_selector_add(s, &a) == CN2_OK);
        CHECK(cn2_selector_add(NULL, &a) == CN2_NULL_PARAMETER);
        cn2_selector_free(s);
    }
    /* Bursts: the members of single calls, for lengths around the lanes and
       the blocks of 64 and 256; NULLs; a bad family (in a burst of one
       block or of more) or no member writes nothing. */
    enum { BURST = 300 };
    static cn2_five_tuple ts[BURST];
    static cn2_member got[BURST + 1];
    for (int i = 0; i < BURST; i++) {
        ts[i] = tuple((uint16_t)(30000 + i), 8888);
        if (i % 7 == 3) { /* IPv6 tuples mixed in */
            memset(&ts[i].src, 0, sizeof ts[i].src);
            ts[i].src.family = 6;
            ts[i].src.bytes[0] = 0xfd;
            ts[i].src.bytes[15] = (uint8_t)i;
            ts[i].dst = ts[i].src;
            ts[i].dst.bytes[15] = 0xaa;
        }
    }
    for (int alg = CN2_LB_ECMP; alg <= CN2_LB_MAGLEV; alg++) {
        CHECK(cn2_selector_new((cn2_lb_algorithm)alg, members, 3, &s) == CN2_OK);
        const size_t lengths[] = {0, 1, 3, 4, 5, 63, 64, 65, 129, 256, 257, BURST};
        for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
            size_t n = lengths[k];
            memset(got, 0x5a, sizeof got);
            CHECK(cn2_selector_select_burst(s, ts, n, got) == CN2_OK);
            for (size_t i = 0; i < n; i++) {
                cn2_member one;
                CHECK(cn2_selector_select(s, &ts[i], &one) == CN2_OK);
                CHECK(memcmp(&one.address, &got[i].address, sizeof one.address) == 0);
                CHECK(one.port == got[i].port && one.weight == got[i].weight);
            }
            CHECK(got[n].port == 0x5a5a); /* nothing written past the burst */
        }
        CHECK(cn2_selector_select_burst(s, NULL, 0, NULL) == CN2_OK);
        CHECK(cn2_selector_select_burst(NULL, ts, 1, got) == CN2_NULL_PARAMETER);
        CHECK(cn2_selector_select_burst(s, NULL, 1, got) == CN2_NULL_PARAMETER);
        CHECK(cn2_selector_select_burst(s, ts, 1, NULL) == CN2_NULL_PARAMETER);
        cn2_five_tuple wrong[2] = {ts[0], ts[1]};
        wrong[1].dst.family = 5;
        memset(got, 0x5a, sizeof got);
        CHECK(cn2_selector_select_burst(s, wrong, 2, got) == CN2_INVALID_ARGUMENT);
        CHECK(got[0].port == 0x5a5a && got[1].port == 0x5a5a);
        for (size_t k = 0; k < 2; k++) {
            size_t n = k == 0 ? 256 : BURST, bad_at = n - 10;
            uint8_t family = ts[bad_at].src.family;
            ts[bad_at].src.family = 0;
            memset(got, 0x5a, sizeof got);
            CHECK(cn2_selector_select_burst(s, ts, n, got) == CN2_INVALID_ARGUMENT);
            for (size_t i = 0; i < n; i++) CHECK(got[i].port == 0x5a5a);
            ts[bad_at].src.family = family;
        }
        cn2_selector_free(s);
    }
    CHECK(cn2_selector_new(CN2_LB_ECMP, NULL, 0, &s) == CN2_OK);
    cn2_five_tuple t0 = tuple(1, 1);
    cn2_member m;
    CHECK(cn2_selector_select(s, &t0, &m) == CN2_NOT_FOUND);
    memset(got, 0x5a, sizeof got);
    CHECK(cn2_selector_select_burst(s, ts, 4, got) == CN2_NOT_FOUND);
    CHECK(got[0].port == 0x5a5a);
    cn2_selector_free(s);
    cn2_selector_free(NULL);

    /* The flow table: the NAT pair, the reply, a port-map drop, aging. */
    cn2_flow_table *ft = NULL;
    CHECK(cn2_flow_table_new(1, 180, &ft) == CN2_INVALID_ARGUMENT);
    CHECK(cn2_flow_table_new(1000, 180, NULL) == CN2_NULL_PARAMETER);
    CHECK(cn2_flow_table_new(1000, 180, &ft) == CN2_OK);
    cn2_ip fip = v4(10, 96, 100, 10);
    CHECK(cn2_flow_table_map_port(ft, 1, &fip, 6, 8888, 80, CN2_LB_ECMP, members, 3) == CN2_OK);
    CHECK(cn2_flow_table_map_port(ft, 1, NULL, 6, 8888, 80, CN2_LB_ECMP, members, 3) == CN2_NULL_PARAMETER);
    cn2_flow_verdict v;
    cn2_five_tuple t = tuple(40000, 8888);
    CHECK(cn2_flow_table_process(ft, 1, &t, 0, 0, &v) == CN2_OK);
    CHECK(v.action == CN2_FLOW_NAT && v.created && v.has_member);
    CHECK(v.nat_flags == (CN2_NAT_DNAT | CN2_NAT_DPAT));
    CHECK(v.has_rewrite && v.rewrite_port == 8080);
    CHECK(memcmp(&v.rewrite_address, &v.member.address, sizeof v.member.address) == 0);
    cn2_five_tuple reply;
    memset(&reply, 0, sizeof reply);
    reply.protocol = 6;
    reply.src = v.member.address;
    reply.src_port = v.member.port;
    reply.dst = t.src;
    reply.dst_port = t.src_port;
    cn2_flow_verdict r;
    CHECK(cn2_flow_table_process(ft, 1, &reply, 0, 1, &r) == CN2_OK);
    CHECK(r.action == CN2_FLOW_NAT && !r.created && r.nat_flags == (CN2_NAT_SNAT | CN2_NAT_SPAT));
    CHECK(r.rewrite_port == 8888 && memcmp(&r.rewrite_address, &fip, sizeof fip) == 0);
    cn2_five_tuple ssh = tuple(40001, 22);
    CHECK(cn2_flow_table_process(ft, 1, &ssh, 0, 1, &v) == CN2_OK);
    CHECK(v.action == CN2_FLOW_DROP && v.drop_reason == CN2_DROP_PORT_MAP);
    CHECK(cn2_flow_table_process(ft, 1, NULL, 0, 1, &v) == CN2_NULL_PARAMETER);
    CHECK(cn2_flow_table_process(NULL, 1, &t, 0, 1, &v) == CN2_NULL_PARAMETER);
    CHECK(cn2_flow_table_expire(ft, 100) == 0);
    CHECK(cn2_flow_table_expire(ft, 1000) == 2);
    CHECK(cn2_flow_table_expire(NULL, 1000) == 0);
    cn2_flow_table_free(ft);
    cn2_flow_table_free(NULL);

    /* Flow bursts: the verdicts of single calls on a twin table, packet by
       packet (new connections, their repeats, a FIN, a port-map drop, IPv6
       to a plain address); NULLs; a bad family changes and writes nothing. */
    enum { PACKETS = 75 };
    static cn2_flow_packet pk[PACKETS];
    static cn2_flow_verdict burst_v[PACKETS + 1];
    cn2_flow_table *fa = NULL, *fb = NULL;
    CHECK(cn2_flow_table_new(1000, 180, &fa) == CN2_OK);
    CHECK(cn2_flow_table_new(1000, 180, &fb) == CN2_OK);
    CHECK(cn2_flow_table_map_port(fa, 1, &fip, 6, 8888, 80, CN2_LB_MAGLEV, members, 3) == CN2_OK);
    CHECK(cn2_flow_table_map_port(fb, 1, &fip, 6, 8888, 80, CN2_LB_MAGLEV, members, 3) == CN2_OK);
    for (int i = 0; i < PACKETS; i++) {
        memset(&pk[i], 0, sizeof pk[i]);
        pk[i].vrf = 1;
        pk[i].tuple = tuple((uint16_t)(50000 + i % 30), 8888);
    }
    pk[40].tcp_flags = 0x01; /* FIN */
    pk[70].tuple = tuple(50001, 22);
    memset(&pk[71].tuple.src, 0, sizeof pk[71].tuple.src);
    pk[71].tuple.src.family = 6;
    pk[71].tuple.src.bytes[0] = 0xfd;
    pk[71].tuple.src.bytes[15] = 1;
    pk[71].tuple.dst = pk[71].tuple.src;
    pk[71].tuple.dst.bytes[15] = 2;
    memset(burst_v, 0x5a, sizeof burst_v);
    CHECK(cn2_flow_table_process_burst(fa, pk, PACKETS, 5, burst_v) == CN2_OK);
    for (int i = 0; i < PACKETS; i++) {
        cn2_flow_verdict one;
        memset(&one, 0, sizeof one);
        CHECK(cn2_flow_table_process(fb, pk[i].vrf, &pk[i].tuple, pk[i].tcp_flags, 5, &one) == CN2_OK);
        cn2_flow_verdict *b = &burst_v[i];
        CHECK(b->action == one.action && b->drop_reason == one.drop_reason);
        CHECK(b->nat_flags == one.nat_flags && b->created == one.created);
        CHECK(b->has_member == one.has_member && b->has_rewrite == one.has_rewrite);
        CHECK(memcmp(&b->member.address, &one.member.address, sizeof one.member.address) == 0);
        CHECK(b->member.port == one.member.port && b->rewrite_port == one.rewrite_port);
        CHECK(memcmp(&b->rewrite_address, &one.rewrite_address, sizeof one.rewrite_address) == 0);
    }
    CHECK(burst_v[0].created && !burst_v[30].created && burst_v[0].action == CN2_FLOW_NAT);
    CHECK(burst_v[70].drop_reason == CN2_DROP_PORT_MAP && burst_v[71].action == CN2_FLOW_FORWARD);
    CHECK(burst_v[PACKETS].rewrite_port == 0x5a5a); /* nothing written past the burst */
    CHECK(cn2_flow_table_process_burst(fa, NULL, 0, 5, NULL) == CN2_OK);
    CHECK(cn2_flow_table_process_burst(NULL, pk, 1, 5, burst_v) == CN2_NULL_PARAMETER);
    CHECK(cn2_flow_table_process_burst(fa, NULL, 1, 5, burst_v) == CN2_NULL_PARAMETER);
    CHECK(cn2_flow_table_process_burst(fa, pk, 1, 5, NULL) == CN2_NULL_PARAMETER);
    cn2_flow_packet fresh[2] = {pk[0], pk[1]};
    fresh[0].tuple.src_port = 61000; /* a new connection, not to be created */
    fresh[1].tuple.dst.family = 9;
    memset(burst_v, 0x5a, sizeof burst_v);
    CHECK(cn2_flow_table_process_burst(fa, fresh, 2, 5, burst_v) == CN2_INVALID_ARGUMENT);
    CHECK(burst_v[0].rewrite_port == 0x5a5a && burst_v[1].rewrite_port == 0x5a5a);
    /* Both tables hold the same flows: 30 NAT pairs and one forwarded pair. */
    CHECK(cn2_flow_table_expire(fa, 1000) == 62 && cn2_flow_table_expire(fb, 1000) == 62);
    cn2_flow_table_free(fa);
    cn2_flow_table_free(fb);

    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("hot path: all checks passed\n");
    return failures ? 1 : 0;
}
