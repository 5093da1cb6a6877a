"""The Guardian (ofcguard) against a real node: it starts what the registry
asks for, restarts what dies or hangs, throttles a crash loop, follows
schedules and refreshes, survives a PostgreSQL restart, and stops
everything on `ofcguard stop`.

The supervised processes are tests/worker's ofctestworker, registered here
with SQL as process types of the test's own (never by a migration); its
parameter Mode makes it run, exit, crash or hang, and it logs Echo=<value>
on start and after every refresh. Desired states, schedules and parameters
are set with SQL, as oomgr would.

The tests of GuardianTest share one node and one Guardian and run in name
order; small HeartbeatTimeout/StopGrace/CrashLoop values keep them fast.
"""
import os
import re
import signal
import time
import unittest

from ofctest import (BIN_DIR, Guardian, Node, TestCase, pid_alive, register_worker_type, run,
                     wait_until)

WORKER = "TESTWORKER"


register_type = register_worker_type


def register(node, type_, instance, desired="RUNNING", **params):
    """A process of the local node with parameter overrides; returns its id.
    The desired state is set last, so that it starts with its overrides."""
    pid = node.value("INSERT INTO process (node_id, type, instance)"
                     " SELECT id, :'p1', :'p2' FROM node WHERE is_local RETURNING id",
                     type_, instance)
    for name, value in params.items():
        set_param(node, pid, name, value)
    node.sql("UPDATE process SET desired_state = :'p2' WHERE id = :'p1'", pid, desired)
    return pid


def set_param(node, process_id, name, value):
    node.sql("INSERT INTO process_parameter (process_id, type, name, value)"
             " SELECT id, type, :'p2', :'p3' FROM process WHERE id = :'p1'"
             " ON CONFLICT (process_id, name) DO UPDATE SET value = EXCLUDED.value",
             process_id, name, value)


def status(node, process_id):
    """process_status of one process as a dict (state, pid, backend_pid, restarts, last_exit)."""
    rows = node.sql("SELECT state, pid, backend_pid, restarts, last_exit"
                    " FROM process_status WHERE process_id = :'p1'", process_id)
    if not rows:
        return {"state": None, "pid": None, "backend_pid": None, "restarts": 0, "last_exit": None}
    s, p, b, r, e = rows[0]
    return {"state": s, "pid": int(p) if p else None, "backend_pid": int(b) if b else None,
            "restarts": int(r), "last_exit": e}


def running(node, process_id):
    """The status when the child has registered itself (RUNNING, alive), else None."""
    st = status(node, process_id)
    if st["state"] == "RUNNING" and st["pid"] and pid_alive(st["pid"]):
        return st
    return None


