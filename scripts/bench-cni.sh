#!/usr/bin/env bash
# Benchmarks the cn2 CNI plugin against Debian's reference plugins, in one
# run on one machine: cn2 + cn2-ipam versus ptp + host-local and
# bridge + host-local (containernetworking-plugins, /usr/lib/cni).
#
# Measures, per plugin stack, with each ADD into a fresh network namespace:
#   * the median wall time of ADD and of DEL, IPv4 only, and of DEL until
#     the host end of the veth is gone (cn2's DEL answers before the kernel
#     has finished deleting the pair, see crates/cni-cn2/README.md);
#   * the median wall time of a dual-stack ADD;
#   * the wall time of 100 ADDs started at once (each into its own
#     namespace), and the number that failed; then 100 parallel DELs, and
#     the time until all their host ends are gone.
# and prints medians and the ratio of cn2 to the faster reference.
#
# Needs root, iproute2, python3 and containernetworking-plugins. Builds cn2
# in release mode (CARGO_TARGET_DIR is respected).
#
# cn2 runs as scripts/build-plugins.sh builds it for installation (static,
# stripped, as the upstream reference plugins are released). The IPAM
# state lives in a temporary directory under $CN2_BENCH_DIR (default
# the system temp directory); CN2_BENCH_DIR=/dev/shm takes the disk's
# fsyncs out of the figures.
#
# Usage: [CN2_BENCH_DIR=dir] scripts/bench-cni.sh [iterations]   (default 40)
set -euo pipefail

iterations=${1:-40}
root=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "bench-cni: needs root (network namespaces)" >&2
    exit 1
fi
for f in /usr/lib/cni/ptp /usr/lib/cni/bridge /usr/lib/cni/host-local; do
    [ -x "$f" ] || { echo "bench-cni: $f missing (containernetworking-plugins)" >&2; exit 1; }
done

work=$(mktemp -d "${CN2_BENCH_DIR:-${TMPDIR:-/tmp}}/bench-cni.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$root/scripts/build-plugins.sh" "$work/bin"
echo "state in $work ($(df -T "$work" | awk 'NR == 2 {print $2}'))"

python3 - "$work" "$iterations" <<'EOF'
import json, os, statistics, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor

work, iterations = sys.argv[1], int(sys.argv[2])
cni_path = f"{work}/bin:/usr/lib/cni"
ns_seq = [0]

def netns_add():
    ns_seq[0] += 1
    name = f"cn2b-{os.getpid()}-{ns_seq[0]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    return name

def netns_del(name):
    subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)

def conf(stack, net, v4, v6, dual):
    ranges = [[{"subnet": v4}]] + ([[{"subnet": v6}]] if dual else [])
    routes = [{"dst": "0.0.0.0/0"}] + ([{"dst": "::/0"}] if dual else [])
    if stack == "cn2":
        ipam = {"type": "cn2-ipam", "dataDir": f"{work}/data", "ranges": ranges, "routes": routes}
        c = {"type": "cn2"}
    elif stack == "cn2-hl":
        ipam = {"type": "host-local", "dataDir": f"{work}/data", "ranges": ranges, "routes": routes}
        c = {"type": "cn2"}
    else:
        ipam = {"type": "host-local", "dataDir": f"{work}/data", "ranges": ranges, "routes": routes}
        c = {"type": "ptp", "ipMasq": False} if stack == "ptp" else \
            {"type": "bridge", "bridge": "cn2b" + net.rsplit("-", 1)[1], "isGateway": True, "ipMasq": False}
    c.update({"cniVersion": "1.0.0", "name": net, "ipam": ipam})
    return json.dumps(c).encode()

