"""The Collector (ofcmgd): removes only what nothing refers to.

Messages, pointers, queue rows and billing records are made with SQL (the
pointer and queue triggers of 004 and 009 fill the collector queue as
expunges, deleted folders and finished queue entries would) and ofcmgd
runs in the foreground (-f) against a private PostgreSQL; each test starts
the instances it needs and stops them with SIGTERM (exit 0, nothing on
stderr that looks like an error or a sanitizer report). Ages are made by
backdating rows, so retention is tested without waiting days.
MessageGraceSeconds is 0 and SweepInterval/PollInterval 1 s so that the
tests wait for conditions, not for timers.
"""
import os
import signal
import subprocess
import tempfile
import time
import unittest

import ofctest
from ofctest import Guardian, Node, TestCase, wait_until

OFCMGD = os.path.join(ofctest.BIN_DIR, "ofcmgd")

FAST = {"MessageGraceSeconds": "0", "SweepInterval": "1", "PollInterval": "1"}


def add_account(node, name):
    oid = node.value(
        "INSERT INTO dir_object (domain_id, class, name)"
        " SELECT id, 'PERSON', :'p1' FROM domain WHERE fqdn = 'com' RETURNING id", name)
    node.sql("INSERT INTO account (object_id, object_class, home_node_id)"
             " SELECT :'p1'::bigint, 'PERSON', id FROM node WHERE is_local", oid)
    return int(oid)


def add_mailbox(node, account_id, name="INBOX"):
    return int(node.value("INSERT INTO mailbox (account_id, name) VALUES (:'p1'::bigint, :'p2')"
                          " RETURNING id", account_id, name))


def store(node, text="Subject: test\r\n\r\nHello.\r\n"):
    """A stored message nobody refers to yet; returns its id."""
    return int(node.value(
        "INSERT INTO message (size, raw)"
        " SELECT octet_length(b), b FROM (SELECT convert_to(:'p1', 'UTF8') AS b) s RETURNING id",
        text))


POINT_SQL = ("WITH b AS (UPDATE mailbox SET uidnext = uidnext + 1,"
             " highestmodseq = highestmodseq + 1 WHERE id = %s"
             " RETURNING uidnext - 1 AS uid, highestmodseq)"
             " INSERT INTO mailbox_pointer (mailbox_id, uid, message_id, modseq)"
             " SELECT %s, uid, %s, highestmodseq FROM b")


def point(node, mailbox_id, message_id):
    """A pointer to the message in the mailbox (a delivery or an IMAP COPY)."""
    node.sql(POINT_SQL % (":'p1'::bigint", ":'p1'::bigint", ":'p2'::bigint"),
             mailbox_id, message_id)


def expunge(node, mailbox_id, message_id):
    node.sql("DELETE FROM mailbox_pointer WHERE mailbox_id = :'p1'::bigint"
             " AND message_id = :'p2'::bigint", mailbox_id, message_id)


def exists(node, message_id):
    return node.value("SELECT count(*) FROM message WHERE id = :'p1'::bigint", message_id) == "1"


def wait_gone(node, *message_ids, timeout=15):
    ids = ",".join(str(m) for m in message_ids)
    wait_until(lambda: node.value("SELECT count(*) FROM message WHERE id = ANY (:'p1'::bigint[])",
                                  "{%s}" % ids) == "0",
               timeout, what="messages %s deleted" % ids)


def collector_entries(node):
    return int(node.value("SELECT count(*) FROM collector"))


def register(node, instance, **params):
    """COLLECTOR instance N of the local node (made if missing) with overrides."""
    pid = node.value("SELECT id FROM process WHERE type = 'COLLECTOR' AND instance = :'p1'",
                     instance)
    if pid is None:
        pid = node.value("INSERT INTO process (node_id, type, instance)"
                         " SELECT id, 'COLLECTOR', :'p1' FROM node WHERE is_local RETURNING id",
                         instance)
    for name, value in params.items():
        node.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                 " VALUES (:'p1', 'COLLECTOR', :'p2', :'p3')"
                 " ON CONFLICT (process_id, name) DO UPDATE SET value = EXCLUDED.value",
                 pid, name, value)
    return int(pid)


