#!/usr/bin/env python3
"""Draws examples/grafana/vastfleet.json's panels from a real run, for README's picture.

Grafana is not needed (nor installed where this was made): the script starts the simulator
(`vastfleet sim`) with the scenario below, a real `vastfleet watch --metrics` against it,
scrapes /metrics every STEP seconds for SECONDS, then lays the dashboard's panels out by
their gridPos and draws each one with matplotlib. The layout, titles and units come from the
dashboard JSON; each panel's series are computed here in Python to mirror its PromQL query
(rates from counter differences, `increase(...[1h])` as the increase since the run began,
which is the same thing for a run shorter than an hour). A panel with no drawing here is an
error, so the script and the dashboard cannot drift apart unnoticed.

    python3 -m venv target/render-venv && target/render-venv/bin/pip install matplotlib
    cargo build && target/render-venv/bin/python scripts/render-dashboard.py
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# Five instances and two API faults, so every panel has something to show in a few minutes.
SCENARIO = """
key = "sim-key"

[[instance]]
id = 41000001
label = "train-a"
dph_total = 0.402
lines_per_second = 0.5
line_text = "[train] step {n} loss=0.37"
complete_at = "100s"

[[instance]]
id = 41000002
label = "train-b"
gpu_name = "A100 SXM4"
num_gpus = 2
dph_total = 2.134
lines_per_second = 1.0
line_text = "[train] epoch 1 step {n}"
  [[instance.log]]
  at = "70s"
  text = "Traceback (most recent call last):"

[[instance]]
id = 41000003
label = "infer"
gpu_name = "RTX 4090"
num_gpus = 4
dph_total = 1.608
  [[instance.log]]
  at = "1s"
  every = "3s"
  text = "[serve] {n} requests served"

[[instance]]
id = 41000004
label = "hung"
dph_total = 0.221
  [[instance.log]]
  at = "1s"
  every = "2s"
  count = 8
  text = "[prep] shard {n}/40"

[[instance]]
id = 41000005
label = "booting"
dph_total = 0.35
state = "booting"
age = "10s"
lines_per_second = 0.3
line_text = "[job] item {n}"
  [instance.timing]
  provisioning = "4s"
  created = "4s"
  loading = "10s"

[[fault]]
kind = "429"
from = "45s"
until = "60s"
endpoints = ["request_logs"]

[[fault]]
kind = "503"
from = "120s"
until = "140s"
endpoints = ["list"]
"""

FLEET = """
[api]
api_down_after = "10s"