def worker_log(node, type_, instance):
    path = os.path.join(node.home.log_dir, "%s_%s%02d.log" % (node.node, type_.lower(), instance))
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def group_pids(pgid):
    """Live processes in a process group (a child's helpers would be there)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry))
    return found


class GuardianTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = n = Node()
        register_type(n, WORKER)
        cls.plain = register(n, WORKER, 1)
        cls.echo = register(n, WORKER, 2, Echo="two")
        cls.stopme = register(n, WORKER, 3, HeartbeatTimeout="5", StopGrace="1")
        cls.exiter = register(n, WORKER, 4, Mode="exit", CrashLoopCount="3",
                              CrashLoopWindow="60", ThrottleCooldown="600")
        cls.scheduled = register(n, WORKER, 5)
        cls.stable = [cls.plain, cls.echo, cls.stopme, cls.scheduled]
        cls.guardian = Guardian(n)
        r = cls.guardian.start()
        if r.returncode != 0:
            raise AssertionError("ofcguard start failed:\n%s%s" % (r.stdout, r.stderr))

    @classmethod
    def tearDownClass(cls):
        cls.guardian._cleanup()
        cls.node.close()

    def wait_running(self, process_id, timeout=10, other_than=None):
        def check():
            st = running(self.node, process_id)
            return st if st and st["pid"] != other_than else None
        return wait_until(check, timeout, what="process %s RUNNING" % process_id)

    def test_01_startup(self):
        for pid_ in self.stable:
            st = self.wait_running(pid_)
            with open("/proc/%d/cmdline" % st["pid"]) as f:
                argv = f.read().split("\0")
            self.assertEqual(argv[0], os.path.join(BIN_DIR, "ofctestworker"))
            self.assertIn("type=" + WORKER, argv)
            # Its own process group, so that signals reach its helpers too.
            self.assertEqual(os.getpgid(st["pid"]), st["pid"])
            app = self.node.value("SELECT application_name FROM pg_stat_activity WHERE pid = :'p1'",
                                  st["backend_pid"])
            inst = self.node.value("SELECT instance FROM process WHERE id = :'p1'", pid_)
            self.assertEqual(app, "ofctestworker/%s" % inst)
        g = self.node.sql("SELECT pid, backend_pid, host FROM guardian_status")[0]
        self.assertEqual(int(g[0]), self.guardian.pid())
        # Started as root, it runs as the unprivileged run user, and so do its children.
        for p in (int(g[0]), st["pid"]):
            self.assertEqual(os.stat("/proc/%d" % p).st_uid, self.node.home.uid)
        self.assertTrue(self.node.value("SELECT count(*) FROM pg_stat_activity WHERE pid = :'p1'",
                                        g[1]) == "1")
        self.assertIn("Echo=hello", worker_log(self.node, WORKER, 1))
        self.assertIn("Echo=two", worker_log(self.node, WORKER, 2))
        r = self.guardian.status()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("running", r.stdout)
        self.assertRegex(r.stdout, r"TESTWORKER\s+1\s+RUNNING\s+RUNNING")

    def test_02_second_start_refused(self):
        r = self.guardian.start()
        self.assertEqual(r.returncode, 1)
        self.assertIn("pid %d" % self.guardian.pid(), r.stderr)
        r = self.guardian.run("start", "-f")
        self.assertEqual(r.returncode, 1)
        self.assertIn("pid %d" % self.guardian.pid(), r.stderr)

    def test_03_kill9_restarted(self):
        before = self.wait_running(self.plain)
        t0 = time.monotonic()
        os.kill(before["pid"], signal.SIGKILL)
        st = wait_until(lambda: (lambda s: s if s["pid"] not in (None, before["pid"]) else None)(
            status(self.node, self.plain)), 5, what="a new pid")
        self.assertLess(time.monotonic() - t0, 2.0, "restart took too long")
        self.assertEqual(st["restarts"], before["restarts"] + 1)
        self.assertEqual(st["last_exit"], "killed by signal 9")
        self.wait_running(self.plain)
        self.assertRegex(self.guardian.log(), r"TESTWORKER instance 1 \(pid %d\) exited "
                         r"unexpectedly \(killed by signal 9\).*restarting in 1 s" % before["pid"])

    def test_04_sigstop_killed_and_restarted(self):
        before = self.wait_running(self.stopme)
        t0 = time.monotonic()
        os.kill(before["pid"], signal.SIGSTOP)
        # HeartbeatTimeout 5 + StopGrace 1 + 2
        st = self.wait_running(self.stopme, timeout=8, other_than=before["pid"])
        self.assertLess(time.monotonic() - t0, 8.0)
        self.assertEqual(st["restarts"], before["restarts"] + 1)
        self.assertEqual(st["last_exit"], "heartbeat timeout")
        self.assertFalse(pid_alive(before["pid"]))
        self.assertIn("no heartbeat for", self.guardian.log())

    def test_05_exit_loop_throttled(self):
        wait_until(lambda: status(self.node, self.exiter)["state"] == "THROTTLED", 15,
                   what="THROTTLED")
        st = status(self.node, self.exiter)
        self.assertEqual(st["last_exit"], "exit 3")
        self.assertIsNone(st["pid"])
        self.assertIsNotNone(self.node.value("SELECT retry_at FROM process_status"
                                             " WHERE process_id = :'p1'", self.exiter))
        self.assertIn("TESTWORKER instance 4", self.guardian.log())
        self.assertRegex(self.guardian.log(), r"3 exits within CrashLoopWindow 60 s; THROTTLED")
        # The others are served as before.
        plain = self.wait_running(self.plain)
        time.sleep(0.5)
        self.assertEqual(status(self.node, self.plain)["pid"], plain["pid"])
        # Shut it down: not THROTTLED any more, but STOPPED.
        self.node.sql("UPDATE process SET desired_state = 'STOPPED' WHERE id = :'p1'",
                      self.exiter)
        wait_until(lambda: status(self.node, self.exiter)["state"] == "STOPPED", 5,
                   what="STOPPED")

    def test_06_refresh_override(self):
        st = self.wait_running(self.echo)
        set_param(self.node, self.echo, "Echo", "changed-override")
        self.node.sql("SELECT ofc_refresh(:'p1')", self.echo)
        wait_until(lambda: "Echo=changed-override" in worker_log(self.node, WORKER, 2), 5,
                   what="Echo=changed-override in the worker's log")
        self.assertEqual(status(self.node, self.echo)["pid"], st["pid"])

    def test_07_default_reaches_tied_only(self):
        plain = self.wait_running(self.plain)
        echo = self.wait_running(self.echo)
        self.node.sql("UPDATE process_type_parameter SET default_value = 'new-default'"
                      " WHERE type = :'p1' AND name = 'Echo'", WORKER)
        self.node.sql("SELECT ofc_refresh(:'p1')", WORKER)
        wait_until(lambda: "Echo=new-default" in worker_log(self.node, WORKER, 1), 5,
                   what="Echo=new-default in instance 1's log")
        # Instance 2 refreshed too, but keeps its override.
        wait_until(lambda: worker_log(self.node, WORKER, 2).count("parameters refreshed") >= 2,
                   5, what="instance 2's second refresh")
        log2 = worker_log(self.node, WORKER, 2)
        self.assertNotIn("Echo=new-default", log2)
        self.assertEqual(re.findall(r"Echo=\S*", log2)[-1], "Echo=changed-override")
        self.assertEqual(status(self.node, self.plain)["pid"], plain["pid"])
        self.assertEqual(status(self.node, self.echo)["pid"], echo["pid"])

    def test_08_schedule(self):
        before = self.wait_running(self.scheduled)
        local = "(now() AT TIME ZONE n.time_zone)"
        # A slice two hours from now: outside it, the instance is stopped.
        self.node.sql("INSERT INTO process_schedule (process_id, days, start_time, end_time)"
                      " SELECT :'p1', 127, (%s + interval '2 hours')::time,"
                      "  (%s + interval '3 hours')::time FROM node n WHERE n.is_local"
                      % (local, local), self.scheduled)
        wait_until(lambda: status(self.node, self.scheduled)["state"] == "SCHEDULED", 5,
                   what="SCHEDULED")
        self.assertIsNone(status(self.node, self.scheduled)["pid"])
        self.assertFalse(pid_alive(before["pid"]))
        # A slice that opens in 3 s: the Guardian's timer starts it, no NOTIFY needed.
        self.node.sql("UPDATE process_schedule SET start_time = (%s + interval '3 seconds')::time,"
                      " end_time = (%s + interval '1 hour')::time FROM node n"
                      " WHERE n.is_local AND process_id = :'p1'" % (local, local), self.scheduled)
        t0 = time.monotonic()
        time.sleep(1)
        self.assertEqual(status(self.node, self.scheduled)["state"], "SCHEDULED")
        st = self.wait_running(self.scheduled, timeout=6)
        self.assertGreater(time.monotonic() - t0, 2.5)
        self.assertEqual(st["restarts"], before["restarts"], "a scheduled start is no restart")
        self.node.sql("DELETE FROM process_schedule WHERE process_id = :'p1'", self.scheduled)

    def test_09_missing_executable(self):
        register_type(self.node, "TESTMISSING", executable="ofcnosuchworker")
        plain = self.wait_running(self.plain)
        missing = register(self.node, "TESTMISSING", 1)
        wait_until(lambda: status(self.node, missing)["state"] == "FAILED", 5, what="FAILED")
        want = "executable not found: %s" % os.path.join(BIN_DIR, "ofcnosuchworker")
        self.assertEqual(status(self.node, missing)["last_exit"], want)
        # Asked again: tried again, still FAILED, and not logged a second time.
        self.node.sql("UPDATE process SET desired_state = 'RUNNING' WHERE id = :'p1'", missing)
        time.sleep(1)
        self.assertEqual(status(self.node, missing)["state"], "FAILED")
        self.assertEqual(self.guardian.log().count(want), 1)
        self.assertEqual(status(self.node, self.plain)["pid"], plain["pid"])
        self.assertEqual(self.guardian.status().returncode, 0)
        # Installed after all: it runs, and the start failure no longer shows as its last exit.
        self.node.sql("UPDATE process_type SET executable = 'ofctestworker'"
                      " WHERE name = 'TESTMISSING'")
        self.node.sql("UPDATE process SET desired_state = 'RUNNING' WHERE id = :'p1'", missing)
        st = self.wait_running(missing)
        self.assertIsNone(st["last_exit"])
        self.node.sql("UPDATE process SET desired_state = 'STOPPED' WHERE id = :'p1'", missing)
        wait_until(lambda: status(self.node, missing)["state"] == "STOPPED", 5, what="STOPPED")

    def test_10_hang_and_crash(self):
        # Mode=hang: SIGTERM is not acted on, so SIGKILL after StopGrace.
        hang = register(self.node, WORKER, 6, HeartbeatTimeout="5", StopGrace="1",
                        Mode="hang")
        crash = register(self.node, WORKER, 7, Mode="crash", CrashAfter="1",
                         CrashLoopCount="100")
        st = wait_until(lambda: (lambda s: s if s["restarts"] >= 1 else None)(
            status(self.node, crash)), 8, what="a crash and a restart")
        self.assertEqual(st["last_exit"], "killed by signal 6")
        wait_until(lambda: status(self.node, hang)["last_exit"] == "heartbeat timeout", 12,
                   what="the hung instance killed")
        self.assertRegex(self.guardian.log(), r"TESTWORKER instance 6 \(pid \d+\) did not exit "
                         r"within StopGrace 1 s; sending SIGKILL")
        self.assertIn("killed by signal 9", self.guardian.log())
        self.node.sql("UPDATE process SET desired_state = 'STOPPED' WHERE id IN (:'p1', :'p2')",
                      hang, crash)
        wait_until(lambda: status(self.node, hang)["pid"] is None
                   and status(self.node, crash)["pid"] is None, 10, what="both stopped")

    def test_11_postgresql_restart(self):
        before = {p: self.wait_running(p) for p in self.stable}
        guardian_backend = self.node.value("SELECT backend_pid FROM guardian_status")
        self.node.cluster.restart(stop_seconds=1)

        def reconnected():
            for p, b in before.items():
                st = status(self.node, p)
                if st["state"] != "RUNNING" or st["backend_pid"] == b["backend_pid"]:
                    return False
            return self.node.value("SELECT backend_pid FROM guardian_status") != guardian_backend
        wait_until(reconnected, 20, interval=0.2, what="everyone reconnected")
        # Nobody was restarted for it, also not once the heartbeats are looked at again.
        time.sleep(3)
        for p, b in before.items():
            st = status(self.node, p)
            self.assertEqual(st["pid"], b["pid"], "process %s was restarted" % p)
            self.assertEqual(st["restarts"], b["restarts"])
            self.assertTrue(pid_alive(st["pid"]))
            self.assertEqual(self.node.value("SELECT count(*) FROM pg_stat_activity"
                                             " WHERE pid = :'p1'", st["backend_pid"]), "1")
        self.assertIn("reconnected to the database", self.guardian.log())
        self.assertEqual(self.guardian.status().returncode, 0)

    def test_12_guardian_killed(self):
        before = {p: self.wait_running(p) for p in self.stable}
        gpid = self.guardian.pid()
        # A hung child does not act on the SIGTERM it gets when the Guardian dies: a
        # leftover that the next Guardian must clear before it starts anything.
        hung = before[self.echo]["pid"]
        set_param(self.node, self.echo, "Mode", "hang")
        self.node.sql("SELECT ofc_refresh(:'p1')", self.echo)
        wait_until(lambda: "[%d] WARN  Mode=hang" % hung in worker_log(self.node, WORKER, 2), 5,
                   what="instance 2 hanging")
        os.kill(gpid, signal.SIGKILL)
        self.node.sql("DELETE FROM process_parameter WHERE process_id = :'p1' AND name = 'Mode'",
                      self.echo)
        # The others hear of it through PR_SET_PDEATHSIG and stop.
        for p in (self.plain, self.stopme, self.scheduled):
            old = before[p]["pid"]
            wait_until(lambda: not pid_alive(old), 5, what="pid %d gone" % old)
        self.assertTrue(pid_alive(hung))
        r = self.guardian.start()
        self.assertOk(r, "ofcguard start after kill -9")
        self.assertFalse(pid_alive(hung), "the leftover was not cleared before starting")
        for p in self.stable:
            st = self.wait_running(p, other_than=before[p]["pid"])
            self.assertEqual(st["restarts"], before[p]["restarts"])
        log = self.guardian.log()
        self.assertIn("TESTWORKER instance 2 (pid %d) was left running by an earlier Guardian"
                      % hung, log)
        self.assertIn("pid %d did not exit within StopGrace" % hung, log)

    def test_13_sighup_reopens_log(self):
        path = self.guardian.logfile
        os.rename(path, path + ".1")
        os.kill(self.guardian.pid(), signal.SIGHUP)
        wait_until(lambda: "log file reopened" in self.guardian.log(), 5, what="a new log file")

    def test_99_stop(self):
        gpid = self.guardian.pid()
        pids = [int(p) for (p,) in self.node.sql("SELECT pid FROM process_status"
                                                 " WHERE pid IS NOT NULL")]
        self.assertGreaterEqual(len(pids), len(self.stable))
        r = self.guardian.stop()
        self.assertOk(r, "ofcguard stop")
        self.assertIn("stopped", r.stdout)
        self.assertFalse(pid_alive(gpid))
        for p in pids:
            self.assertFalse(pid_alive(p), "pid %d survived" % p)
            self.assertEqual(group_pids(p), [])
        rows = self.node.sql("SELECT DISTINCT state FROM process_status s JOIN process p"
                             " ON p.id = s.process_id WHERE p.type = :'p1'", WORKER)
        self.assertEqual(rows, [["STOPPED"]])
        self.assertIsNone(self.node.value("SELECT pid FROM guardian_status"))
        self.assertFalse(os.path.exists(self.guardian.pidfile))
        r = self.guardian.status()
        self.assertEqual(r.returncode, 3)
        self.assertIn("not running", r.stdout)
        r = self.guardian.stop()
        self.assertOk(r, "second ofcguard stop")
        self.assertIn("not running", r.stdout)


class EmbeddedGuardianTest(TestCase):
    """With the embedded cluster, start starts it first and stop stops it last."""

    def test_start_stop_cluster(self):
        with Node(embedded=True) as n:
            register_type(n, WORKER)
            p = register(n, WORKER, 1)
            r = n.ofcsetup("stop-db")
            self.assertOk(r, "ofcsetup stop-db")
            postmaster = os.path.join(n.home.pgdata, "postmaster.pid")
            self.assertFalse(os.path.exists(postmaster))
            g = Guardian(n)
            r = g.start()
            self.assertOk(r, "ofcguard start")
            self.assertTrue(os.path.exists(postmaster))
            st = wait_until(lambda: running(n, p), 10, what="the worker RUNNING")
            r = g.stop()
            self.assertOk(r, "ofcguard stop")
            self.assertFalse(pid_alive(st["pid"]))
            self.assertFalse(os.path.exists(postmaster), "the cluster still runs")
            self.assertRegex(g.log(), r"stopped the embedded PostgreSQL cluster")
            r = g.status()
            self.assertEqual(r.returncode, 3)
            self.assertIn("database: not reachable", r.stdout)
            # Started again for drop-node at close.
            self.assertOk(n.ofcsetup("start-db"), "ofcsetup start-db")


class UsageTest(TestCase):
    def test_usage(self):
        exe = os.path.join(BIN_DIR, "ofcguard")
        r = run([exe, "--help"])
        self.assertOk(r)
        self.assertIn("ofcguard [-c CONFIG] start", r.stdout)
        r = run([exe, "--version"])
        self.assertOk(r)
        self.assertTrue(re.match(r"ofcguard \(ofcmail\) \d", r.stdout))
        r = run([exe, "restart"])
        self.assertEqual(r.returncode, 2)
        r = run([exe])
        self.assertEqual(r.returncode, 2)
        r = run([exe, "stop", "-f"])
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