class Collector:
    """ofcmgd instance N in the foreground."""

    def __init__(self, node, instance):
        self.node = node
        self.instance = instance
        self.proc = None

    def start(self):
        # -f copies the log to stderr: a file, not a pipe nobody drains.
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([OFCMGD, "-c", self.node.home.config, "-f",
                                      "instance=%d" % self.instance],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        ofctest._cleanups.append(self.kill)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def stop(self):
        """SIGTERM; fails the test unless it exits 0 without an error."""
        self.kill(signal.SIGTERM)
        self.stderr.seek(0)
        err = self.stderr.read().decode(errors="replace")
        self.stderr.close()
        rc = self.proc.returncode
        if rc != 0 or "ERROR" in err or "runtime error" in err or "Sanitizer" in err:
            raise AssertionError("ofcmgd instance %d: exit %s\n%s" % (self.instance, rc, err))
        return err

    @property
    def log(self):
        path = os.path.join(self.node.home.log_dir,
                            "%s_collector%02d.log" % (self.node.node, self.instance))
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return ""  # not opened yet


class Session:
    """A psql session kept open, to hold a transaction across steps."""

    def __init__(self, node):
        c = node.cluster
        env = dict(os.environ, PGPASSWORD=ofctest.pgcluster.SUPERUSER_PASSWORD,
                   PGOPTIONS="-c search_path=ofc")
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", c.sockdir,
             "-p", str(c.port), "-U", ofctest.pgcluster.SUPERUSER, "-d", node.dbname],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        ofctest._cleanups.append(self.close)

    def run(self, sql):
        """Runs sql and waits until psql has done it."""
        self.proc.stdin.write(sql + "\nSELECT 'ready';\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError("psql: %r %s" % (line, self.proc.stderr.read()))

    def close(self):
        """Ends the session; an open transaction rolls back."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(30)
            self.proc.stdout.close()
            self.proc.stderr.close()


class CollectorTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = n = Node()
        cls.alice = add_account(n, "alice")
        cls.bob = add_account(n, "bob")
        cls.alice_inbox = add_mailbox(n, cls.alice)
        cls.alice_archive = add_mailbox(n, cls.alice, "Archive")
        cls.bob_inbox = add_mailbox(n, cls.bob)
        register(n, 1, **FAST)

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def start(self, instance=1):
        c = Collector(self.node, instance).start()
        self.addCleanup(c.stop)
        return c

    def test_expunge_keeps_shared_messages(self):
        n = self.node
        shared, single = store(n), store(n)
        point(n, self.alice_inbox, shared)
        point(n, self.bob_inbox, shared)
        point(n, self.alice_inbox, single)
        self.start()
        # Alice expunges both: one statement, two messages.
        n.sql("DELETE FROM mailbox_pointer WHERE mailbox_id = :'p1'::bigint"
              " AND message_id IN (:'p2'::bigint, :'p3'::bigint)",
              self.alice_inbox, shared, single)
        wait_gone(n, single)
        wait_until(lambda: collector_entries(n) == 0, 10, what="an empty collector queue")
        self.assertTrue(exists(n, shared), "bob still points to it")
        self.assertEqual(n.value("SELECT refcount FROM message WHERE id = :'p1'", shared), "1")
        expunge(n, self.bob_inbox, shared)
        wait_gone(n, shared)

    def test_deleted_mailbox_and_account(self):
        n = self.node
        dave = add_account(n, "dave")
        inbox, folder = add_mailbox(n, dave), add_mailbox(n, dave, "Folder")
        both, shared, only_folder = store(n), store(n), store(n)
        point(n, inbox, both)
        point(n, folder, both)
        point(n, folder, shared)
        point(n, self.alice_archive, shared)
        point(n, folder, only_folder)
        n.sql("INSERT INTO message_header (message_id, seq, name, value)"
              " VALUES (:'p1'::bigint, 1, 'subject', 'test')", only_folder)
        self.start()
        n.sql("DELETE FROM mailbox WHERE id = :'p1'::bigint", folder)
        wait_gone(n, only_folder)
        self.assertEqual(n.value("SELECT count(*) FROM message_header"
                                 " WHERE message_id = :'p1'::bigint", only_folder), "0")
        self.assertTrue(exists(n, both) and exists(n, shared))
        # The account goes with its directory object; its folders follow.
        n.sql("DELETE FROM dir_object WHERE id = :'p1'::bigint", dave)
        wait_gone(n, both)
        wait_until(lambda: collector_entries(n) == 0, 10, what="an empty collector queue")
        self.assertTrue(exists(n, shared), "alice's Archive still points to it")

    def test_queued_messages_kept(self):
        n = self.node
        # No Postman runs: these stay queued with refcount 0.
        submitted, dead, rerouted, both = store(n), store(n), store(n), store(n)
        n.sql("INSERT INTO submission (message_id, sender, recipients)"
              " VALUES (:'p1'::bigint, 's@far.org', '{alice@com}'),"
              "        (:'p2'::bigint, 's@far.org', '{alice@com}')", submitted, both)
        n.sql("INSERT INTO dead (message_id, from_queue, reason)"
              " VALUES (:'p1'::bigint, 'submission', 'test'), (:'p2'::bigint, 'submission', 'test')",
              dead, both)
        n.sql("INSERT INTO rerouting (message_id, sender, recipients)"
              " VALUES (:'p1'::bigint, 's@far.org', '{alice@com}')", rerouted)
        # As if their last pointer had gone: entries the Collector must drop.
        n.sql("INSERT INTO collector (message_id) SELECT unnest(:'p1'::bigint[])",
              "{%d,%d,%d}" % (submitted, dead, rerouted))
        # Stored last (highest id) and referred to by nothing, without an
        # entry: once the sweep has deleted it, it has looked at the others.
        orphan = store(n)
        self.start()
        wait_gone(n, orphan)
        wait_until(lambda: collector_entries(n) == 0, 10, what="an empty collector queue")
        for m in (submitted, dead, rerouted, both):
            self.assertTrue(exists(n, m), "message %d is queued" % m)
        # The Postman finishing with it (delivered to nobody) releases it...
        n.sql("DELETE FROM submission WHERE message_id = :'p1'::bigint", submitted)
        wait_gone(n, submitted)
        # ...unless another queue still holds it.
        n.sql("DELETE FROM submission WHERE message_id = :'p1'::bigint", both)
        n.sql("DELETE FROM rerouting WHERE message_id = :'p1'::bigint", rerouted)
        wait_gone(n, rerouted)
        self.assertTrue(exists(n, both), "still dead")
        self.assertTrue(exists(n, dead))
        n.sql("DELETE FROM dead WHERE message_id IN (:'p1'::bigint, :'p2'::bigint)", dead, both)
        wait_gone(n, dead, both)

    def test_concurrent_reference_is_skipped(self):
        n = self.node
        taken, dropped, orphan = store(n), store(n), store(n)
        for m in (taken, dropped, orphan):
            point(n, self.bob_inbox, m)
            expunge(n, self.bob_inbox, m)
        self.assertEqual(collector_entries(n), 3)
        # Two transactions refer to two of them (an IMAP COPY, say) and
        # have not committed when the Collector looks.
        s1, s2 = Session(n), Session(n)
        self.addCleanup(s1.close)
        self.addCleanup(s2.close)
        s1.run("BEGIN;" + POINT_SQL % (self.alice_inbox, self.alice_inbox, taken) + ";")
        s2.run("BEGIN;" + POINT_SQL % (self.alice_archive, self.alice_archive, dropped) + ";")
        c = self.start()
        wait_gone(n, orphan)
        wait_until(lambda: collector_entries(n) == 0, 10, what="an empty collector queue")
        self.assertTrue(exists(n, taken) and exists(n, dropped), "skipped, not deleted")
        self.assertNotIn("gave way", c.log, "skipped without waiting for a lock")
        s1.run("COMMIT;")
        s2.run("ROLLBACK;")
        s1.close()
        s2.close()
        # The rolled-back one has no entry any more: the sweep finds it.
        wait_gone(n, dropped)
        self.assertTrue(exists(n, taken))
        self.assertEqual(n.value("SELECT refcount FROM message WHERE id = :'p1'", taken), "1")

    def test_task_parameter(self):
        n = self.node
        register(n, 2, Task="messages", **FAST)
        register(n, 3, Task="queues, Billing", **FAST)
        r = n.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                  " SELECT id, 'COLLECTOR', 'Task', 'messages,bogus' FROM process"
                  " WHERE type = 'COLLECTOR' AND instance = 1", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("invalid value messages,bogus for parameter Task", r.stderr)
        # The type's default (set param without an instance) is checked too.
        r = n.sql("UPDATE process_type_parameter SET default_value = 'bogus'"
                  " WHERE type = 'COLLECTOR' AND name = 'Task'", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("invalid value bogus for parameter Task of COLLECTOR", r.stderr)
        self.assertEqual(n.value("SELECT default_value FROM process_type_parameter"
                                 " WHERE type = 'COLLECTOR' AND name = 'Task'"), "all")

        bill = int(n.value("INSERT INTO message_billing (message_id, sender, recipient, size,"
                           " disposition, submitted_at, disposed_at)"
                           " VALUES (0, 's@far.org', 'task@com', 1, 'DELIVERED',"
                           " now() - interval '100 days', now() - interval '100 days')"
                           " RETURNING id"))
        dead = int(n.value("INSERT INTO dead (raw, from_queue, reason, dead_at)"
                           " VALUES ('x', 'gateway_in', 'task', now() - interval '100 days')"
                           " RETURNING id"))
        first = store(n)
        point(n, self.bob_inbox, first)
        expunge(n, self.bob_inbox, first)

        def old_rows():
            return n.value("SELECT (SELECT count(*) FROM message_billing WHERE id = :'p1')"
                           " + (SELECT count(*) FROM dead WHERE id = :'p2')", bill, dead)

        messages_only = Collector(n, 2).start()
        wait_gone(n, first)
        # Several sweep periods pass; queues and billing are not its job.
        wait_until(lambda: messages_only.log.count("Task=") >= 1, 10, what="instance 2 started")
        time.sleep(2.5)
        self.assertEqual(old_rows(), "2")
        messages_only.stop()
        self.assertIn("Task=messages BatchSize", messages_only.log)

        second = store(n)
        point(n, self.bob_inbox, second)
        expunge(n, self.bob_inbox, second)
        queues_billing = Collector(n, 3).start()
        wait_until(lambda: old_rows() == "0", 10, what="old billing and dead rows purged")
        self.assertTrue(exists(n, second), "messages are not instance 3's job")
        self.assertGreaterEqual(collector_entries(n), 1)
        log = queues_billing.stop()
        self.assertIn("Task=queues,billing BatchSize", log)
        self.assertNotIn("collected", log)

        messages_only = Collector(n, 2).start()
        wait_gone(n, second)
        messages_only.stop()

    def test_retention_purges_only_old_rows(self):
        n = self.node
        n.sql("DELETE FROM message_billing")
        n.sql("INSERT INTO message_billing (message_id, sender, recipient, size, disposition,"
              " submitted_at, disposed_at)"
              " SELECT 0, 's@far.org', 'r' || i || '@com', 1, 'DELIVERED', d, d"
              "   FROM generate_series(1, 5) i,"
              "        LATERAL (SELECT now() - make_interval(days => CASE WHEN i <= 3 THEN 91"
              "                 ELSE 89 END) AS d) x")
        old_msg, new_msg = store(n), store(n)
        n.sql("INSERT INTO dead (message_id, raw, from_queue, reason, dead_at) VALUES"
              " (:'p1'::bigint, NULL, 'submission', 'old', now() - interval '31 days'),"
              " (NULL, 'raw', 'gateway_in', 'old raw', now() - interval '31 days'),"
              " (:'p2'::bigint, NULL, 'submission', 'new', now() - interval '29 days')",
              old_msg, new_msg)
        n.sql("INSERT INTO gateway_in (source, sender, recipients, raw, received_at, attempts,"
              " last_error) VALUES"
              " ('OFCUTO', 'old@far.org', '{alice@com}', 'old', now() - interval '8 days', 3,"
              "  'no luck'),"
              " ('OFCUTO', 'new@far.org', '{alice@com}', 'new', now() - interval '6 days', 0,"
              "  NULL)")
        c = self.start()
        wait_until(lambda: n.value("SELECT count(*) FROM message_billing") == "2", 15,
                   what="billing rows older than 90 days purged")
        self.assertEqual(n.value("SELECT count(*) FROM message_billing"
                                 " WHERE disposed_at > now() - interval '90 days'"), "2")
        wait_until(lambda: n.value("SELECT count(*) FROM dead WHERE reason LIKE 'old%'") == "0",
                   15, what="dead entries older than 30 days purged")
        wait_gone(n, old_msg)  # released by the purge, then collected
        self.assertTrue(exists(n, new_msg))
        self.assertEqual(n.sql("SELECT sender, recipients, raw, from_queue, reason FROM dead"
                               " WHERE from_queue = 'gateway_in'"),
                         [["old@far.org", "{alice@com}", "\\x6f6c64", "gateway_in",
                           "not processed within 7 days (3 attempts, last error: no luck)"]])
        self.assertEqual(n.sql("SELECT sender FROM gateway_in"), [["new@far.org"]])
        self.assertIn("purged 3 billing records older than 90 days", c.log)
        self.assertIn("purged 2 dead entries older than 30 days", c.log)
        self.assertIn("moved 1 gateway_in entries older than 7 days", c.log)
        n.sql("DELETE FROM dead")
        wait_gone(n, new_msg)

    def test_gives_way_to_locks(self):
        n = self.node
        register(n, 5, Task="billing", LockTimeout="100", **FAST)
        n.sql("INSERT INTO message_billing (message_id, sender, recipient, size, disposition,"
              " submitted_at, disposed_at)"
              " VALUES (0, 's@far.org', 'lock@com', 1, 'DELIVERED',"
              " now() - interval '1 year', now() - interval '1 year')")
        # Someone holds the table (a long report, say): the Collector must
        # not queue behind them, and must finish once they are done.
        s = Session(n)
        self.addCleanup(s.close)
        s.run("BEGIN; LOCK TABLE message_billing IN ACCESS EXCLUSIVE MODE;")
        c = Collector(n, 5).start()
        wait_until(lambda: "billing: gave way to a lock" in c.log, 10, what="the Collector giving way")
        s.run("ROLLBACK;")
        s.close()
        wait_until(lambda: n.value("SELECT count(*) FROM message_billing"
                                   " WHERE recipient = 'lock@com'") == "0", 10,
                   what="the old billing row purged after the lock went")
        c.stop()

    def test_batches(self):
        n = self.node
        register(n, 4, BatchSize="7", **FAST)
        ids = [int(m) for m in n.value(
            "WITH m AS (INSERT INTO message (size, raw) SELECT 5, 'hello'::bytea"
            "            FROM generate_series(1, 40) RETURNING id),"
            " b AS (UPDATE mailbox SET uidnext = uidnext + 40 WHERE id = :'p1'::bigint"
            "       RETURNING uidnext - 40 AS first),"
            " p AS (INSERT INTO mailbox_pointer (mailbox_id, uid, message_id, modseq)"
            "       SELECT :'p1'::bigint, b.first + row_number() OVER (ORDER BY m.id) - 1,"
            "              m.id, 1 FROM m, b)"
            " SELECT string_agg(id::text, ',') FROM m", self.alice_archive).split(",")]
        n.sql("INSERT INTO message_billing (message_id, sender, recipient, size, disposition,"
              " submitted_at, disposed_at)"
              " SELECT 0, 's@far.org', 'batch@com', 1, 'DELIVERED', d, d"
              "   FROM generate_series(1, 30), LATERAL (SELECT now() - interval '1 year' AS d) x")
        n.sql("INSERT INTO dead (raw, from_queue, reason, dead_at)"
              " SELECT 'x', 'gateway_in', 'batch', now() - interval '1 year'"
              "   FROM generate_series(1, 20)")
        # One expunge of 40 messages: 40 entries, taken 7 at a time.
        n.sql("DELETE FROM mailbox_pointer WHERE mailbox_id = :'p1'::bigint", self.alice_archive)
        self.assertGreaterEqual(collector_entries(n), 40)
        c = Collector(n, 4).start()
        wait_gone(n, *ids, timeout=30)
        wait_until(lambda: n.value("SELECT count(*) FROM message_billing"
                                   " WHERE recipient = 'batch@com'") == "0", 15,
                   what="all old billing rows purged")
        wait_until(lambda: n.value("SELECT count(*) FROM dead WHERE reason = 'batch'") == "0", 15,
                   what="all old dead rows purged")
        log = c.stop()
        self.assertGreaterEqual(log.count("collected 7 unreferenced messages"), 5)
        self.assertGreaterEqual(log.count("purged 7 billing records"), 4)
        self.assertGreaterEqual(log.count("purged 7 dead entries"), 2)


class CollectorGuardianTest(TestCase):
    """ofcmgd started by the Guardian after `startup process collector;`."""

    def test_under_guardian(self):
        n = Node()
        self.addCleanup(n.close)
        pid = register(n, 1, MessageGraceSeconds="0", PollInterval="1")
        box = add_mailbox(n, add_account(n, "erin"))
        g = Guardian(n)
        r = g.start()
        self.assertOk(r)
        r = n.oomgr("startup process collector;\n")
        self.assertOk(r)
        wait_until(lambda: n.value("SELECT state FROM process_status WHERE process_id = :'p1'",
                                   pid) == "RUNNING", 20, what="the Collector RUNNING")
        m = store(n)
        point(n, box, m)
        expunge(n, box, m)
        wait_gone(n, m)
        r = g.stop()
        self.assertOk(r)
        self.assertEqual(n.value("SELECT state FROM process_status WHERE process_id = :'p1'", pid),
                         "STOPPED")
        with open(os.path.join(n.home.log_dir, "%s_collector01.log" % n.node)) as f:
            log = f.read()
        self.assertIn("collected 1 unreferenced messages", log)
        for bad in ("ERROR", "WARN", "runtime error", "Sanitizer"):
            self.assertNotIn(bad, log)


if __name__ == "__main__":
    unittest.main()
