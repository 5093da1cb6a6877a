"""The Installation Guide's session, end to end: `ofcguard start`, then in
oomgr `startup all;` and `disp process;` show real processes with their
pids and database sessions; `shutdown all;` stops them; `ofcguard stop`
leaves nothing behind.

The production executables arrive with their own issues, so the node's
registrations are replaced by two instances of the test worker
(tests/worker), registered as a process type of this test's own."""
import csv
import io
import os
import unittest

from ofctest import Guardian, Node, TestCase, pid_alive, register_worker_type, wait_until

WORKER = "TESTCTL"


def disp_process(node):
    r = node.oomgr("disp process format=csv;")
    if r.returncode != 0:
        raise AssertionError("disp process failed: %s" % r.stderr)
    rows = list(csv.reader(io.StringIO(r.stdout)))
    header = rows[0]
    return [dict(zip(header, row)) for row in rows[1:]]


class ProcessControlTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        n = cls.node
        register_worker_type(n, WORKER)
        # Only the worker instances are registered: the node's own process
        # types have no executables yet.
        n.sql("DELETE FROM process")
        for instance in (1, 2):
            n.sql("INSERT INTO process (node_id, type, instance) "
                  "SELECT id, :'p1', :'p2' FROM node WHERE is_local", WORKER, instance)
        cls.guardian = Guardian(n)

    @classmethod
    def tearDownClass(cls):
        cls.guardian._cleanup()
        cls.node.close()

    def test_guide_session(self):
        n = self.node
        self.assertOk(self.guardian.start(), "ofcguard start")
        r = n.oomgr("whoami;")
        self.assertOk(r, "whoami")
        self.assertEqual(r.stdout.strip(), "Login: ADMIN Node: ESNODE Domain: COM")

        r = n.oomgr("startup all wait=20;")
        self.assertOk(r, "startup all")
        self.assertIn("Started successfully.", r.stdout)

        rows = disp_process(n)
        self.assertEqual(sorted(row["Instance"] for row in rows), ["1", "2"])
        sessions = {b for (b,) in n.sql("SELECT pid FROM pg_stat_activity")}
        pids = []
        for row in rows:
            self.assertEqual(row["Server Name"], WORKER)
            self.assertEqual(row["State"], "RUNNING")
            pid = int(row["Process Id"])
            self.assertTrue(pid_alive(pid), row)
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                self.assertIn(b"ofctestworker", f.read())
            # The DBSession Id is the worker's own live database session.
            self.assertIn(row["DBSession Id"], sessions)
            self.assertNotEqual(row["Last Wakeup"], "")
            pids.append(pid)

        r = n.oomgr("shutdown process %s instance=2 wait=20;" % WORKER.lower())
        self.assertOk(r, "shutdown process")
        wait_until(lambda: not pid_alive(pids[1]), 10, what="instance 2 to stop")
        self.assertTrue(pid_alive(pids[0]))

        r = n.oomgr("shutdown all wait=20;")
        self.assertOk(r, "shutdown all")
        wait_until(lambda: not any(pid_alive(p) for p in pids), 10, what="all to stop")
        states = {row["Instance"]: row["State"] for row in disp_process(n)}
        self.assertEqual(states, {"1": "STOPPED", "2": "STOPPED"})

        # Start them again and stop the Guardian: nothing of the node survives.
        self.assertOk(n.oomgr("startup all wait=20;"), "startup all again")
        pids = [int(row["Process Id"]) for row in disp_process(n)]
        gpid = self.guardian.pid()
        self.assertOk(self.guardian.stop(), "ofcguard stop")
        for pid in pids + [gpid]:
            self.assertFalse(pid_alive(pid), "pid %d survived ofcguard stop" % pid)


if __name__ == "__main__":
    unittest.main()
