#!/usr/bin/env python3
"""The process supervisor of `make run` (deploy/local/run.sh).

    supervise.py --state-dir DIR [options] --proc 'NAME|LOGFILE|COMMAND ...' [--proc ...]

Starts every process (COMMAND split like a shell would, no shell run; stdout and stderr appended
to LOGFILE), and when one exits, whatever the cause, starts it again after a backoff while the
others keep running: 1 s, 2 s, 4 s ... up to --backoff-max (30 s); a process that stayed up for
--stable-after seconds (60) starts again from 1 s. On SIGTERM or SIGINT every child gets SIGTERM,
then SIGKILL after --grace seconds (10), and the supervisor exits.

State for other tools (make chaos, docs/runbooks/local-dev.md), in DIR:
    NAME.pid       the current pid of NAME (absent while it waits for its restart)
    NAME.restarts  how many times NAME was restarted
Each start, exit and restart is also a line on stdout (`supervise: ...`).

Self-test (make lint): `supervise.py --self-test` runs a child that crashes at once and one that
stays up, and checks that the crashing one is restarted with a growing backoff while the other
keeps its pid, and that SIGTERM ends both.
"""

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time


class Proc:
    def __init__(self, spec, state_dir):
        try:
            name, log, command = spec.split("|", 2)
        except ValueError:
            raise SystemExit(f"supervise: --proc wants NAME|LOGFILE|COMMAND, got {spec!r}")
        self.name, self.log, self.argv = name, log, shlex.split(command)
        if not self.name or not self.argv:
            raise SystemExit(f"supervise: empty name or command in {spec!r}")
        self.state_dir = state_dir
        self.popen = None
        self.started_at = 0.0
        self.restarts = 0
        self.failures_in_a_row = 0
        self.restart_at = None

    def path(self, suffix):
        return os.path.join(self.state_dir, f"{self.name}.{suffix}")

    def start(self):
        log = open(self.log, "ab", buffering=0)
        try:
            self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        self.started_at = time.monotonic()
        self.restart_at = None
        write(self.path("pid"), f"{self.popen.pid}\n")
        write(self.path("restarts"), f"{self.restarts}\n")
        say(f"{self.name} started (pid {self.popen.pid})")


