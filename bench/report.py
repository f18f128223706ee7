#!/usr/bin/env python3
"""Turns the raw measurements of bench/run into the table (stdout),
latest.json and chart.svg. Standard library only.

    bench/report.py RAW_DIR OUT_DIR
    bench/report.py LATEST_JSON OUT_DIR   (table and chart again from a
                                           saved latest.json)

RAW_DIR holds one JSON file per measurement (written by bench/run); a
missing measurement is reported as such, never invented."""
import glob
import json
import os
import sys


def load(raw, name):
    path = os.path.join(raw, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def per_request(run, field):
    if not run or not run.get("requests"):
        return None
    return run[field] / run["requests"]


def fmt(v, spec="{:.2f}", none="n/a"):
    return none if v is None else spec.format(v)


# --------------------------------------------------------------------------
# Figures and targets
# --------------------------------------------------------------------------

def collect(raw):
    runs = {}
    for path in sorted(glob.glob(os.path.join(raw, "*.json"))):
        name = os.path.basename(path)[:-5]
        if name in ("meta", "verify", "openssl", "memory", "elapsed") or \
                name.startswith("rss_"):
            continue
        runs[name] = load(raw, name)
    meta = load(raw, "meta") or {}
    verify = load(raw, "verify") or {}
    ossl = load(raw, "openssl") or {}
    memory = load(raw, "memory") or []
    for m in memory:
        m["bytes_per_session"] = (m["used_memory"] - m["baseline_memory"]) / \
            max(m["sessions"], 1)
    rss = {k: (load(raw, "rss_" + k) or {}).get("rss_kb") for k in ("1w", "2w")}
    elapsed = (load(raw, "elapsed") or {}).get("seconds")
    return meta, runs, verify, ossl, memory, rss, elapsed


def rps(runs, name):
    r = runs.get(name)
    return r["rps"] if r else None


def targets(runs, verify, ossl, memory):
    hot, bad = runs.get("hot_1w"), runs.get("bad_token")
    mem100k = next((m for m in memory if m["sessions"] >= 99000), None)
    rows = []

    def row(name, value, goal, met, detail):
        rows.append({"target": name, "value": value, "goal": goal,
                     "met": met, "detail": detail})

    r = ratio(rps(runs, "hot_1w"), rps(runs, "bare_1w"))
    row("hot path / bare evhttp req/s, 1 worker", r, ">= 0.6",
        None if r is None else r >= 0.6,
        "%s vs %s req/s" % (fmt(rps(runs, "hot_1w"), "{:.0f}"),
                            fmt(rps(runs, "bare_1w"), "{:.0f}")))
    ev = per_request(hot, "redis_evalsha")
    # wrk counts completed requests only: each connection may have sent one
    # more whose EVALSHA ran when the clock stopped.
    ev_max = hot and (hot["redis_evalsha"] - hot["connections"]) / hot["requests"]
    row("Redis round trips per hot-path request", ev, "<= 1",
        None if ev is None else ev_max <= 1,
        "EVALSHA per request; %s Redis commands per request incl. those "
        "inside the script" % fmt(per_request(hot, "redis_calls")))
    bc = per_request(bad, "redis_calls")
    row("Redis commands per failing-token request", bc, "0",
        None if bc is None else bc == 0,
        "%s requests with a bad signature" % fmt(bad and bad["requests"], "{:d}"))
    for alg, ref, label in (("rs256", "rsa2048_verify_per_s", "RS256 / rsa2048"),
                            ("es256", "ecdsap256_verify_per_s", "ES256 / ecdsap256")):
        v = ratio(verify.get(alg + "_sig_per_s"), ossl.get(ref))
        row("cold signature check %s openssl speed" % label, v, ">= 0.8",
            None if v is None else v >= 0.8,
            "%s vs %s verifies/s (form, header, key, signature)" % (
                fmt(verify.get(alg + "_sig_per_s"), "{:.0f}"),
                fmt(ossl.get(ref), "{:.0f}")))
        v = ratio(verify.get(alg + "_per_s"), ossl.get(ref))
        row("  whole token check (+ claims) %s" % label, v, "info", None,
            "%s verifies/s" % fmt(verify.get(alg + "_per_s"), "{:.0f}"))
    b = mem100k["bytes_per_session"] if mem100k else None
    row("Redis memory per open session (100k)", b, "<= 400 B",
        None if b is None else b <= 400,
        "INFO used_memory delta / sessions at %s" %
        (mem100k["sessions"] if mem100k else "n/a"))
    t = ratio(hot and hot["p99_us"], hot and hot["p50_us"])
    row("hot path p99 / p50 at 50 connections", t, "<= 2",
        None if t is None else t <= 2,
        "p50 %s ms, p99 %s ms" % (fmt(hot and hot["p50_us"] / 1e3),
                                  fmt(hot and hot["p99_us"] / 1e3)))
    s = ratio(rps(runs, "hot_2w"), rps(runs, "hot_1w_t2"))
    row("scaling: 2 workers / 1 worker (hot path)", s, "shown",
        None, "bare evhttp 2/1: %s" %
        fmt(ratio(rps(runs, "bare_2w"), rps(runs, "bare_1w_t2"))))
    return rows


# --------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------

def table(meta, runs, verify, ossl, memory, rss, rows, elapsed):
    many = "@%dk open" % round(memory[-1].get("open", memory[-1]["sessions"]) / 1000) \
        if memory else "@many"
    out = []
    p = out.append
    p("sessiond benchmark  %s  commit %s%s  %s cores  redis %s  wrk %s  openssl %s" % (
        meta.get("started", "?"), meta.get("commit", "?"),
        " (dirty)" if meta.get("dirty") else "", meta.get("nproc", "?"),
        meta.get("redis", "?"), meta.get("wrk", "?"), meta.get("openssl", "?")))
    p("wrk -t1 -c%s -d%ss over %s tokens unless noted; %s" % (
        meta.get("connections"), meta.get("duration_s"), meta.get("tokens"),
        "quick run" if meta.get("quick") else "full run"))
    p("")
    p("%-30s %10s %9s %9s %9s %8s %9s %9s" % (
        "run", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "non-2xx", "EVALSHA/r",
        "cmds/r"))
    order = [("bare_1w", "bare evhttp 204 (HTTP lim)"),
             ("redis_resume", "redis-benchmark EVALSHA"),
             ("hot_1w", "sessiond hot path"),
             ("hot_1w_nolog", "sessiond hot, log_level warn"),
             ("bad_token", "sessiond bad signature"),
             ("churn", "sessiond open+close"),
             ("deny", "sessiond deny (pool full)"),
             ("bare_1w_t2", "bare evhttp, wrk -t2"),
             ("bare_2w", "bare evhttp 2 procs -t2"),
             ("hot_1w_t2", "sessiond 1 worker, -t2"),
             ("hot_2w", "sessiond 2 workers, -t2"),
             ("redis_resume_many", "redis-benchmark " + many),
             ("hot_1w_many", "sessiond hot " + many)]
    for key, label in order:
        r = runs.get(key)
        if not r:
            continue
        p("%-30s %10.0f %9.3f %9.3f %9s %8s %9s %9s" % (
            label, r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3,
            fmt(r.get("p999_us") and r["p999_us"] / 1e3, "{:.3f}", "-"),
            r.get("non_2xx", "-"), fmt(per_request(r, "redis_evalsha")),
            fmt(per_request(r, "redis_calls"))))
    p("")
    p("verification (cold, in-process, per s): RS256 signature layer %s, whole "
      "check %s, openssl speed rsa2048 %s; ES256 signature layer %s, whole check "
      "%s, openssl speed ecdsap256 %s" % (
          fmt(verify.get("rs256_sig_per_s"), "{:.0f}"),
          fmt(verify.get("rs256_per_s"), "{:.0f}"),
          fmt(ossl.get("rsa2048_verify_per_s"), "{:.0f}"),
          fmt(verify.get("es256_sig_per_s"), "{:.0f}"),
          fmt(verify.get("es256_per_s"), "{:.0f}"),
          fmt(ossl.get("ecdsap256_verify_per_s"), "{:.0f}")))
    p("worker RSS: 1 worker %s MiB, 2 workers %s MiB (total)" % (
        fmt(rss.get("1w") and rss["1w"] / 1024, "{:.1f}"),
        fmt(rss.get("2w") and rss["2w"] / 1024, "{:.1f}")))
    for m in memory:
        p("Redis memory, %8d sessions added (%d open): %7.1f bytes per added session"
          " (%d keys)" % (m["sessions"], m.get("open", m["sessions"]),
                          m["bytes_per_session"], m["keys"]))
    p("")
    p("%-52s %10s %9s  %s" % ("target", "measured", "goal", "met"))
    for t in rows:
        met = "-" if t["met"] is None else ("yes" if t["met"] else "NO")
        p("%-52s %10s %9s  %-4s %s" % (t["target"], fmt(t["value"]), t["goal"], met,
                                     t["detail"]))
    if elapsed:
        p("")
        p("benchmark time: %d s" % elapsed)
    return "\n".join(out)


# --------------------------------------------------------------------------
# Chart
# --------------------------------------------------------------------------

SERIES = [("sessiond", "sessiond hot path (1 worker)", "#1f77b4"),
          ("bare", "bare evhttp 204 (HTTP limit)", "#2ca02c"),
          ("redis", "redis-benchmark EVALSHA (Redis limit)", "#d62728")]


def sweep_points(runs, series):
    pts = []
    for name, r in runs.items():
        prefix = "sweep_%s_c" % series
        if name.startswith(prefix):
            pts.append((int(name[len(prefix):]), r["rps"], r["p99_us"] / 1e3))
    return sorted(pts)


def nice_max(v):
    if v <= 0:
        return 1
    mag = 10 ** len(str(int(v))) / 10
    for step in (1, 1.5, 2, 2.5, 5, 10):
        if step * mag >= v:
            return step * mag
    return 10 * mag


def panel(x0, y0, w, h, title, unit, conns, data, idx, meta):
    """One panel: x = connections (evenly spaced), y = data[idx] values."""
    s = []
    vmax = nice_max(max([p[idx] for pts in data.values() for p in pts] or [1]) * 1.05)
    s.append('<text x="%d" y="%d" class="title">%s</text>' % (x0, y0 - 12, title))
    s.append('<rect x="%d" y="%d" width="%d" height="%d" class="frame"/>' % (x0, y0, w, h))
    for k in range(6):
        v = vmax * k / 5
        y = y0 + h - h * k / 5
        s.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>' % (
            x0, y, x0 + w, y))
        label = ("%.0f" % v) if vmax >= 10 else ("%.2f" % v)
        s.append('<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>' % (
            x0 - 6, y + 4, label))
    s.append('<text x="%d" y="%d" class="axis" transform="rotate(-90 %d %d)" '
             'text-anchor="middle">%s</text>' % (x0 - 52, y0 + h // 2, x0 - 52,
                                                 y0 + h // 2, unit))
    n = len(conns)

    def xpos(c):
        i = conns.index(c)
        return x0 + (w * (i + 0.5) / n)

    for c in conns:
        s.append('<text x="%.1f" y="%d" class="tick" text-anchor="middle">%d</text>' % (
            xpos(c), y0 + h + 16, c))
    s.append('<text x="%d" y="%d" class="axis" text-anchor="middle">concurrent '
             'connections</text>' % (x0 + w // 2, y0 + h + 34))
    for key, _, color in SERIES:
        pts = [p for p in data.get(key, []) if p[0] in conns]
        if not pts:
            continue
        path = " ".join("%s%.1f,%.1f" % ("M" if i == 0 else "L", xpos(p[0]),
                                          y0 + h - h * p[idx] / vmax)
                        for i, p in enumerate(pts))
        s.append('<path d="%s" stroke="%s" class="line"/>' % (path, color))
        for p in pts:
            s.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s: %d '
                     'connections, %.2f %s</title></circle>' % (
                         xpos(p[0]), y0 + h - h * p[idx] / vmax, color, key, p[0],
                         p[idx], unit))
    return s


def chart(runs, meta):
    data = {key: sweep_points(runs, key) for key, _, _ in SERIES}
    conns = sorted({p[0] for pts in data.values() for p in pts})
    if not conns:
        return None
    W, H = 960, 430
    s = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'viewBox="0 0 %d %d" font-family="sans-serif">' % (W, H, W, H),
         '<style>.title{font-size:15px;font-weight:bold}.tick{font-size:11px;fill:#444}'
         '.axis{font-size:12px;fill:#222}.frame{fill:none;stroke:#888}'
         '.grid{stroke:#ddd}.line{fill:none;stroke-width:2}.legend{font-size:12px}'
         '.note{font-size:11px;fill:#555}</style>',
         '<rect width="100%" height="100%" fill="white"/>']
    s += panel(80, 50, 370, 270, "Throughput", "requests/s", conns, data, 1, meta)
    s += panel(560, 50, 370, 270, "p99 latency", "ms", conns, data, 2, meta)
    y = 380
    x = 80
    for key, label, color in SERIES:
        s.append('<rect x="%d" y="%d" width="14" height="4" fill="%s"/>' % (x, y - 4,
                                                                          color))
        s.append('<text x="%d" y="%d" class="legend">%s</text>' % (x + 20, y, label))
        x += 290
    s.append('<text x="80" y="410" class="note">%s, %s cores, commit %s; wrk -t1 over '
             '%s tokens, %s s per point; one run, side by side.</text>' % (
                 meta.get("started", "?"), meta.get("nproc", "?"),
                 meta.get("commit", "?"), meta.get("tokens", "?"),
                 "2" if meta.get("quick") else "3"))
    s.append("</svg>")
    return "\n".join(s) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bench/report.py RAW_DIR OUT_DIR")
    raw, out = sys.argv[1], sys.argv[2]
    if raw.endswith(".json"):
        with open(raw) as f:
            d = json.load(f)
        meta, runs, memory = d["meta"], d["runs"], d["memory"]
        verify = d["verification"]["in_process"]
        ossl = d["verification"]["openssl_speed"]
        rss, elapsed = d["worker_rss_kb"], d["elapsed_s"]
    else:
        meta, runs, verify, ossl, memory, rss, elapsed = collect(raw)
    rows = targets(runs, verify, ossl, memory)
    print(table(meta, runs, verify, ossl, memory, rss, rows, elapsed))
    doc = {"meta": meta, "targets": rows, "runs": runs,
           "verification": {"in_process": verify, "openssl_speed": ossl},
           "memory": memory, "worker_rss_kb": rss, "elapsed_s": elapsed}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    svg = chart(runs, meta)
    if svg:
        with open(os.path.join(out, "chart.svg"), "w") as f:
            f.write(svg)


if __name__ == "__main__":
    main()
