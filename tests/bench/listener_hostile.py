#!/usr/bin/env python3
"""Hostile-load generator for tests/bench/listener_bench.sh (not a test).

Hostile clients bind to 127.0.0.2-127.0.0.254 (source addresses, round-robin), the legitimate
one to 127.0.0.1. While the hostile clients hold on (each reconnects when the server closes it):
  - slowloris: TLS, then a header byte every second;
  - silent connects: TCP, nothing sent;
  - header floods: TLS, 8 KiB header lines as fast as the server takes them;
  - trickled handshakes: TCP, a ClientHello a byte a second;
  - forged webhooks (bad signature) at --forged-rate per second on kept-alive TLS connections;
  - new handshakes at --handshake-rate per second (each sends one forged webhook, then closes);
the legitimate client (another process) sends a signed approval every --legit-interval seconds
on a new TLS connection and records the time to its answer, then does the same with a health
check (no ledger write). Prints one JSON object (with "error" and a non-zero exit status when
a part of the load gave no result); `--summary FILE` prints that object in a few lines.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import logging
import multiprocessing
import os
import queue
import socket
import ssl
import sys
import time

APPROVAL = '{{"type":"promotion.approved","data":{{"agent_id":"{agent}","target_tier":1,' \
           '"approver":"bench","rationale":"hostile-load bench"}}}}'


def hostile_addr(i):
    return "127.0.0.%d" % (2 + i % 253)


def client_ctx(ca):
    ctx = ssl.create_default_context(cafile=ca)
    return ctx


def sign(secret, msg_id, ts, body):
    key = base64.b64decode(secret.strip()[len("whsec_"):])
    mac = hmac.new(key, ("%s.%d.%s" % (msg_id, ts, body)).encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def webhook_request(body, msg_id, ts, signature, close=False):
    return ("POST /v1/webhooks/approval HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Type: application/json\r\nwebhook-id: %s\r\nwebhook-timestamp: %d\r\n"
            "webhook-signature: %s\r\nContent-Length: %d\r\n%s\r\n%s"
            % (msg_id, ts, signature, len(body), "Connection: close\r\n" if close else "", body)).encode()


async def read_answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return int(head.split(b" ")[1])


class Stats:
    def __init__(self):
        self.counts = {}
        self.live = 0  # hostile connections open now (slowloris, silent, flood, trickle)

    def add(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n


async def hold(kind, i, args, ctx, stats, stop):
    """One hostile client of `kind`, reconnecting whenever the server closes it."""
    while not stop.is_set():
        reader = None
        try:
            use_tls = kind in ("slowloris", "flood")
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", args.port, ssl=ctx if use_tls else None,
                server_hostname="localhost" if use_tls else None,
                local_addr=(hostile_addr(i), 0)), 10)
            stats.add(kind + "_connects")
            stats.live += 1
            # Done when the server closes the connection (whatever it answered first).
            closed = asyncio.ensure_future(reader.read())
            if kind == "slowloris":
                writer.write(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n")
                while not stop.is_set() and not closed.done():
                    writer.write(b"X")
                    await writer.drain()
                    await asyncio.wait([closed], timeout=1)
            elif kind == "flood":
                writer.write(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n")
                line = b"X-Fill: " + b"a" * 8192 + b"\r\n"
                while not stop.is_set() and not closed.done():
                    writer.write(line)
                    await writer.drain()
                    # drain() does not suspend while the transport takes data, nor once the
                    # server has closed (asyncio's SSL transport then drops writes silently):
                    # without this the loop never lets `closed` (or anything else) run.
                    await asyncio.sleep(0)
            elif kind == "trickle":
                hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200)
                for b in hello:
                    if stop.is_set() or closed.done():
                        break
                    writer.write(bytes([b]))
                    await writer.drain()
                    await asyncio.wait([closed], timeout=1)
                while not stop.is_set() and not closed.done():
                    await asyncio.sleep(0.2)
            else:  # silent
                while not stop.is_set() and not closed.done():
                    await asyncio.sleep(0.2)
            stats.live -= 1
            if closed.done():
                stats.add(kind + "_closed_by_server")
            closed.cancel()
            writer.close()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError):
            if reader is not None:
                stats.live -= 1
            stats.add(kind + "_closed_by_server")
        await asyncio.sleep(0.05)


async def forged_stream(i, rate, args, ctx, stats, stop):
    """Forged webhooks at `rate`/s on one kept-alive connection (reconnecting when closed)."""
    interval = 1.0 / rate
    n = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", args.port, ssl=ctx, server_hostname="localhost",
                local_addr=(hostile_addr(100 + i), 0))
            nxt = time.monotonic()
            while not stop.is_set():
                n += 1
                body = APPROVAL.format(agent="forged-%d-%d" % (i, n))
                writer.write(webhook_request(body, "forged-%d-%d" % (i, n), int(time.time()),
                                             "v1," + base64.b64encode(os.urandom(32)).decode()))
                status = await read_answer(reader)
                stats.add("forged_%d" % status)
                nxt += interval
                delay = nxt - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            writer.close()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            stats.add("forged_conn_lost")


async def handshakes(rate, args, ctx, stats, stop):
    interval = 1.0 / rate
    nxt = time.monotonic()
    k = 0

    async def one(k):
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", args.port, ssl=ctx, server_hostname="localhost",
                local_addr=(hostile_addr(k), 0))
            body = APPROVAL.format(agent="forged-hs-%d" % k)
            writer.write(webhook_request(body, "forged-hs-%d" % k, int(time.time()), "v1,AAAA", True))
            stats.add("handshake_%d" % await read_answer(reader))
            writer.close()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            stats.add("handshake_failed")

    tasks = set()
    while not stop.is_set():
        k += 1
        t = asyncio.ensure_future(one(k))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        nxt += interval
        await asyncio.sleep(max(0, nxt - time.monotonic()))


async def hostile_main(args, ready, done):
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    ctx = client_ctx(args.ca)
    stats = Stats()
    stop = asyncio.Event()
    per = max(1, args.hostile // 4)
    jobs = []
    for i in range(args.hostile):
        kind = ("slowloris", "silent", "flood", "trickle")[min(i // per, 3)]
        jobs.append(asyncio.ensure_future(hold(kind, i, args, ctx, stats, stop)))
    streams = args.forged_connections if args.forged_rate > 0 else 0
    for i in range(streams):
        jobs.append(asyncio.ensure_future(forged_stream(i, args.forged_rate / streams, args, ctx, stats, stop)))
    if args.handshake_rate > 0:
        jobs.append(asyncio.ensure_future(handshakes(args.handshake_rate, args, ctx, stats, stop)))
    await asyncio.sleep(args.warmup)
    ready.set()
    start, cpu, base, live = time.monotonic(), time.process_time(), dict(stats.counts), []
    while not done.is_set():
        live.append(stats.live)
        await asyncio.sleep(0.2)
    stop.set()
    window = {k: v - base.get(k, 0) for k, v in stats.counts.items() if v != base.get(k, 0)}
    return {"window_s": round(time.monotonic() - start, 1), "in_window": window,
            "cpu_s": round(time.process_time() - cpu, 1),
            "live_min": min(live, default=0), "live_median": sorted(live)[len(live) // 2] if live else 0,
            "total": stats.counts}


def hostile_process(args, ready, done, out):
    loop = asyncio.new_event_loop()
    out.put(loop.run_until_complete(hostile_main(args, ready, done)))
    out.close()
    out.join_thread()
    os._exit(0)  # no orderly TLS shutdown of hundreds of hostile connections


def timed_exchange(args, ctx, req):
    """One request on a new TLS connection from 127.0.0.1: (status or 0, milliseconds)."""
    t0 = time.monotonic()
    try:
        raw = socket.create_connection(("127.0.0.1", args.port), timeout=10, source_address=("127.0.0.1", 0))
        # As curl, urllib3 and Go's net/http do. Without it the request written right after the
        # handshake waits for the ACK of the client's Finished, which the server delays (~40 ms
        # on Linux): a client-side artefact that dominated the first measurements.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(req)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            status = int(data.split(b" ")[1]) if data else 0
    except OSError:
        status = 0
    return status, (time.monotonic() - t0) * 1000


def legit_process(args, ready, done, out):
    """Signed approvals from 127.0.0.1, one new TLS connection each, timed to the answer; after
    each, an unauthenticated health check the same way (no ledger write: the listener's share)."""
    ctx = client_ctx(args.ca)
    secret = open(args.secrets).read().split()[0]
    if not ready.wait(args.warmup + 60):
        done.set()
        out.put({"error": "the hostile process never became ready"})
        return
    latencies, statuses, health, health_statuses = [], {}, [], {}
    cpu = time.process_time()
    health_req = b"GET /v1/sys/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    end = time.monotonic() + args.duration
    i = 0
    while time.monotonic() < end:
        t0 = time.monotonic()
        body = APPROVAL.format(agent="bench-%06d" % i)
        ts, msg_id = int(time.time()), "legit-%d" % i
        status, ms = timed_exchange(args, ctx, webhook_request(body, msg_id, ts, sign(secret, msg_id, ts, body), True))
        latencies.append(ms)
        statuses[status] = statuses.get(status, 0) + 1
        status, ms = timed_exchange(args, ctx, health_req)
        health.append(ms)
        health_statuses[status] = health_statuses.get(status, 0) + 1
        i += 1
        time.sleep(max(0, args.legit_interval - (time.monotonic() - t0)))
    done.set()
    out.put({"latencies_ms": latencies, "statuses": statuses, "sent": i,
             "cpu_s": round(time.process_time() - cpu, 1),
             "health_ms": health, "health_statuses": health_statuses})


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else None


def summary(path):
    """The result file in a few lines: what the legitimate client saw, what the hostile load was."""
    r = json.load(open(path))
    if "error" in r:
        print("error:", r["error"])
    if "legit_sent" in r:
        print("legitimate approvals: %d sent, answers %s; p50 %.1f ms, p99 %.1f ms, max %.1f ms"
              % (r["legit_sent"], r["legit_statuses"], r["legit_p50_ms"], r["legit_p99_ms"],
                 r["legit_max_ms"]))
    if "health_p50_ms" in r:
        print("health checks (same client, after each approval): answers %s; p50 %.1f ms, p99 %.1f ms, "
              "max %.1f ms" % (r["health_statuses"], r["health_p50_ms"], r["health_p99_ms"], r["health_max_ms"]))
    print("daemon peak RSS: %d kB" % r["daemon_rss_max_kb"])
    h = r.get("hostile")
    if not h:
        return
    w, secs = h["in_window"], h["window_s"]

    def rate(prefix):
        return sum(v for k, v in w.items() if k.startswith(prefix) and k[len(prefix):].isdigit()) / secs

    print("generator CPU time over the window: hostile process %.1f s, legitimate client %.1f s"
          % (h["cpu_s"], r.get("legit_cpu_s", 0)))
    print("hostile load over %.1f s: forged webhooks answered %.0f/s on kept-alive connections, "
          "new-handshake webhooks answered %.0f/s (%d failed); hostile connections open: "
          "min %d, median %d; reconnects/s: flood %.0f, slowloris %.1f, silent %.1f, trickle %.1f"
          % (secs, rate("forged_"), rate("handshake_"), w.get("handshake_failed", 0),
             h["live_min"], h["live_median"], w.get("flood_connects", 0) / secs,
             w.get("slowloris_connects", 0) / secs, w.get("silent_connects", 0) / secs,
             w.get("trickle_connects", 0) / secs))
    print("answers to forged webhooks:", {k: v for k, v in sorted(w.items())
                                          if k.startswith(("forged_", "handshake_"))})


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--summary":
        return summary(sys.argv[2])
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--secrets", required=True)
    ap.add_argument("--pid", type=int, required=True, help="the daemon, for RSS")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--hostile", type=int, default=200)
    ap.add_argument("--forged-rate", type=float, default=500)
    ap.add_argument("--forged-connections", type=int, default=10)
    ap.add_argument("--handshake-rate", type=float, default=50)
    ap.add_argument("--legit-interval", type=float, default=0.1)
    args = ap.parse_args()
    ready, done = multiprocessing.Event(), multiprocessing.Event()
    hq, lq = multiprocessing.Queue(), multiprocessing.Queue()
    hp = multiprocessing.Process(target=hostile_process, args=(args, ready, done, hq))
    lp = multiprocessing.Process(target=legit_process, args=(args, ready, done, lq))
    hp.start()
    lp.start()
    rss_max = 0
    # Whatever goes wrong, one JSON object comes out (with "error") and the exit status says so.
    deadline = time.monotonic() + args.warmup + args.duration + 120
    while lp.is_alive() and lq.empty() and time.monotonic() < deadline:
        try:
            with open("/proc/%d/status" % args.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss_max = max(rss_max, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.25)
    result = {"daemon_rss_max_kb": rss_max}
    legit, hostile = {}, None
    try:
        legit = lq.get(timeout=30)
    except queue.Empty:
        result["error"] = "the legitimate process gave no result"
    done.set()
    try:
        hostile = hq.get(timeout=60)
    except queue.Empty:
        result.setdefault("error", "the hostile process gave no result")
    for p in (lp, hp):
        p.join(5)
        if p.is_alive():
            p.kill()
    result["hostile"] = hostile
    if "error" in legit:
        result["error"] = legit["error"]
    lat = legit.get("latencies_ms", [])
    if lat:
        result.update({
            "legit_sent": legit["sent"], "legit_statuses": legit["statuses"], "legit_cpu_s": legit["cpu_s"],
            "legit_p50_ms": round(pct(lat, 50), 2), "legit_p99_ms": round(pct(lat, 99), 2),
            "legit_max_ms": round(max(lat), 2)})
    health = legit.get("health_ms", [])
    if health:
        result.update({
            "health_statuses": legit["health_statuses"], "health_p50_ms": round(pct(health, 50), 2),
            "health_p99_ms": round(pct(health, 99), 2), "health_max_ms": round(max(health), 2)})
    elif "error" not in result:
        result["error"] = "no legitimate request was sent"
    print(json.dumps(result, sort_keys=True))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
