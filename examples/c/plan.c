/* Loads Kubernetes manifests through the cn2 C API and prints the plan.
 *
 *   cc plan.c $(pkg-config --cflags --libs cn2) -o plan
 *   ./plan ../book/services.yaml
 */
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
            if (!bigger) { free(buf); buf = NULL; }
            buf = bigger;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static void report(cn2_cluster *c, cn2_result r, const char *what) {
    char msg[128];
    cn2_result_message(r, msg, sizeof msg);
    fprintf(stderr, "%s: %s\n", what, msg);
    char *detail = NULL;
    size_t len = 0;
    if (cn2_cluster_last_error(c, &detail, &len) == CN2_OK && len > 0) fprintf(stderr, "%s\n", detail);
    cn2_string_free(detail);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MANIFEST.yaml...\n", argv[0]);
        return 2;
    }
    printf("cn2 %s\n", cn2_version());
    cn2_cluster *cluster = cn2_cluster_new();
    int status = 0;
    for (int i = 1; i < argc; i++) {
        size_t len = 0;
        char *text = read_all(argv[i], &len);
        if (!text) {
            perror(argv[i]);
            status = 1;
            continue;
        }
        cn2_result r = cn2_cluster_apply(cluster, text, len);
        free(text);
        if (r != CN2_OK) {
            report(cluster, r, argv[i]);
            status = 1;
        }
    }
    char *json = NULL;
    size_t json_len = 0;
    cn2_result r = cn2_cluster_plan_json(cluster, &json, &json_len);
    if (r == CN2_OK) {
        fwrite(json, 1, json_len, stdout);
    } else {
        report(cluster, r, "plan");
        status = 1;
    }
    cn2_string_free(json);
    cn2_cluster_free(cluster);
    return status;
}
