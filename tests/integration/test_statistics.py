"""Statistics (ofcmon class=6): snapshots, the Collector's retention purge,
the Prometheus metrics endpoint, `disp statistics` and `disp clients`.

The figures a snapshot must hold are made with SQL, so that the test knows
them without asking the code under test: billing records with chosen
submission and disposal times and sizes, queue rows with chosen ages,
accounts with chosen quotas and stored messages, a process with a number
of restarts, a protocol server's sps_status. The expected values
(percentiles as PostgreSQL's percentile_cont interpolates them, counts,
octets) are computed here in Python. ofcmon runs in the foreground (-f)
with Interval 1 s, so the tests wait for snapshots, not for timers.
disp clients and the protocol figures are also checked against a real
pop3srv behind iolistener, started by the Guardian together with
Statistics itself, with real POP3 clients.
"""
import csv
import io
import math
import os
import signal
import socket
import subprocess
import tempfile
import unittest

import ofctest
from ofctest import Guardian, Node, TestCase, pgcluster, wait_until

OFCMON = os.path.join(ofctest.BIN_DIR, "ofcmon")
OFCMGD = os.path.join(ofctest.BIN_DIR, "ofcmgd")
PASSWORD = "Stat-test-pw1"

# Delivery times (seconds) of the DELIVERED records; -4 is a disposal
# before submission (two hosts' clocks), which counts as 0.
DELAYS = [0.25, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 300.5, -4]
SIZES = [100 + 37 * i for i in range(len(DELAYS))]