[defaults]
interval = "2s"
max_backoff = "4s"
failure = '^Traceback'
on_failure = "none"
on_complete = "stop"
silent = "45s"
on_guard = "none"
"""

BG, PANEL, FG, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
COLORS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a"]


def parse(text):
    """Prometheus text → [(name, labels, value)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, rest = series.partition("{")
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        out.append((name, labels, float(value)))
    return out


class Run:
    """The scrapes of one run: times (seconds since the first) and samples."""

    def __init__(self):
        self.times, self.walls, self.scrapes = [], [], []

    def add(self, t, wall, samples):
        self.times.append(t)
        self.walls.append(wall)
        self.scrapes.append(samples)

    def series(self, name, keep=lambda labels: True, key=lambda labels: ""):
        """{legend: ([t], [v])}, summing samples that share a legend."""
        out = defaultdict(dict)
        for t, samples in zip(self.times, self.scrapes):
            for n, labels, v in samples:
                if n == name and keep(labels):
                    k = key(labels)
                    out[k][t] = out[k].get(t, 0.0) + v
        return {k: (list(d), list(d.values())) for k, d in sorted(out.items())}

    def rate(self, name, keep=lambda labels: True, key=lambda labels: "", window=20.0):
        """Per-second increase over the last `window` seconds, like rate()."""
        out = {}
        for k, (ts, vs) in self.series(name, keep, key).items():
            rt, rv, j = [], [], 0
            for i, t in enumerate(ts):
                while ts[j] < t - window:
                    j += 1
                if i > j:
                    rt.append(t)
                    rv.append(max(vs[i] - vs[j], 0.0) / (t - ts[j]))
            out[k] = (rt, rv)
        return out

    def increase(self, name, keep=lambda labels: True, key=lambda labels: ""):
        """increase(...[1h]) for a run shorter than an hour: the rise since the first scrape.
        vastfleet declares a counter's series at its first event, so one that appears after
        the first scrape rose from 0."""
        out = {}
        for k, (ts, vs) in self.series(name, keep, key).items():
            base = vs[0] if ts[0] == self.times[0] else 0.0
            before = [t for t in self.times if t < ts[0]]
            out[k] = (before + ts, [0.0] * len(before) + [v - base for v in vs])
        return out

    def age(self, name, key=lambda labels: ""):
        """time() - gauge (a timestamp)."""
        out = defaultdict(lambda: ([], []))
        for t, wall, samples in zip(self.times, self.walls, self.scrapes):
            for n, labels, v in samples:
                if n == name:
                    out[key(labels)][0].append(t)
                    out[key(labels)][1].append(wall - v)
        return dict(sorted(out.items()))

    def burning(self, by_instance):
        """vastfleet_instance_dph and on(instance_id) vastfleet_instance_up{status!~"stopped|gone"}."""
        out = defaultdict(dict)
        for t, samples in zip(self.times, self.scrapes):
            billing = {l["instance_id"] for n, l, _ in samples
                       if n == "vastfleet_instance_up" and l["status"] not in ("stopped", "gone")}
            for n, l, v in samples:
                if n == "vastfleet_instance_dph" and l["instance_id"] in billing:
                    k = l["label"] if by_instance else "$/hr"
                    out[k][t] = out[k].get(t, 0.0) + v
        return {k: (list(d), list(d.values())) for k, d in sorted(out.items())}

    def last(self, name):
        vals = [v for n, _, v in self.scrapes[-1] if n == name]
        return vals


def by(*names):
    return lambda labels: " ".join(labels.get(n, "") for n in names)


def merge(*groups, prefixes=None):
    out = {}
    for i, group in enumerate(groups):
        for k, v in group.items():
            out[(prefixes[i] if prefixes else "") + k] = v
    return out


def panels(run):
    """Each dashboard panel's series, by title: ("stat", text) or ("lines", {legend: (t, v)}, style)."""
    last_log = "vastfleet_last_log_timestamp_seconds"
    sweep_age = run.age("vastfleet_last_sweep_timestamp_seconds", key=lambda l: "age of the last good sweep")
    build = [l for n, l, _ in run.scrapes[-1] if n == "vastfleet_build_info"][0]
    return {
        "Last good status sweep": ("stat", f"{list(sweep_age.values())[0][1][-1]:.1f} s"),
        "Watched instances": ("stat", f"{run.last('vastfleet_watched_instances')[0]:.0f}"),
        "$/hr burning": ("stat", f"${sum(v[1][-1] for v in run.burning(False).values()):.2f}"),
        "Spent so far": ("stat", f"${sum(run.last('vastfleet_instance_spend_usd')):.2f}"),
        "Version": ("stat", f"{build['version']} {build['os']}/{build['arch']}"),
        "API calls/s by endpoint (actual pace)": ("lines", run.rate("vastfleet_api_calls_total", key=by("endpoint"))),
        "429s/s by endpoint": ("lines", run.rate("vastfleet_api_calls_total", lambda l: l["status"] == "429", by("endpoint"))),
        "Throttle: allowed pace": ("lines", merge(
            run.series("vastfleet_throttle_effective_rate", key=lambda l: "overall ceiling"),
            run.series("vastfleet_throttle_pace", key=by("endpoint")),
            run.series("vastfleet_throttle_limited", key=lambda l: l["endpoint"] + " limited"))),
        "API errors and backoff": ("lines", merge(
            run.rate("vastfleet_api_errors_total", key=by("scope")),
            run.series("vastfleet_backoff_seconds", key=by("scope")),
            prefixes=["errors/s ", "backoff (s) "])),
        "Status sweep age": ("lines", merge(sweep_age, run.series(
            "vastfleet_sweep_stale_after_seconds", key=lambda l: "/healthz fails above"))),
        "Instances by status": ("stack", {k: (ts, vs) for k, (ts, vs) in
                                          run.series("vastfleet_instance_up", key=by("status")).items()}),
        "$/hr burning by instance": ("stack", run.burning(True)),
        "Spend by instance": ("lines", run.series("vastfleet_instance_spend_usd", key=by("label"))),
        "Log age by instance (since the last new line)": ("lines", run.age(last_log, key=by("label"))),
        "Completions, failures, guards, actions (per hour)": ("lines", merge(
            run.increase("vastfleet_completions_total", key=lambda l: "completions"),
            run.increase("vastfleet_failures_total", key=lambda l: f"failures ({l['reason']})"),
            run.increase("vastfleet_guard_firings_total", key=lambda l: f"guard {l['guard']}"),
            run.increase("vastfleet_actions_total", key=lambda l: f"{l['action']} ok={l['ok']}"))),
        "CPU (cores)": ("lines", run.rate("process_cpu_seconds_total", key=lambda l: "cpu")),
        "Resident memory": ("lines", {k: (ts, [v / 2**20 for v in vs]) for k, (ts, vs) in
                                      run.series("process_resident_memory_bytes", key=lambda l: "rss (MiB)").items()}),
        "Open file descriptors": ("lines", run.series("process_open_fds", key=lambda l: "open")),
    }


def draw(dashboard, run, out):
    drawn = panels(run)
    layout = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in layout) + 1  # + the caption
    width, unit = 16.0, 0.3  # inches: 24 columns across, `unit` per grid row
    fig = plt.figure(figsize=(width, rows * unit), facecolor=BG)
    pad = 0.004
    for p in layout:
        g = p["gridPos"]
        x0, w = g["x"] / 24, g["w"] / 24
        y0 = 1 - (g["y"] + g["h"]) / rows
        h = g["h"] / rows
        if p["type"] == "row":
            fig.text(x0 + 0.005, y0 + h / 2, p["title"], color=FG, fontsize=11, weight="bold", va="center")
            continue
        if p["title"] not in drawn:
            sys.exit(f"render-dashboard: no drawing for panel {p['title']!r}; add one to panels()")
        kind, data = drawn[p["title"]][0], drawn[p["title"]][1]
        # Room on the left for tick labels and on top for the title, inside the panel's cell.
        left = 0.006 if kind == "stat" else 0.03
        ax = fig.add_axes([x0 + left, y0 + 0.012, w - left - pad, h - 0.036], facecolor=PANEL)
        for spine in ax.spines.values():
            spine.set_color(GRID)
        ax.set_title(p["title"], color=FG, fontsize=8.5, loc="left", pad=3)
        if kind == "stat":
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(0.5, 0.45, data, color=COLORS[0], fontsize=20 if len(data) < 10 else 13,
                    ha="center", va="center", weight="bold", transform=ax.transAxes)
            continue
        ax.tick_params(colors=FG, labelsize=6.5)
        ax.grid(color=GRID, linewidth=0.5)
        if kind == "stack" and data:
            times = sorted({t for ts, _ in data.values() for t in ts})
            stacks = [[dict(zip(ts, vs)).get(t, 0.0) for t in times] for ts, vs in data.values()]
            ax.stackplot(times, stacks, labels=list(data), colors=COLORS, alpha=0.7)
        else:
            for i, (legend, (ts, vs)) in enumerate(data.items()):
                ax.plot(ts, vs, color=COLORS[i % len(COLORS)], linewidth=1.2, label=legend or p["title"])
        if data:
            ax.legend(fontsize=6, loc="upper left", facecolor=PANEL, edgecolor=GRID, labelcolor=FG,
                      ncol=2 if len(data) > 4 else 1, framealpha=0.8)
    fig.text(0.005, 0.002, f"x axes: seconds into the run. Drawn by scripts/render-dashboard.py (matplotlib, not "
             f"Grafana) from {len(run.times)} scrapes of a real vastfleet watch against its simulator.",
             color=FG, fontsize=7)
    fig.savefig(out, dpi=72, facecolor=BG)
    try:  # 256 colours keep the picture small; matplotlib brings Pillow.
        from PIL import Image
        Image.open(out).convert("RGB").quantize(128).save(out, optimize=True)
    except ImportError:
        pass