def call(cmd, cid, ns, conf_bytes):
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "CNI_COMMAND": cmd, "CNI_CONTAINERID": cid, "CNI_NETNS": f"/var/run/netns/{ns}",
           "CNI_IFNAME": "eth0", "CNI_PATH": cni_path}
    plugin = json.loads(conf_bytes)["type"]
    t = time.perf_counter()
    p = subprocess.run([f"/usr/lib/cni/{plugin}" if plugin != "cn2" else f"{work}/bin/cn2"],
                       input=conf_bytes, env=env, capture_output=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        return dt, p.stdout.decode() + p.stderr.decode(), None, t
    return dt, None, p.stdout, t

def host_end(result, conf_bytes):
    # The host end of the pod's veth: an interface of the result outside the
    # sandbox that is not the bridge.
    bridge = json.loads(conf_bytes).get("bridge")
    for i in json.loads(result).get("interfaces", []):
        if not i.get("sandbox") and i["name"] != bridge:
            return i["name"]
    sys.exit(f"no host end in {result!r}")

def wait_gone(names, since):
    # Polls sysfs until none of the host links exists; time since `since`.
    while any(os.path.exists(f"/sys/class/net/{n}") for n in names):
        time.sleep(0.0002)
    return time.perf_counter() - since

def serial(stack, idx, dual):
    net = f"b-{stack}-{'ds' if dual else 'v4'}"
    c = conf(stack, net, f"10.{230 + idx}.{1 if dual else 0}.0/24", f"fd0b:{idx}:{int(dual)}::/64", dual)
    adds, dels, gones = [], [], []
    for i in range(iterations):
        ns = netns_add()
        cid = f"{net}-{i}"
        try:
            dt, err, out, _ = call("ADD", cid, ns, c)
            if err:
                sys.exit(f"{stack} ADD failed: {err}")
            adds.append(dt)
            host = host_end(out, c)
            dt, err, _, t = call("DEL", cid, ns, c)
            if err:
                sys.exit(f"{stack} DEL failed: {err}")
            dels.append(dt)
            gones.append(wait_gone([host], t))
        finally:
            netns_del(ns)
    return statistics.median(adds), statistics.median(dels), statistics.median(gones)

def parallel(stack, idx, n=100):
    net = f"b-{stack}-par"
    c = conf(stack, net, f"10.{240 + idx}.0.0/24", "", False)
    nss = [netns_add() for _ in range(n)]
    try:
        with ThreadPoolExecutor(n) as pool:
            t = time.perf_counter()
            res = list(pool.map(lambda i: call("ADD", f"{net}-{i}", nss[i], c), range(n)))
            add_wall = time.perf_counter() - t
            hosts = [host_end(r[2], c) for r in res if not r[1]]
            t = time.perf_counter()
            dres = list(pool.map(lambda i: call("DEL", f"{net}-{i}", nss[i], c), range(n)))
            del_wall = time.perf_counter() - t
            gone_wall = wait_gone(hosts, t)
        fails = sum(1 for r in res if r[1]) + sum(1 for r in dres if r[1])
        first = next((r[1] for r in res + dres if r[1]), None)
        if first:
            print(f"  {stack}: first failure: {first.strip()[:300]}", file=sys.stderr)
        return add_wall, del_wall, gone_wall, fails
    finally:
        for ns in nss:
            netns_del(ns)

def spawn_floor():
    xs = []
    for _ in range(iterations):
        t = time.perf_counter()
        subprocess.run(["/bin/true"], capture_output=True)
        xs.append(time.perf_counter() - t)
    return statistics.median(xs)

stacks = ["cn2", "ptp", "bridge", "cn2-hl"]
label = {"cn2": "cn2 + cn2-ipam", "ptp": "ptp + host-local", "bridge": "bridge + host-local",
         "cn2-hl": "cn2 + host-local"}
rows = {}
floor = spawn_floor()
try:
    for i, s in enumerate(stacks):
        a4, d4, g4 = serial(s, i, False)
        ads, _, _ = serial(s, i, True)
        pa, pd, pg, pf = parallel(s, i)
        rows[s] = (a4, d4, ads, pa, pd, pf, g4, pg)
finally:
    for br in ["cn2bv4", "cn2bds", "cn2bpar"]:
        subprocess.run(["ip", "link", "del", br], stderr=subprocess.DEVNULL)

ms = lambda x: f"{x * 1000:8.2f}"
print(f"\n{iterations} serial iterations per measurement; 100 parallel ADDs/DELs; times in ms\n")
print("(DEL v4 and 100 DEL: until DEL answers; 'gone': until the host ends are gone)\n")
print(f"{'stack':<22}{'ADD v4':>9}{'DEL v4':>9}{'gone':>9}{'ADD ds':>9}{'100 ADD':>9}{'100 DEL':>9}{'gone':>9}{'fails':>7}")
for s in stacks:
    a4, d4, ads, pa, pd, pf, g4, pg = rows[s]
    print(f"{label[s]:<22}{ms(a4):>9}{ms(d4):>9}{ms(g4):>9}{ms(ads):>9}{ms(pa):>9}{ms(pd):>9}{ms(pg):>9}{pf:>7}")
ref = lambda k: min(rows["ptp"][k], rows["bridge"][k])
print("\ncn2 / faster reference:")
for k, name, target in [(0, "ADD v4 median", "<= 0.30"), (1, "DEL v4 median", "<= 0.30"),
                        (2, "ADD dual-stack median", "(absolute target <= 20 ms)"),
                        (3, "100 parallel ADDs wall", "<= 0.50"),
                        (6, "DEL v4 until gone", "(for reference)"),
                        (4, "100 parallel DELs wall", "(for reference)"),
                        (7, "100 DELs until gone", "(for reference)")]:
    print(f"  {name:<24}{rows['cn2'][k] / ref(k):6.3f}   target {target}")
print(f"  cn2 dual-stack ADD median: {rows['cn2'][2] * 1000:.2f} ms; failures: {rows['cn2'][5]}")
print(f"\nprocess start floor (median of /bin/true from this harness): {floor * 1000:.2f} ms")
print("cn2 / faster reference, each less the floor (the plugins' own cost):")
for k, name in [(0, "ADD v4 median"), (1, "DEL v4 median")]:
    print(f"  {name:<24}{(rows['cn2'][k] - floor) / (ref(k) - floor):6.3f}")
EOF
