#!/usr/bin/env python3
"""Port-forwarding benchmark (issue 7): one run, side by side, through
  berth      berth's forward on 127.0.0.1 (the path users take: TCP in the kernel, a DNAT
             berth keeps in step with the engine; UDP through berth's relay),
  berth-relay  berth's userland relay on [::1] (IPv6 loopback cannot be DNATed off the host;
             also what 127.0.0.1 gets with forwarding.nat: false), TCP only,
  docker-proxy  docker's own userland proxy (docker.io), run by hand on the same path,
  socat      socat TCP-LISTEN,fork (TCP only),
  direct     straight to the guest address (the baseline),
to servers in containers of a real dockerd in a network namespace:
  TCP throughput both ways (iperf3), short connections/s (wrk, Connection: close, against
  busybox httpd), and UDP at fixed offered rates (--udp-rates, default 50k, 100k, 200k and
  400k packets/s of 64 bytes, paced sendmmsg batches from udp_blast.c to a recvmmsg sink in a
  container; iperf3's own UDP server saturates near 45k packets/s here): the rate delivered
  while the clock ran (what the path drains from its queues afterwards is not counted) and the
  CPU per delivered packet, of the relay alone and of sender + sink + relay; and how soon
  berth's forward opens after a container's start event and refuses after its die event
  (--latency-runs starts and stops; the integration tests only check that it does).
Prints tables with ratios (TCP and conns/s vs direct, UDP vs docker-proxy). A program, not
a timed test: numbers on a shared 2-core machine are noisy, so each cell is the best of
--rounds runs. Needs root, gcc, iperf3, wrk, socat, docker-proxy; uses host ports 18500-18599.

  tests/bench/forwarding_bench.py [--seconds 5] [--rounds 2] [--udp-rates 50000,100000,...]
                                  [--udp-seconds S] [--latency-runs 5]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from berth_harness import Berth, Engine, short_tmpdir  # noqa: E402
from forwarding_helpers import EventClock, Poller, accepts, refused  # noqa: E402

IPERF_PORT = 18500   # published by the iperf3 container (tcp + udp); berth forwards it
HTTP_PORT = 18510    # published by the httpd container; berth forwards it
# One httpd container per path, published on a guest port of its own: each path's short
# connections leave TIME_WAIT sockets on the host towards the port it connects to (up to ~14k,
# when the kernel's even ephemeral ports towards that address:port are used up), and in the
# the container (and its conntrack) towards the host's ports. The next path connecting to the
# same port then pays a scan of the port space in every connect(), and one reaching the same
# container (even through another published port: DNAT) reuses host ports it still holds in
# TIME_WAIT, whose SYNs can be dropped and resent 1 s later (measured: berth 0.53x direct with
# one shared container, 0.67-0.70x with the old layout where all paths shared one port).
HTTP_GUEST_PORT = {"direct": 18540, "berth": HTTP_PORT, "docker-proxy": 18541, "socat": 18542,
                   "berth-relay": 18543}
UDP_PORT = 18520     # published by the UDP sink container; berth forwards it
LATENCY_PORT = 18530  # published by the container started and stopped for open/close latency
PROXY_OFFSET = 1     # docker-proxy listens on PORT+1
SOCAT_OFFSET = 2     # socat listens on PORT+2


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def iperf(host, port, seconds, *extra):
    for attempt in range(5):
        p = sh(["iperf3", "-J", "-c", host, "-p", str(port), "-t", str(seconds)] + list(extra),
               timeout=seconds + 30)
        data = json.loads(p.stdout or "{}")
        if "error" not in data and p.returncode == 0:
            return data["end"]
        # iperf3 -s serves one test at a time and needs a moment between tests.
        time.sleep(1)
    raise RuntimeError("iperf3 %s:%d %s: %s" % (host, port, extra, data.get("error", p.stderr)))


def cpu_seconds(pid):
    """CPU time of a process and its reaped children (socat forks one per connection)."""
    if pid is None:
        return 0.0
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def tcp_gbits(host, port, seconds, reverse, relay_pid):
    """Throughput, and the relay's CPU seconds per GB moved (0 for the direct path): the
    second number holds still on a busy machine when the first does not."""
    before = cpu_seconds(relay_pid)
    end = iperf(host, port, seconds, *(["-R"] if reverse else []))
    cpu = cpu_seconds(relay_pid) - before
    received = end["sum_received"]
    return received["bits_per_second"] / 1e9, cpu / (received["bytes"] / 1e9)


def udp_at_rate(blast, host, port, seconds, rate, relay_pid, sink_pid):
    """Offers `rate` packets/s for `seconds`. Returns the rate the sender reached and the rate
    delivered while the clock ran (kpps), the relay's CPU µs per delivered packet and that of
    sender + sink + relay (the path's whole cost, whatever the kernel charged to them)."""
    before = cpu_seconds(relay_pid), cpu_seconds(sink_pid)
    p = sh([blast, "blast", host, str(port), str(seconds), str(rate)], timeout=seconds + 30)
    relay_cpu = cpu_seconds(relay_pid) - before[0]
    sink_cpu = cpu_seconds(sink_pid) - before[1]
    if p.returncode != 0:
        raise RuntimeError("udp_blast %s:%d: %s" % (host, port, p.stderr))
    sent, delivered, took, sender_cpu = p.stdout.split()
    delivered = max(1, int(delivered))
    return {"sent": int(sent) / float(took) / 1e3, "udp": delivered / float(took) / 1e3,
            "relay_us": relay_cpu * 1e6 / delivered,
            "path_us": (relay_cpu + sink_cpu + float(sender_cpu)) * 1e6 / delivered}


def conns_per_s(host, port, seconds):
    url = "http://%s:%d/index.html" % ("[%s]" % host if ":" in host else host, port)
    p = sh(["wrk", "-t", "2", "-c", "16", "-d", "%ds" % seconds, "-H", "Connection: close",
            url], timeout=seconds + 30)
    m = re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)
    errors = re.search(r"Socket errors: (.*)", p.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", p.stdout)
    if not m or non2xx:
        raise RuntimeError("wrk %s failed: %s %s" % (url, p.stdout, p.stderr))
    if errors:
        print("  (wrk %s: socket errors %s)" % (url, errors.group(1)), file=sys.stderr)
    return float(m.group(1))


def open_close_latency(engine, runs):
    """Milliseconds from a container's start event until berth's forward on 127.0.0.1 accepts,
    and from its die event until both loopbacks refuse, over `runs` starts and stops."""
    clock = EventClock(engine, ["start", "die"])
    opened_ms, closed_ms = [], []
    try:
        for i in range(runs):
            name = "latency-%d" % i
            opened = Poller(lambda: accepts("127.0.0.1", LATENCY_PORT))
            engine.docker("run", "-d", "--name", name, "-p", "%d:80" % LATENCY_PORT, "bb",
                          "httpd", "-f", "-p", "80")
            opened_ms.append(max(0, opened.at() - clock.wait(name, "start")) / 1e6)
            closed = Poller(lambda: refused("127.0.0.1", LATENCY_PORT) and
                            refused("::1", LATENCY_PORT))
            engine.docker("rm", "-f", name)
            closed_ms.append(max(0, closed.at() - clock.wait(name, "die")) / 1e6)
    finally:
        clock.close()
    return sorted(opened_ms), sorted(closed_ms)


def time_wait_towards(host, port):
    p = sh(["ss", "-Htan", "state", "time-wait", "dst", "%s:%d" % (host, port)])
    return len(p.stdout.splitlines())


def wait_time_wait_below(host, port, limit=1000, timeout=70):
    """Waits (TIME_WAIT lasts 60 s) until few sockets towards host:port are in TIME_WAIT."""
    deadline = time.monotonic() + timeout
    waited = False
    while time_wait_towards(host, port) >= limit and time.monotonic() < deadline:
        waited = True
        time.sleep(1)
    if waited:
        print("  (waited for TIME_WAIT towards %s:%d to clear)" % (host, port), file=sys.stderr)


def open_fd3():
    fd = os.open("/dev/null", os.O_WRONLY)
    if fd != 3:
        os.dup2(fd, 3)
        os.close(fd)


def wait_port(host, port, timeout=10):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing answers on %s:%d" % (host, port))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--udp-rates", default="50000,100000,200000,400000",
                    help="offered UDP packets/s, comma-separated")
    ap.add_argument("--udp-seconds", type=float, help="seconds per UDP rate (default --seconds)")
    ap.add_argument("--latency-runs", type=int, default=5,
                    help="container starts/stops timed for the forward's open/close latency")
    args = ap.parse_args()
    udp_rates = [int(x) for x in args.udp_rates.split(",")]
    udp_seconds = args.udp_seconds or args.seconds
    for tool in ("gcc", "iperf3", "wrk", "socat", "docker-proxy"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            sys.exit("forwarding_bench: %s not installed (tests/ci/apt-packages.txt)" % tool)
    proxy_bin = shutil.which("docker-proxy") or "/usr/sbin/docker-proxy"

    engine = Engine("fwd-bench-%d" % os.getpid(), short_tmpdir("fwdbench"))
    engine.start()
    procs = []
    berth = None
    try:
        tools = os.path.join(engine.dir, "tools")
        os.mkdir(tools)
        blast = os.path.join(tools, "udp_blast")
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_blast.c")
        subprocess.run(["gcc", "-O2", "-static", "-o", blast, src], check=True)
        guest = engine.guest_addr
        berth = Berth(engine.url, debug=False, extra_args=["--forward-to", guest]).start()
        engine.docker("run", "-d", "--name", "iperf", "-p", "%d:5201" % IPERF_PORT,
                      "-p", "%d:5201/udp" % IPERF_PORT, "-v", "/:/host:ro",
                      "--tmpfs", "/host/tmp", "bb",  # iperf3 needs a writable /tmp
                      "chroot", "/host", "iperf3", "-s", "-p", "5201")
        engine.docker("run", "-d", "--name", "udpsink", "-p", "%d:9000/udp" % UDP_PORT,
                      "-v", tools + ":/tools:ro", "bb", "/tools/udp_blast", "sink", "9000")
        sink_pid = int(engine.docker("inspect", "-f", "{{.State.Pid}}", "udpsink").stdout)
        for name, port in HTTP_GUEST_PORT.items():
            engine.docker("run", "-d", "--name", "httpd-" + name, "-p", "%d:80" % port, "bb",
                          "sh", "-c", "echo ok > /tmp/index.html; exec httpd -f -p 80 -h /tmp")
        for port, proto in [(IPERF_PORT, "tcp"), (HTTP_PORT, "tcp"), (UDP_PORT, "udp")]:
            http = port == HTTP_PORT
            # docker-proxy reports readiness on fd 3 and quits if it is not open.
            procs.append(subprocess.Popen(
                [proxy_bin, "-proto", proto, "-host-ip", "127.0.0.1",
                 "-host-port", str(port + PROXY_OFFSET), "-container-ip", guest,
                 "-container-port", str(HTTP_GUEST_PORT["docker-proxy"] if http else port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(3,),
                preexec_fn=open_fd3))
            if proto == "tcp":
                procs.append(subprocess.Popen(
                    ["socat", "TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr" % (port + SOCAT_OFFSET),
                     "TCP:%s:%d" % (guest, HTTP_GUEST_PORT["socat"] if http else port)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        paths = [("direct", guest, 0), ("berth", "127.0.0.1", 0), ("berth-relay", "::1", 0),
                 ("docker-proxy", "127.0.0.1", PROXY_OFFSET), ("socat", "127.0.0.1", SOCAT_OFFSET)]

        def http_port(name, off):
            # berth forwards every published port: its two paths reach their own containers.
            return HTTP_GUEST_PORT[name] if name in ("direct", "berth-relay") else HTTP_PORT + off

        for name, host, off in paths:  # (a bare connect would upset iperf3 -s: not its port)
            wait_port(host, http_port(name, off))
        time.sleep(0.5)  # iperf3 -s and httpd up behind the ports

        results = {name: {} for name, _, _ in paths}

        def best(name, key, value):
            results[name][key] = max(results[name].get(key, 0.0), value)

        # socat's per-connection children are reaped too late to be counted: no CPU column.
        relay_pids = {"direct": None, "berth": berth.proc.pid, "berth-relay": berth.proc.pid,
                      "docker-proxy": procs[0].pid, "socat": None}
        udp_pids = dict(relay_pids, **{"docker-proxy": procs[-1].pid})
        cpu = {name: {} for name, _, _ in paths}
        udp = {name: {} for name, _, _ in paths}  # offered rate -> the best round's figures
        for r in range(args.rounds):
            for name, host, off in paths:
                print("round %d: %s" % (r + 1, name), file=sys.stderr)
                for key, reverse in (("to_guest", False), ("from_guest", True)):
                    gbits, cpu_per_gb = tcp_gbits(host, IPERF_PORT + off, args.seconds, reverse,
                                                  relay_pids[name])
                    best(name, key, gbits)
                    cpu[name][key] = min(cpu[name].get(key, 1e9), cpu_per_gb)
                wait_time_wait_below(guest, HTTP_GUEST_PORT[name])
                best(name, "conns", conns_per_s(host, http_port(name, off), args.seconds))
                if name not in ("socat", "berth-relay"):
                    for rate in udp_rates:
                        got = udp_at_rate(blast, host, UDP_PORT + off, udp_seconds, rate,
                                          udp_pids[name], sink_pid)
                        if got["udp"] > udp[name].get(rate, {"udp": -1})["udp"]:
                            udp[name][rate] = got
        print("open/close latency", file=sys.stderr)
        opened_ms, closed_ms = open_close_latency(engine, args.latency_runs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        if berth:
            berth.stop()
            berth.cleanup()
        engine.stop()
        shutil.rmtree(engine.dir, ignore_errors=True)

    with open("/proc/loadavg") as f:
        print("\n%d cores, load average %s (other work on the machine skews every number)" % (
            os.cpu_count(), " ".join(f.read().split()[:3])))
    direct = results["direct"]
    print("\nberth's CPU columns count berth's process only: on its kernel path the NAT work is "
          "the kernel's\n(softirq), in no process.")
    print("\n| path | TCP to container Gbit/s | TCP from container Gbit/s | short conns/s "
          "| relay CPU s/GB (to / from) |")
    print("|---|---|---|---|---|")
    for name, _, _ in paths:
        r = results[name]

        def cell(key, base):
            return "%.2f (%.2f×)" % (r[key], r[key] / base)
        conns = "%.0f (%.2f×)" % (r["conns"], r["conns"] / direct["conns"])
        cpu_cell = "%.2f / %.2f" % (cpu[name]["to_guest"], cpu[name]["from_guest"])
        print("| %s | %s | %s | %s | %s |" % (
            name, cell("to_guest", direct["to_guest"]), cell("from_guest", direct["from_guest"]),
            conns, "n/a" if relay_pids[name] is None else cpu_cell))

    udp_paths = [name for name, _, _ in paths if udp[name]]
    print("\nUDP, 64-byte datagrams at fixed offered rates: delivered kpps while the clock ran "
          "(the sender's\nreached rate when it fell short of the offer), relay CPU µs per "
          "delivered packet / sender + sink + relay µs.")
    print("\n| offered kpps | " + " | ".join(udp_paths) + " |")
    print("|---|" + "---|" * len(udp_paths))
    for rate in udp_rates:
        cells = []
        for name in udp_paths:
            u = udp[name][rate]
            short = " (sent %.1f)" % u["sent"] if u["sent"] < 0.98 * rate / 1e3 else ""
            relay_us = "%.2f" % u["relay_us"] if udp_pids[name] else "n/a"
            cells.append("%.1f%s, %s / %.2f µs" % (u["udp"], short, relay_us, u["path_us"]))
        print("| %.0f | %s |" % (rate / 1e3, " | ".join(cells)))
    if opened_ms:
        print("\nberth's forward on 127.0.0.1, %d container starts and stops: open after the start "
              "event %.1f ms median, %.1f ms max; refused on both loopbacks after the die event "
              "%.1f ms median, %.1f ms max" % (
                  len(opened_ms), opened_ms[len(opened_ms) // 2], opened_ms[-1],
                  closed_ms[len(closed_ms) // 2], closed_ms[-1]))
    b = results["berth"]
    top = max(udp_rates)
    berth_udp, proxy_udp = udp["berth"][top]["udp"], udp["docker-proxy"][top]["udp"]
    targets = [("TCP to container >= 0.8 direct", b["to_guest"] >= 0.8 * direct["to_guest"]),
               ("TCP from container >= 0.8 direct", b["from_guest"] >= 0.8 * direct["from_guest"]),
               ("short conns/s >= 0.8 direct", b["conns"] >= 0.8 * direct["conns"]),
               ("UDP pps >= 2x docker-proxy at %.0fk/s" % (top / 1e3),
                berth_udp >= 2 * proxy_udp)]
    print()
    for what, ok in targets:
        print("%-36s %s" % (what, "met" if ok else "MISSED"))

if __name__ == "__main__":
    main()