def percentile_cont(values, q):
    """PostgreSQL's percentile_cont: linear interpolation between ranks."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def set_params(node, ptype, instance, **params):
    pid = node.value("SELECT id FROM process WHERE type = :'p1' AND instance = :'p2'",
                     ptype, instance)
    for name, value in params.items():
        node.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                 " VALUES (:'p1', :'p2', :'p3', :'p4')"
                 " ON CONFLICT (process_id, name) DO UPDATE SET value = EXCLUDED.value",
                 pid, ptype, name, str(value))
    return int(pid)


class Foreground:
    """A program in the foreground (-f), its log copied to a file."""

    def __init__(self, node, exe, *args):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([exe, "-c", node.home.config, "-f"] + list(args),
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        ofctest._cleanups.append(self.kill)

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def stop(self, test):
        """SIGTERM; fails the test unless it exits 0 without an error."""
        self.kill(signal.SIGTERM)
        err = self.log()
        self.stderr.close()
        test.assertEqual(self.proc.returncode, 0, err)
        for bad in ("ERROR", "runtime error", "Sanitizer"):
            test.assertNotIn(bad, err)
        return err


def scrape(port, path="/metrics"):
    """(status, headers text, body) of GET http://127.0.0.1:port/path with curl."""
    r = subprocess.run(["curl", "-s", "-S", "-D", "-", "--max-time", "10",
                        "http://127.0.0.1:%d%s" % (port, path)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise AssertionError("curl failed: %s" % r.stderr)
    # text=True: curl's CRLF line ends arrive as "\n".
    head, _, body = r.stdout.partition("\n\n")
    return int(head.split()[1]), head, body


def serving(port):
    """True once the endpoint answers /metrics with 200."""
    try:
        return scrape(port)[0] == 200
    except AssertionError:
        return False


def parse_metrics(body):
    """{(name, labels text): value} and {name: type} of an exposition."""
    samples, types, helps = {}, {}, set()
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
        elif line.startswith("# HELP "):
            helps.add(line.split(" ", 3)[2])
        elif line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            name, _, labels = key.partition("{")
            samples[(name, labels.rstrip("}"))] = float(value)
    return samples, types, helps


def csv_tables(text):
    """The CSV tables of a statement's output (a blank line between them)."""
    return [list(csv.reader(io.StringIO(block.strip() + "\n")))
            for block in text.strip().split("\n\n") if block.strip()]


class StatisticsTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = n = Node()
        cls.node_id = n.value("SELECT id FROM node WHERE is_local")
        cls.metrics_port = pgcluster.free_port()
        set_params(n, "STATISTICS", 1, Interval=1, PollInterval=1, HeartbeatInterval=1,
                   SettleSeconds=2, AccountTop=1, MetricsPort=cls.metrics_port)

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def start(self):
        return Foreground(self.node, OFCMON, "class=6")

    # ---- what the test puts in -------------------------------------------

    def account(self, name, quota=None, sizes=()):
        """A person with quota (octets or None) and messages of these sizes in INBOX."""
        r = self.node.oomgr("insert person %s password=%s;\n" % (name, PASSWORD))
        self.assertOk(r, "insert person")
        n = self.node
        oid = n.value("SELECT o.id FROM dir_object o JOIN domain d ON d.id = o.domain_id"
                      " WHERE lower(o.name) = lower(:'p1') AND d.fqdn = 'com'", name)
        if quota is not None:
            n.sql("UPDATE account SET quota_bytes = :'p2' WHERE object_id = :'p1'", oid, quota)
        mbox = n.value("SELECT id FROM mailbox WHERE account_id = :'p1' AND name = 'INBOX'", oid)
        for size in sizes:
            n.sql("WITH m AS (INSERT INTO message (size, raw)"
                  "   SELECT :'p2'::bigint, convert_to(repeat('x', :'p2'::int), 'UTF8')"
                  "   RETURNING id),"
                  " b AS (UPDATE mailbox SET uidnext = uidnext + 1,"
                  "   highestmodseq = highestmodseq + 1 WHERE id = :'p1'"
                  "   RETURNING uidnext - 1 AS uid, highestmodseq)"
                  " INSERT INTO mailbox_pointer (mailbox_id, uid, message_id, modseq)"
                  " SELECT :'p1', b.uid, m.id, b.highestmodseq FROM b, m", mbox, size)
        return n.value("SELECT o.name || '@' || d.fqdn FROM dir_object o JOIN domain d"
                       " ON d.id = o.domain_id WHERE o.id = :'p1'", oid)

    def billing(self):
        """The billing records of one period, all disposed of at the same
        instant (the inserting transaction's now()); returns that instant's
        epoch."""
        rows = []
        for i, (d, size) in enumerate(zip(DELAYS, SIZES)):
            # Messages 1000..: the first two records share a message (two recipients).
            rows.append("(%d, 'DELIVERED', %d, %r)" % (1000 + max(i - 1, 0), size, d))
        for disp, count in (("BOUNCED", 2), ("GATEWAY", 3), ("DEAD", 1), ("REMOTE", 4)):
            rows += ["(%d, '%s', 10, 1)" % (2000 + i, disp) for i in range(count)]
        return float(self.node.value(
            "INSERT INTO message_billing (message_id, node_id, sender, recipient, size,"
            "   disposition, submitted_at)"
            " SELECT m, (SELECT id FROM node WHERE is_local), 's@x', 'r@com', sz, dp,"
            "        now() - make_interval(secs => d)"
            "   FROM (VALUES %s) v(m, dp, sz, d)"
            " RETURNING extract(epoch FROM disposed_at)" % ", ".join(rows)))

    def queue_rows(self):
        """3 submission entries (oldest 1 h), 2 dead (oldest 2 h), 1 gateway_in
        (30 min); not due for a day, so nothing would take them."""
        n = self.node
        mid = n.value("INSERT INTO message (size, raw) VALUES (3, 'abc') RETURNING id")
        for age in (3600, 600, 60):
            n.sql("INSERT INTO submission (message_id, sender, recipients, submitted_at,"
                  " not_before) VALUES (:'p1', 's@x', '{r@com}',"
                  " now() - make_interval(secs => :'p2'), now() + interval '1 day')", mid, age)
        for age in (7200, 10):
            n.sql("INSERT INTO dead (message_id, sender, recipients, from_queue, reason, dead_at)"
                  " VALUES (:'p1', 's@x', '{r@com}', 'submission', 'test',"
                  " now() - make_interval(secs => :'p2'))", mid, age)
        n.sql("INSERT INTO gateway_in (source, sender, recipients, raw, received_at, not_before)"
              " VALUES ('SMTP', 's@x', '{r@com}', 'raw', now() - interval '30 minutes',"
              " now() + interval '1 day')")
        return n.value("SELECT extract(epoch FROM now())")

    # ---- the tests -----------------------------------------------------------

    def test_snapshot_metrics_and_disp(self):
        n = self.node
        n.sql("DELETE FROM stat_snapshot")
        alice = self.account("alice", quota=1000, sizes=[400, 550])  # 95% of quota
        bob = self.account("bob", sizes=[3000, 2000])  # the largest; no quota
        self.account("carol", quota=10 ** 9, sizes=[10])  # small: not recorded
        dave = self.account("dave", quota=100, sizes=[150, 50])  # over quota
        # POSTMAN/1 has been restarted 3 times; POP3SRV/1 reports 5 clients.
        n.sql("INSERT INTO process_status (process_id, state, restarts)"
              " SELECT id, 'STOPPED', 3 FROM process WHERE type = 'POSTMAN' AND instance = 1"
              " ON CONFLICT (process_id) DO UPDATE SET restarts = 3")
        n.sql("INSERT INTO process_status (process_id, state) SELECT id, 'RUNNING' FROM process"
              " WHERE type = 'POP3SRV' AND instance = 1"
              " ON CONFLICT (process_id) DO UPDATE SET state = 'RUNNING'")
        n.sql("INSERT INTO sps_status (process_id, clients, tls_clients, logged_in, pool_size,"
              " pool_busy, jobs_queued) SELECT id, 5, 2, 4, 4, 1, 0 FROM process"
              " WHERE type = 'POP3SRV' AND instance = 1")
        self.queue_rows()

        mon = self.start()
        wait_until(lambda: n.value("SELECT count(*) FROM stat_snapshot") != "0", 20,
                   what="a first snapshot")
        t = self.billing()
        # The period that holds t ends at least SettleSeconds (2) after it.
        snap = wait_until(lambda: n.value(
            "SELECT id FROM stat_snapshot WHERE period_start <= to_timestamp(:'p1')"
            " AND period_end > to_timestamp(:'p1')", repr(t)), 20, what="the snapshot of t")
        wait_until(lambda: int(n.value("SELECT count(*) FROM stat_snapshot WHERE id > :'p1'",
                                       snap)) >= 1, 20, what="a snapshot after it")
        mon.stop(self)

        # Periods follow one another without a gap, and end SettleSeconds before the snapshot.
        gaps = n.value("SELECT count(*) FROM (SELECT period_start, lag(period_end) OVER"
                       " (ORDER BY id) AS prev FROM stat_snapshot) s"
                       " WHERE prev IS NOT NULL AND prev <> period_start")
        self.assertEqual(gaps, "0")
        self.assertEqual(n.value("SELECT count(*) FROM stat_snapshot"
                                 " WHERE taken_at - period_end < interval '2 seconds'"), "0")
        # Every record is counted exactly once over all snapshots.
        self.assertEqual(n.value("SELECT sum(delivered + bounced + gateway + dead + remote)"
                                 " FROM stat_snapshot"), str(len(DELAYS) + 10))

        times = [max(d, 0) for d in DELAYS]
        row = n.sql("SELECT delivered, delivered_messages, delivered_bytes, delivery_p50,"
                    " delivery_p95, delivery_p99, delivery_max, delivery_sum, remote, gateway,"
                    " bounced, dead, forwarded, accounts, accounts_over_quota, account_bytes,"
                    " database_bytes FROM stat_snapshot WHERE id = :'p1'", snap)[0]
        self.assertEqual(row[0:3], [str(len(DELAYS)), str(len(DELAYS) - 1), str(sum(SIZES))])
        for got, q in zip(row[3:6], (0.5, 0.95, 0.99)):
            self.assertAlmostEqual(float(got), percentile_cont(times, q), places=6)
        self.assertAlmostEqual(float(row[6]), max(times), places=6)
        self.assertAlmostEqual(float(row[7]), sum(times), places=6)
        self.assertEqual(row[8:13], ["4", "3", "2", "1", "0"])
        # ADMIN, ORAPOST and the four here; dave is over quota.
        used = 950 + 5000 + 10 + 200
        self.assertEqual(row[13:16], ["6", "1", str(used)])
        dbsize = int(n.value("SELECT pg_database_size(current_database())"))
        self.assertLess(abs(int(row[16]) - dbsize), dbsize // 5)

        # Queues as made; empty ones have no oldest entry.
        queues = {r[0]: r[1:] for r in n.sql(
            "SELECT queue, entries, round(extract(epoch FROM s.taken_at - q.oldest_at))"
            "  FROM stat_queue q JOIN stat_snapshot s ON s.id = q.snapshot_id"
            " WHERE snapshot_id = :'p1'", snap)}
        self.assertEqual(sorted(queues), sorted(["submission", "rerouting", "remote",
                                                 "gateway_in", "gateway_out", "dead",
                                                 "collector"]))
        self.assertEqual(queues["submission"][0], "3")
        self.assertEqual(queues["dead"][0], "2")
        self.assertEqual(queues["gateway_in"][0], "1")
        self.assertEqual(queues["remote"], ["0", None])
        for q, age in (("submission", 3600), ("dead", 7200), ("gateway_in", 1800)):
            self.assertLess(abs(float(queues[q][1]) - age), 30, q)

        # AccountTop 1 (bob), plus everyone at 90% of the quota or more.
        accounts = n.sql("SELECT address, bytes, messages, quota_bytes FROM stat_account"
                         " WHERE snapshot_id = :'p1' ORDER BY bytes DESC", snap)
        self.assertEqual(accounts, [[bob, "5000", "2", None], [alice, "950", "2", "1000"],
                                    [dave, "200", "2", "100"]])

        procs = {(r[0], r[1]): r[2:] for r in n.sql(
            "SELECT type, instance, state, restarts, clients, logged_in, pool_busy"
            "  FROM stat_process WHERE snapshot_id = :'p1'", snap)}
        self.assertEqual(procs[("POSTMAN", "1")], ["STOPPED", "3", None, None, None])
        self.assertEqual(procs[("POP3SRV", "1")], ["RUNNING", "0", "5", "4", "1"])
        self.assertEqual(procs[("IMAP4SRV", "1")], ["STOPPED", "0", "0", "0", "0"])

        # Space of a table nobody writes to now, as PostgreSQL measures it.
        self.assertEqual(n.sql("SELECT total_bytes, index_bytes, toast_bytes FROM stat_table"
                               " WHERE snapshot_id = :'p1' AND table_name = 'domain'", snap),
                         n.sql("SELECT pg_total_relation_size('domain'), pg_indexes_size("
                               "'domain'), pg_total_relation_size(reltoastrelid) FROM pg_class"
                               " WHERE oid = 'domain'::regclass"))

        # The snapshot of t becomes the latest; a restart within Interval takes none.
        n.sql("DELETE FROM stat_snapshot WHERE id > :'p1'", snap)
        set_params(n, "STATISTICS", 1, Interval=3600)
        mon = self.start()
        try:
            wait_until(lambda: serving(self.metrics_port), 20, interval=0.2,
                       what="the metrics endpoint")
            # A queue entry after the snapshot: queue lengths are live.
            mid = n.value("SELECT min(message_id) FROM submission")
            n.sql("INSERT INTO submission (message_id, sender, recipients, not_before)"
                  " VALUES (:'p1', 's@x', '{r@com}', now() + interval '1 day')", mid)
            status, head, body = scrape(self.metrics_port)
            self.assertEqual(status, 200)
            self.assertIn("text/plain; version=0.0.4", head)
            self.assertEqual(scrape(self.metrics_port, "/other")[0], 404)
            r = n.oomgr("disp statistics period=1h format=csv;\n")
            self.assertOk(r, "disp statistics")
            disp = r.stdout
        finally:
            mon.stop(self)
        self.assertEqual(n.value("SELECT max(id) FROM stat_snapshot"), snap)

        m, types, helps = parse_metrics(body)
        for name in types:
            self.assertIn(name, helps)
        self.assertEqual(types["ofcmail_delivery_seconds"], "summary")
        self.assertEqual(types["ofcmail_process_restarts_total"], "counter")
        for q, key in ((0.5, '0.5'), (0.95, '0.95'), (0.99, '0.99')):
            self.assertAlmostEqual(m[("ofcmail_delivery_seconds", 'quantile="%s"' % key)],
                                   percentile_cont(times, q), places=6)
        self.assertAlmostEqual(m[("ofcmail_delivery_seconds_sum", "")], sum(times), places=6)
        self.assertEqual(m[("ofcmail_delivery_seconds_count", "")], len(DELAYS))
        self.assertEqual(m[("ofcmail_delivery_max_seconds", "")], max(times))
        self.assertEqual(m[("ofcmail_delivered_messages", "")], len(DELAYS) - 1)
        self.assertEqual(m[("ofcmail_delivered_bytes", "")], sum(SIZES))
        self.assertEqual(m[("ofcmail_dispositions", 'disposition="bounced"')], 2)
        self.assertEqual(m[("ofcmail_queue_length", 'queue="submission"')], 4)
        self.assertEqual(m[("ofcmail_queue_length", 'queue="dead"')], 2)
        self.assertEqual(m[("ofcmail_queue_length", 'queue="collector"')], 0)
        self.assertLess(abs(m[("ofcmail_queue_oldest_seconds", 'queue="dead"')] - 7200), 60)
        self.assertEqual(m[("ofcmail_database_bytes", "")], int(row[16]))
        self.assertEqual(m[("ofcmail_accounts_over_quota", "")], 1)
        self.assertEqual(m[("ofcmail_account_bytes", 'account="%s"' % alice)], 950)
        self.assertEqual(m[("ofcmail_account_quota_bytes", 'account="%s"' % alice)], 1000)
        self.assertNotIn(("ofcmail_account_quota_bytes", 'account="%s"' % bob), m)
        self.assertEqual(m[("ofcmail_process_restarts_total", 'process="POSTMAN/1"')], 3)
        self.assertEqual(m[("ofcmail_protocol_clients", 'process="POP3SRV/1"')], 5)
        self.assertEqual(m[("ofcmail_protocol_logged_in", 'process="POP3SRV/1"')], 4)
        self.assertEqual(m[("ofcmail_protocol_pool_busy", 'process="POP3SRV/1"')], 1)
        self.assertNotIn(("ofcmail_protocol_clients", 'process="POSTMAN/1"'), m)
        self.assertEqual(m[("ofcmail_table_bytes", 'table="domain"')],
                         int(n.value("SELECT pg_total_relation_size('domain')")))

        # disp statistics: the latest snapshot and the last hour (every snapshot here).
        tables = csv_tables(disp)
        self.assertEqual(len(tables), 5, disp)
        summary = {r[0]: r[1:] for r in tables[0][1:]}
        self.assertEqual(tables[0][0], ["Figure", "Latest", "Last 1h"])
        self.assertEqual(summary["Delivered recipients"], [str(len(DELAYS))] * 2)
        self.assertEqual(summary["Delivered octets"], [str(sum(SIZES))] * 2)
        self.assertEqual(summary["Bounced"], ["2", "2"])
        self.assertEqual(summary["Snapshots"][1],
                         n.value("SELECT count(*) FROM stat_snapshot"
                                 " WHERE taken_at >= now() - interval '1 hour'"))
        for label, q in (("Delivery p50 seconds", 0.5), ("Delivery p95 seconds", 0.95),
                         ("Delivery p99 seconds", 0.99)):
            for v in summary[label]:
                self.assertAlmostEqual(float(v), percentile_cont(times, q), places=3)
        self.assertEqual(summary["Process restarts"], ["3", "0"])
        queues = {r[0]: r[1:] for r in tables[1][1:]}
        self.assertEqual(queues["submission"][0], "3")
        self.assertEqual(queues["dead"][1], "2h 0m")
        procs = {(r[0], r[1]): r[2:] for r in tables[2][1:]}
        self.assertEqual(procs[("POP3SRV", "1")][:3], ["RUNNING", "0", "5"])
        self.assertEqual(tables[4][1:], [[bob, "5000", "2", "", ""],
                                         [alice, "950", "2", "1000", "95.0"],
                                         [dave, "200", "2", "100", "200.0"]])

    def test_retention_purge_by_collector(self):
        n = self.node
        node = self.node_id

        def snapshot(days):
            sid = n.value("INSERT INTO stat_snapshot (node_id, taken_at, period_start,"
                          " period_end) SELECT :'p1', t, t, t FROM (SELECT now() -"
                          " make_interval(days => :'p2') AS t) s RETURNING id", node, days)
            n.sql("INSERT INTO stat_queue (snapshot_id, queue, entries) VALUES"
                  " (:'p1', 'dead', 1)", sid)
            return sid

        old, middle, young = snapshot(40), snapshot(10), snapshot(1)
        # Only the statistics job, every second.
        set_params(n, "COLLECTOR", 1, Task="statistics", SweepInterval=1, PollInterval=1)
        r = n.sql("UPDATE process_parameter SET value = 'statistics, bogus' WHERE name = 'Task'",
                  check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("statistics", r.stderr)

        def exists(sid):
            return n.value("SELECT count(*) FROM stat_snapshot WHERE id = :'p1'", sid) == "1"

        coll = Foreground(n, OFCMGD, "instance=1")
        try:
            wait_until(lambda: not exists(old), 20, what="the 40-day snapshot purged")
            self.assertTrue(exists(middle))
            self.assertEqual(n.value("SELECT count(*) FROM stat_queue WHERE snapshot_id ="
                                     " :'p1'", old), "0")
            # The retention is Statistics' parameter: 5 days takes the 10-day one too.
            set_params(n, "STATISTICS", 1, RetentionDays=5)
            wait_until(lambda: not exists(middle), 20, what="the 10-day snapshot purged")
            self.assertTrue(exists(young))
        finally:
            log = coll.stop(self)
            n.sql("DELETE FROM process_parameter WHERE name = 'RetentionDays'")
        self.assertIn("purged 1 statistics snapshots", log)


class ClientsTest(TestCase):
    """disp clients and the protocol figures with a real pop3srv."""

    @classmethod
    def setUpClass(cls):
        cls.node = n = Node()
        h = n.home
        tls_dir = os.path.join(h.dir, "tls")
        os.makedirs(tls_dir)
        cert, key = os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pgcluster.chown_tree(tls_dir, h.uid, h.gid)
        os.chmod(key, 0o600)
        ports = set()
        while len(ports) < 5:
            ports.add(pgcluster.free_port())
        ports = sorted(ports)
        cls.port, cls.metrics_port = ports[0], ports[4]
        with open(h.config, "a") as f:
            f.write("ports {\n    pop3 = %d\n    pop3s = %d\n    imap = %d\n    imaps = %d\n}\n"
                    % tuple(ports[:4]))
            f.write('tls {\n    certificate = "%s"\n    key = "%s"\n}\n' % (cert, key))
        r = n.oomgr("".join("insert person u%d password=%s;\n" % (i, PASSWORD)
                            for i in range(3)))
        if r.returncode != 0:
            raise AssertionError("oomgr failed:\n%s%s" % (r.stdout, r.stderr))
        set_params(n, "POP3SRV", 1, HeartbeatInterval=1, AuthFailureDelay=0)
        set_params(n, "STATISTICS", 1, Interval=1, PollInterval=1, HeartbeatInterval=1,
                   SettleSeconds=0, MetricsPort=cls.metrics_port)
        cls.guardian = Guardian(n)
        r = cls.guardian.start()
        if r.returncode != 0:
            raise AssertionError("ofcguard start failed:\n%s%s" % (r.stdout, r.stderr))
        r = n.oomgr("startup process iolistener;\nstartup process pop3srv wait=30;\n"
                    "startup process statistics wait=30;\n")
        if r.returncode != 0:
            raise AssertionError("startup failed:\n%s%s\n%s" % (r.stdout, r.stderr,
                                                                cls.guardian.log()))

    @classmethod
    def tearDownClass(cls):
        cls.guardian._cleanup()
        problems = []
        for name in os.listdir(cls.node.home.log_dir):
            with open(os.path.join(cls.node.home.log_dir, name), errors="replace") as f:
                text = f.read()
            if "Sanitizer" in text or "runtime error" in text:
                problems.append(name + ":\n" + text[-4000:])
        cls.node.close()
        if problems:
            raise AssertionError("\n".join(problems))

    def connect(self):
        def attempt():
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            except OSError:
                return None
            f = s.makefile("rb")
            if not f.readline().startswith(b"+OK"):
                f.close()
                s.close()
                return None
            return s, f
        return wait_until(attempt, 30, interval=0.2, what="a POP3 greeting")

    def cmd(self, conn, text):
        conn[0].sendall(text.encode() + b"\r\n")
        return conn[1].readline()

    def test_disp_clients_and_metrics(self):
        n = self.node
        conns = [self.connect() for _ in range(3)]
        try:
            for i in range(2):
                self.assertTrue(self.cmd(conns[i], "USER u%d" % i).startswith(b"+OK"))
                self.assertTrue(self.cmd(conns[i], "PASS " + PASSWORD).startswith(b"+OK"))

            def reported():
                r = n.oomgr("disp clients format=csv;\n")
                self.assertOk(r, "disp clients")
                rows = list(csv.reader(io.StringIO(r.stdout)))
                pop = [row for row in rows if row[0] == "POP3SRV"]
                return rows if pop and pop[0][3:6] == ["3", "0", "2"] else None
            rows = wait_until(reported, 30, interval=0.3, what="disp clients: 3 clients, 2 in")
            self.assertEqual(rows[0], ["Server Name", "Instance", "State", "Clients", "TLS",
                                       "Logged In", "Pool", "Busy", "Queued", "Updated"])
            pop = [row for row in rows if row[0] == "POP3SRV"][0]
            self.assertEqual(pop[1:3], ["1", "RUNNING"])
            self.assertGreater(int(pop[6]), 0)  # the pool is open
            imap = [row for row in rows if row[0] == "IMAP4SRV"][0]
            self.assertEqual(imap[2:6], ["STOPPED", "0", "0", "0"])
            self.assertEqual(rows[-1][0], "Total")
            self.assertEqual(rows[-1][3], "3")
            r = n.oomgr("disp clients imap*;\n")
            self.assertOk(r)
            self.assertNotIn("POP3SRV", r.stdout)
            self.assertIn("IMAP4SRV", r.stdout)

            # Statistics (started by the Guardian) records and exports the same.
            def exported():
                if not serving(self.metrics_port):
                    return None
                body = scrape(self.metrics_port)[2]
                m = parse_metrics(body)[0]
                ok = (m.get(("ofcmail_protocol_clients", 'process="POP3SRV/1"')) == 3 and
                      m.get(("ofcmail_protocol_logged_in", 'process="POP3SRV/1"')) == 2)
                return m if ok else None
            try:
                m = wait_until(exported, 30, interval=0.3,
                               what="metrics: POP3SRV/1 with 3 clients")
            except AssertionError as e:
                log = os.path.join(n.home.log_dir, "%s_stt.log" % n.node)
                with open(log, errors="replace") as f:
                    raise AssertionError("%s\n%s\n%s" % (e, scrape(self.metrics_port),
                                                          f.read()[-3000:]))
            self.assertEqual(m[("ofcmail_process_up", 'process="POP3SRV/1"')], 1)
            self.assertEqual(m[("ofcmail_process_up", 'process="STATISTICS/1"')], 1)
            self.assertEqual(m[("ofcmail_process_up", 'process="POSTMAN/1"')], 0)
            self.assertEqual(n.value(
                "SELECT count(*) FROM stat_process WHERE type = 'POP3SRV' AND clients = 3"
                " AND logged_in = 2 AND state = 'RUNNING'") != "0", True)
        finally:
            for s, f in conns:
                f.close()
                s.close()
        r = n.oomgr("disp statistics period=7d;\n")
        self.assertOk(r, "disp statistics")
        self.assertIn("Last 7d", r.stdout)
        self.assertIn("Delivery p95 seconds", r.stdout)

        # refresh moves the endpoint to a new port; MetricsPort 0 closes it.
        new_port = pgcluster.free_port()
        set_params(n, "STATISTICS", 1, MetricsPort=new_port)
        n.sql("SELECT ofc_refresh('STATISTICS')")
        wait_until(lambda: serving(new_port), 20, interval=0.2, what="the endpoint moved")
        self.assertFalse(serving(self.metrics_port))
        set_params(n, "STATISTICS", 1, MetricsPort=0)
        n.sql("SELECT ofc_refresh('STATISTICS')")
        wait_until(lambda: not serving(new_port), 20, interval=0.2, what="the endpoint closed")


if __name__ == "__main__":
    unittest.main()