def start(args, env, cwd, **kw):
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=str(ROOT / "target/debug/vastfleet"))
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--step", type=float, default=2)
    ap.add_argument("--out", default=str(ROOT / "examples/grafana/vastfleet.png"))
    args = ap.parse_args()
    dashboard = json.loads((ROOT / "examples/grafana/vastfleet.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="vastfleet-render-"))
    (work / "scenario.toml").write_text(SCENARIO)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(work), "NO_COLOR": "1"}
    sim = start([args.bin, "sim", "--scenario", str(work / "scenario.toml")], env, work)
    url = sim.stdout.readline().split()[-1]
    ids = re.findall(r"^id = (\d+)\nlabel = \"([^\"]+)\"", SCENARIO, re.M)
    fleet = FLEET + "".join(f'\n[[instance]]\nid = {i}\nlabel = "{label}"\n' for i, label in ids)
    (work / "fleet.toml").write_text(fleet)
    env.update(VAST_URL=url, VAST_API_KEY="sim-key")
    watch = start([args.bin, "watch", "fleet.toml", "--json", "--metrics", "127.0.0.1:0"], env, work)
    threading.Thread(target=lambda: [None for _ in watch.stdout], daemon=True).start()
    metrics = None
    for line in watch.stderr:
        found = re.search(r"(http://\S+/metrics)", line)
        if found:
            metrics = found.group(1)
            break
    threading.Thread(target=lambda: [None for _ in watch.stderr], daemon=True).start()
    if not metrics:
        sys.exit("render-dashboard: the watcher printed no metrics address")
    run, began = Run(), time.monotonic()
    try:
        while time.monotonic() - began < args.seconds:
            text = urllib.request.urlopen(metrics, timeout=5).read().decode()
            run.add(time.monotonic() - began, time.time(), parse(text))
            time.sleep(max(0.0, args.step - (time.monotonic() - began) % args.step))
    finally:
        watch.terminate()
        watch.wait(10)
        sim.terminate()
        sim.wait(10)
    draw(dashboard, run, args.out)
    print(f"{args.out}: {len(run.times)} scrapes over {run.times[-1]:.0f} s, "
          f"{Path(args.out).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