def write(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def say(msg):
    print(f"supervise: {msg}", flush=True)


def describe(code):
    return f"signal {-code}" if code < 0 else f"status {code}"


def run(args):
    os.makedirs(args.state_dir, exist_ok=True)
    procs = [Proc(p, args.state_dir) for p in args.proc]
    names = [p.name for p in procs]
    if len(set(names)) != len(names):
        raise SystemExit(f"supervise: duplicate names in {names}")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(signal.SIGTERM))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(signal.SIGINT))
    for p in procs:
        p.start()
    while not stopping:
        now = time.monotonic()
        for p in procs:
            if p.popen is not None:
                code = p.popen.poll()
                if code is None:
                    continue
                up = now - p.started_at
                p.failures_in_a_row = 0 if up >= args.stable_after else p.failures_in_a_row + 1
                delay = min(args.backoff_max, args.backoff_min * 2 ** max(p.failures_in_a_row - 1, 0))
                p.popen = None
                p.restart_at = now + delay
                try:
                    os.remove(p.path("pid"))
                except FileNotFoundError:
                    pass
                say(f"{p.name} exited with {describe(code)} after {up:.1f} s; restarting in {delay:g} s "
                    f"(log: {p.log})")
            elif p.restart_at is not None and now >= p.restart_at:
                p.restarts += 1
                p.start()
        time.sleep(0.1)
    # Stop: TERM to every child (its whole process group), then KILL after the grace period.
    say(f"stopping {', '.join(names)}")
    alive = [p for p in procs if p.popen is not None and p.popen.poll() is None]
    for p in alive:
        try:
            os.killpg(p.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + args.grace
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if p.popen.poll() is None]
        time.sleep(0.1)
    for p in alive:
        say(f"{p.name} still running after {args.grace:g} s, killing it")
        try:
            os.killpg(p.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.popen.wait()
    for p in procs:
        for suffix in ("pid",):
            try:
                os.remove(p.path(suffix))
            except FileNotFoundError:
                pass
    return 130 if stopping[0] == signal.SIGINT else 0


def self_test():
    """A crashing child is restarted with backoff; a healthy one keeps its pid; TERM ends both."""
    failures = []

    def expect(cond, msg):
        print(f"{'PASS' if cond else 'FAIL'}  supervisor: {msg}")
        if not cond:
            failures.append(msg)

    with tempfile.TemporaryDirectory() as d:
        state = os.path.join(d, "state")
        starts = os.path.join(d, "crasher.starts")
        crasher = f"sh -c 'date +%s.%N >> {shlex.quote(starts)}; exit 3'"
        sleeper = "sleep 60"
        out = open(os.path.join(d, "supervise.out"), "wb")
        sup = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--state-dir", state,
             "--backoff-min", "0.2", "--backoff-max", "0.8", "--stable-after", "30", "--grace", "3",
             "--proc", f"crasher|{os.path.join(d, 'crasher.log')}|{crasher}",
             "--proc", f"steady|{os.path.join(d, 'steady.log')}|{sleeper}"],
            stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 10
            steady_pid = None
            while time.monotonic() < deadline:
                if steady_pid is None and os.path.exists(os.path.join(state, "steady.pid")):
                    steady_pid = open(os.path.join(state, "steady.pid")).read().strip()
                if os.path.exists(starts) and len(open(starts).read().split()) >= 5:
                    break
                time.sleep(0.1)
            times = [float(t) for t in open(starts).read().split()] if os.path.exists(starts) else []
            expect(len(times) >= 5, f"the crashing child was started {len(times)} times (>= 5 wanted)")
            gaps = [b - a for a, b in zip(times, times[1:])]
            expect(len(gaps) >= 3 and gaps[0] < gaps[2] and all(g >= 0.15 for g in gaps),
                   "restarts back off (gaps " + ", ".join(f"{g:.2f}" for g in gaps) + " s)")
            expect(len(gaps) >= 4 and max(gaps) < 1.5, "the backoff stays under its maximum")
            restarts = open(os.path.join(state, "crasher.restarts")).read().strip() \
                if os.path.exists(os.path.join(state, "crasher.restarts")) else "0"
            expect(int(restarts) >= 4, f"crasher.restarts counts them ({restarts})")
            now_pid = open(os.path.join(state, "steady.pid")).read().strip() \
                if os.path.exists(os.path.join(state, "steady.pid")) else None
            expect(steady_pid is not None and now_pid == steady_pid,
                   f"the healthy child kept running meanwhile (pid {steady_pid} -> {now_pid})")
            alive = now_pid is not None and os.path.exists(f"/proc/{now_pid}")
            expect(alive, "the healthy child is alive")
            sup.send_signal(signal.SIGTERM)
            code = sup.wait(timeout=10)
            expect(code == 0, f"SIGTERM stops the supervisor (exit {code})")
            time.sleep(0.2)
            gone = now_pid is None or not os.path.exists(f"/proc/{now_pid}") \
                or open(f"/proc/{now_pid}/stat").read().split()[2] == "Z"
            expect(gone, "and its children")
        finally:
            if sup.poll() is None:
                sup.kill()
                sup.wait()
            out.close()
        if failures:
            print(open(os.path.join(d, "supervise.out")).read())
    print(f"supervisor self-test: {'FAILED' if failures else 'ok'}")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--state-dir")
    ap.add_argument("--proc", action="append", default=[])
    ap.add_argument("--backoff-min", type=float, default=1.0)
    ap.add_argument("--backoff-max", type=float, default=30.0)
    ap.add_argument("--stable-after", type=float, default=60.0)
    ap.add_argument("--grace", type=float, default=10.0)
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.state_dir or not args.proc:
        ap.error("--state-dir and at least one --proc are required")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
