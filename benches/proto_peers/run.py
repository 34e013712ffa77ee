#!/usr/bin/env python3
"""Side-by-side comparison of spindle's http_server and kv_server with the servers people would
pick instead, measured with the standard load tools nobody here wrote.

Install the tools first (Debian packages; golang-go is optional, Go's row is skipped without it):

    apt-get update && apt-get install -y wrk redis-tools redis-server golang-go

Then, from the repository root:

    python3 benches/proto_peers/run.py                 # everything, 3 rounds
    ROUNDS=1 SECS=3 python3 benches/proto_peers/run.py --only http
    SKIP_BUILD=1 python3 benches/proto_peers/run.py    # reuse the release builds
    SPINDLE_BEFORE=/tmp/old RESULTS_DIR=/tmp/r python3 benches/proto_peers/run.py --only http
        # also measures the http_server/kv_server binaries in /tmp/old (say, a build from
        # before a change) as "spindle before", and writes the tables to /tmp/r

What it runs, every server pinned to core 0 and every client to core 1 (taskset):

  * wrk -t1 -c{50,1000} -d{SECS}s --latency  on /plaintext and /json, against spindle's
    http_server, may_minihttp (1 worker), hyper 1 on tokio current_thread, and Go net/http
    (GOMAXPROCS=1);
  * redis-benchmark -c 50 -n N [-P 16] --csv  for PING, SET, GET, INCR, MSET (10 keys) and a
    10-key MGET, against spindle's kv_server and redis-server (no persistence).

Servers are measured in turn within each round (interleaved, so a burst of load elsewhere on
the machine does not land on one server only). For each case every figure is the median of its
rounds, taken separately: req/s, the latency percentiles, and requests per CPU-second of the
server process (utime + stime from /proc/<pid>/stat, over the client's run); errors are summed.
The tables also list every round's req/s and p99. PRIO=1 (as root) runs it all in a session
whose autogroup has nice -20, as benches/echo_peers/multicore.sh does. Markdown tables go to stdout and to
benches/results/{http,kv}.md, the raw rows to benches/results/{http,kv}.csv, and the chart
maker (src/bin/chart.rs) draws one SVG per table from the CSV files.
"""

import csv
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEERS = os.path.join(ROOT, "benches", "proto_peers")
RESULTS = os.environ.get("RESULTS_DIR", os.path.join(ROOT, "benches", "results"))
BEFORE = os.environ.get("SPINDLE_BEFORE")
MAIN_TARGET = os.environ.get("MAIN_TARGET", os.path.join(ROOT, "target"))
PEERS_TARGET = os.environ.get("PEERS_TARGET", os.path.join(PEERS, "target"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
SECS = int(os.environ.get("SECS", "5"))
CONNS = [int(c) for c in os.environ.get("CONNS", "50 1000").split()]
ENDPOINTS = os.environ.get("ENDPOINTS", "plaintext json").split()
KV_N = int(os.environ.get("KV_N", "300000"))
KV_N_PIPELINED = int(os.environ.get("KV_N_PIPELINED", "1000000"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The servers' stderr, kept for a look after the run (not committed).
LOGS = tempfile.mkdtemp(prefix="proto_peers.")
MGET = ["MGET"] + [f"key:__rand_int__{i}" for i in range(10)]
# (row name, redis-benchmark arguments after the common ones)
KV_TESTS = [
    ("PING", ["-t", "ping_mbulk"]),
    ("SET", ["-t", "set", "-r", "100000"]),
    ("GET", ["-t", "get", "-r", "100000"]),
    ("INCR", ["-t", "incr", "-r", "100000"]),
    ("MSET (10 keys)", ["-t", "mset", "-r", "100000"]),
    ("MGET (10 keys)", ["-r", "100000"] + MGET),
]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def cpu_seconds(pid):
    """utime + stime of the whole process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces; the fields after it are space-separated.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_port(port, proc, name):
    import socket

    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{name} is not listening on {port}")


class Server:
    def __init__(self, name, cmd, port, env=None):
        self.name, self.port = name, port
        full_env = dict(os.environ, **(env or {}))
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0"] + cmd,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(LOGS, re.sub(r"\W", "_", name) + ".stderr"), "w"),
            env=full_env,
        )
        wait_port(port, self.proc, name)

    def measure(self, client):
        """Runs `client` (a command) pinned to core 1; returns (its stdout, server CPU-s)."""
        before = cpu_seconds(self.proc.pid)
        out = run(["taskset", "-c", "1"] + client)
        return out, cpu_seconds(self.proc.pid) - before

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def to_ms(value):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not m:
        raise ValueError(f"unknown wrk duration {value!r}")
    n, unit = float(m.group(1)), m.group(2)
    return n * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out):
    req = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: to_ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return {"requests": req, "rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "errors": errors}


def parse_redis_csv(out, n):
    rows = list(csv.reader(line for line in out.splitlines() if line.startswith('"')))
    header, data = rows[0], rows[-1]
    row = dict(zip(header, data))
    return {
        "requests": n,
        "rps": float(row["rps"]),
        "p50_ms": float(row["p50_latency_ms"]),
        "p99_ms": float(row["p99_latency_ms"]),
        "errors": 0,
    }


def median(values):
    """The median (the mean of the middle two for an even count)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summarize(rounds):
    """Each figure's median over the rounds, taken separately (a round with the median req/s
    may have an outlying p99), errors summed, and every round's req/s and p99 for the record."""
    return {
        "rps": median(r["rps"] for r in rounds),
        "p50_ms": median(r["p50_ms"] for r in rounds),
        "p99_ms": median(r["p99_ms"] for r in rounds),
        "req_per_cpu_s": median(r["requests"] / r["cpu_s"] if r["cpu_s"] > 0 else 0.0
                                for r in rounds),
        "errors": sum(r["errors"] for r in rounds),
        "rounds_rps": " ".join(f"{r['rps']:.0f}" for r in rounds),
        "rounds_p99": " ".join(f"{r['p99_ms']:.2f}" for r in rounds),
    }


def build():
    log("building spindle's examples and the peers …")
    subprocess.run(
        ["cargo", "build", "--release", "--example", "http_server", "--example", "kv_server",
         "--target-dir", MAIN_TARGET],
        cwd=ROOT, check=True,
    )
    subprocess.run(
        ["cargo", "build", "--release", "--manifest-path", os.path.join(PEERS, "Cargo.toml"),
         "--target-dir", PEERS_TARGET],
        cwd=ROOT, check=True,
    )
    if shutil.which("go"):
        subprocess.run(
            ["go", "build", "-o", os.path.join(PEERS_TARGET, "go_http"), "main.go"],
            cwd=os.path.join(PEERS, "go"), check=True,
        )


def http_servers():
    servers = [
        ("spindle", [os.path.join(MAIN_TARGET, "release", "examples", "http_server")], {}),
    ] + ([("spindle before", [os.path.join(BEFORE, "http_server")], {})] if BEFORE else []) + [
        ("may_minihttp", [os.path.join(PEERS_TARGET, "release", "may_http")], {}),
        ("hyper", [os.path.join(PEERS_TARGET, "release", "hyper_http")], {}),
    ]
    go = os.path.join(PEERS_TARGET, "go_http")
    if os.path.exists(go):
        servers.append(("go net/http", [go], {"GOMAXPROCS": "1"}))
    else:
        log("no go_http build (is golang-go installed?): Go's row is skipped")
    return servers


def bench_http():
    servers, port = [], 8400
    results = {}
    try:
        for name, cmd, env in http_servers():
            port += 1
            servers.append(Server(name, cmd + [f"127.0.0.1:{port}"], port, env))
        for rnd in range(ROUNDS):
            for endpoint in ENDPOINTS:
                for conns in CONNS:
                    for s in servers:
                        url = f"http://127.0.0.1:{s.port}/{endpoint}"
                        out, cpu = s.measure(
                            ["wrk", "-t1", f"-c{conns}", f"-d{SECS}s", "--latency", url])
                        r = parse_wrk(out)
                        r["cpu_s"] = cpu
                        results.setdefault((endpoint, conns, s.name), []).append(r)
                        log(f"round {rnd + 1} /{endpoint} c={conns} {s.name}: "
                            f"{r['rps']:.0f} req/s, p99 {r['p99_ms']:.2f} ms, cpu {cpu:.2f} s")
    finally:
        for s in servers:
            s.stop()
    rows = []
    for (endpoint, conns, name), rounds in results.items():
        rows.append({"endpoint": "/" + endpoint, "conns": conns, "server": name,
                     **summarize(rounds)})
    return rows


def bench_kv():
    servers, results = [], {}
    try:
        servers.append(Server(
            "spindle kv_server",
            [os.path.join(MAIN_TARGET, "release", "examples", "kv_server"), "127.0.0.1:8501"],
            8501))
        if BEFORE:
            servers.append(Server(
                "spindle kv_server before",
                [os.path.join(BEFORE, "kv_server"), "127.0.0.1:8503"], 8503))
        servers.append(Server(
            "redis-server",
            ["redis-server", "--port", "8502", "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"], 8502))
        for rnd in range(ROUNDS):
            for pipeline in (1, 16):
                n = KV_N if pipeline == 1 else KV_N_PIPELINED
                for test, args in KV_TESTS:
                    for s in servers:
                        client = ["redis-benchmark", "-p", str(s.port), "-c", "50", "-n", str(n),
                                  "-P", str(pipeline), "--csv"] + args
                        out, cpu = s.measure(client)
                        r = parse_redis_csv(out, n)
                        r["cpu_s"] = cpu
                        results.setdefault((test, pipeline, s.name), []).append(r)
                        log(f"round {rnd + 1} {test} -P {pipeline} {s.name}: "
                            f"{r['rps']:.0f} req/s, p99 {r['p99_ms']:.3f} ms, cpu {cpu:.2f} s")
    finally:
        for s in servers:
            s.stop()
    rows = []
    for (test, pipeline, name), rounds in results.items():
        rows.append({"test": test, "pipeline": pipeline, "server": name, **summarize(rounds)})
    return rows


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


def http_table(rows):
    lines = [
        "| endpoint | conns | server | req/s | vs spindle | p50 ms | p99 ms | req per server CPU-s | errors | req/s of each round | p99 ms of each round |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        base = next(b for b in rows if b["server"] == "spindle" and b["endpoint"] == r["endpoint"]
                    and b["conns"] == r["conns"])
        lines.append(
            f"| {r['endpoint']} | {r['conns']} | {r['server']} | {r['rps']:,.0f} | "
            f"{r['rps'] / base['rps']:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['req_per_cpu_s']:,.0f} | {r['errors']} | {r['rounds_rps']} | {r['rounds_p99']} |")
    return "\n".join(lines)


def kv_table(rows):
    lines = [
        "| command | -P | server | req/s | kv_server / redis | p50 ms | p99 ms | req per server CPU-s | req/s of each round | p99 ms of each round |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        redis = next(b for b in rows if b["server"] == "redis-server" and b["test"] == r["test"]
                     and b["pipeline"] == r["pipeline"])
        ratio = f"{r['rps'] / redis['rps']:.2f}" if r["server"] != "redis-server" else ""
        lines.append(
            f"| {r['test']} | {r['pipeline']} | {r['server']} | {r['rps']:,.0f} | {ratio} | "
            f"{r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['req_per_cpu_s']:,.0f} | {r['rounds_rps']} | "
            f"{r['rounds_p99']} |")
    return "\n".join(lines)


def header(tool_versions):
    load_before = open("/proc/loadavg").read().split()[:3]
    return (
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on `{os.uname().release}`, "
        f"{os.cpu_count()} cores; servers on core 0, clients on core 1; each figure the median "
        f"of its {ROUNDS} rounds{'; run with PRIO=1' if os.environ.get('PRIO') else ''}; load average at the start {' '.join(load_before)}; {tool_versions}."
    )


def main():
    if os.environ.get("PRIO") and not os.environ.get("PRIO_SESSION"):
        # A session of its own whose autogroup has nice -20 (as root): builds in other sessions
        # of a shared machine then take little CPU from the measured processes. With
        # autogroups a plain `nice` only ranks processes within one session.
        os.environ["PRIO_SESSION"] = "1"
        script = 'echo -20 >/proc/self/autogroup && exec "$0" "$@"'
        os.execvp("setsid", ["setsid", "-w", "bash", "-c", script, sys.executable] + sys.argv)
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    os.makedirs(RESULTS, exist_ok=True)
    # wrk at 1000 connections and the servers need more descriptors than the usual 1024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    if want < 4096:
        log(f"only {want} file descriptors allowed: the 1000-connection runs may fail")
    for tool in ("wrk", "redis-benchmark", "redis-server", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install -y wrk redis-tools redis-server util-linux")
    if not os.environ.get("SKIP_BUILD"):
        build()
    if only in (None, "http"):
        # `wrk --version` prints "wrk 4.1.0 [epoll] …" and exits with status 1.
        wrk = subprocess.run(["wrk", "--version"], text=True, capture_output=True).stdout.split()
        intro = header(f"wrk {wrk[1]}")
        rows = bench_http()
        order = {name: i for i, (name, _, _) in enumerate(http_servers())}
        rows.sort(key=lambda r: (r["endpoint"] != "/plaintext", r["conns"], order[r["server"]]))
        load = " ".join(open("/proc/loadavg").read().split()[:3])
        text = f"{intro} Load average at the end {load}.\n\n{http_table(rows)}\n"
        write_csv(os.path.join(RESULTS, "http.csv"), rows)
        open(os.path.join(RESULTS, "http.md"), "w").write(text)
        print("## wrk: HTTP/1.1\n\n" + text)
    if only in (None, "kv"):
        intro = header(run(["redis-server", "--version"]).split(" build")[0])
        rows = bench_kv()
        tests = [t for t, _ in KV_TESTS]
        rows.sort(key=lambda r: (r["pipeline"], tests.index(r["test"]), r["server"] != "spindle kv_server"))
        load = " ".join(open("/proc/loadavg").read().split()[:3])
        text = f"{intro} Load average at the end {load}.\n\n{kv_table(rows)}\n"
        write_csv(os.path.join(RESULTS, "kv.csv"), rows)
        open(os.path.join(RESULTS, "kv.md"), "w").write(text)
        print("## redis-benchmark: RESP2\n\n" + text)
    log(f"servers' stderr: {LOGS}")
    chart = os.path.join(PEERS_TARGET, "release", "chart")
    if os.path.exists(chart):
        subprocess.run([chart, RESULTS], check=True)


if __name__ == "__main__":
    main()
