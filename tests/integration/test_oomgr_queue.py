"""oomgr: disp queue, disp message, requeue/delete dead, and the rewrite rules.

The queues are filled by SQL (messages, entries, backdated timestamps); no
worker runs, except the inbound gateway (ofcgwind -f) for a moment in the
last test, to see that it applies a rule oomgr inserted.
"""
import csv
import io
import os
import signal
import subprocess

from ofctest import BIN_DIR, Node, TestCase, wait_until
from test_oomgr import add_account, add_domain

GWIND = os.path.join(BIN_DIR, "ofcgwind")


def rows(text):
    """A format=csv table as a list of dicts."""
    return list(csv.DictReader(io.StringIO(text)))


def demote(uid, gid):
    def fn():
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
    return fn


class QueueTest(TestCase):
    node = None

    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        n = cls.node
        n.sql("INSERT INTO node (name) VALUES ('OTHER')")
        n.sql("INSERT INTO gateway (name, type, node_id) SELECT 'SMTPOUT', 'SMTP', id"
              " FROM node WHERE is_local")
        # A person to own a folder (no password: never logs in).
        oid = n.value("INSERT INTO dir_object (domain_id, class, name)"
                      " SELECT id, 'PERSON', 'jdoe' FROM domain WHERE fqdn = 'com' RETURNING id")
        n.sql("INSERT INTO account (object_id, object_class, home_node_id)"
              " SELECT :'p1'::bigint, 'PERSON', id FROM node WHERE is_local", oid)
        cls.inbox = n.value("INSERT INTO mailbox (account_id, name) VALUES (:'p1'::bigint, 'INBOX')"
                            " RETURNING id", oid)

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def setUp(self):
        self.node.sql("DELETE FROM gateway_in; DELETE FROM submission; DELETE FROM rerouting;"
                      " DELETE FROM remote; DELETE FROM gateway_out; DELETE FROM dead;"
                      " DELETE FROM mailbox_pointer; DELETE FROM collector;"
                      " DELETE FROM rewrite_rule")

    def message(self, subject="hello"):
        raw = "From: a@example.org\r\nTo: jdoe@com\r\nSubject: %s\r\n\r\nbody\r\n" % subject
        return self.node.value(
            "INSERT INTO message (size, raw, hdr_subject, hdr_from, hdr_to, hdr_message_id,"
            " hdr_date) VALUES (octet_length(convert_to(:'p1', 'UTF8')), convert_to(:'p1', 'UTF8'),"
            " :'p2', 'a@example.org', 'jdoe@com', '<m1@example.org>', '2025-11-25 20:37:23+00')"
            " RETURNING id", raw, subject)

    def oomgr(self, script):
        return self.node.oomgr(script)

    # ---- disp queue ---------------------------------------------------------

    def test_disp_queue_summary(self):
        n = self.node
        m1, m2, m3 = self.message(), self.message(), self.message()
        n.sql("INSERT INTO submission (message_id, sender, recipients, submitted_at)"
              " VALUES (:'p1', 'a@example.org', '{jdoe@com}', now() - interval '192 seconds')", m1)
        n.sql("INSERT INTO submission (message_id, sender, recipients, submitted_at, not_before,"
              " attempts) VALUES (:'p1', '', '{jdoe@com}', now() - interval '10 seconds',"
              " now() + interval '1 hour', 2)", m2)
        n.sql("INSERT INTO remote (target_node_id, message_id, sender, recipients, submitted_at)"
              " SELECT id, :'p1', 'a@com', '{x@other}', now() - interval '2 hours 5 minutes'"
              " FROM node WHERE name = 'OTHER'", m3)
        n.sql("INSERT INTO gateway_out (gateway_id, message_id, sender, recipients, submitted_at)"
              " SELECT id, :'p1', 'a@com', '{x@example.net}', now() - interval '3 days 4 hours'"
              " FROM gateway WHERE name = 'SMTPOUT'", m3)
        n.sql("INSERT INTO gateway_in (source, sender, recipients, raw) VALUES"
              " ('SMTP', 'a@example.org', '{jdoe@com}', 'Subject: x\r\n\r\nx')")
        r = self.oomgr("disp queue format=csv;\n")
        self.assertOk(r)
        q = dict((row["Queue"], row) for row in rows(r.stdout))
        self.assertEqual(list(q), ["gateway_in", "submission", "rerouting", "remote",
                                   "remote:OTHER", "gateway_out", "gateway_out:SMTPOUT", "dead",
                                   "collector"])
        s = q["submission"]
        self.assertEqual((s["Entries"], s["Due"], s["Deferred"]), ("2", "1", "1"))
        self.assertRegex(s["Oldest"], r"^3m 1[2-4]s$")
        self.assertEqual(q["remote:OTHER"]["Entries"], "1")
        self.assertEqual(q["remote:OTHER"]["Oldest"], "2h 5m")
        self.assertEqual(q["gateway_out"]["Oldest"], "3d 4h")
        self.assertEqual(q["gateway_in"]["Entries"], "1")
        self.assertEqual((q["rerouting"]["Entries"], q["rerouting"]["Oldest"]), ("0", ""))
        # The aligned table has the same rows under a rule.
        r = self.oomgr("disp queue;\n")
        self.assertOk(r)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("Queue"), r.stdout)
        self.assertTrue(lines[1].startswith("---"), r.stdout)
        self.assertTrue(any(l.split()[:3] == ["submission", "2", "1"] for l in lines), r.stdout)

    def test_disp_queue_entries(self):
        n = self.node
        m = self.message()
        n.sql("INSERT INTO dead (message_id, sender, recipients, from_queue, reason, dead_at)"
              " VALUES (:'p1', '', '{jdoe@com,x@com}', 'submission', 'no such user',"
              " '2026-01-02 03:04:05+00')", m)
        n.sql("INSERT INTO dead (raw, sender, recipients, from_queue, reason)"
              " VALUES ('abc', 'a@b', '{\"@@\"}', 'gateway_in', 'no valid recipient')")
        for stmt in ("disp queue dead format=csv;\n", "disp queue name=dead format=csv;\n"):
            r = self.oomgr(stmt)
            self.assertOk(r)
            d = rows(r.stdout)
            self.assertEqual(len(d), 2, r.stdout)
            self.assertEqual(d[0]["Message"], m)
            self.assertEqual(d[0]["Sender"], "<>")
            self.assertEqual(d[0]["Recipients"], "jdoe@com, x@com")
            self.assertEqual(d[0]["From Queue"], "submission")
            self.assertEqual(d[0]["Reason"], "no such user")
            self.assertEqual(d[0]["Dead At"], "2026-01-02 03:04:05")
            self.assertEqual(d[1]["Message"], "raw 3 bytes")
        n.sql("INSERT INTO submission (message_id, sender, recipients, submitted_at, not_before,"
              " attempts, last_error) VALUES (:'p1', 'a@example.org', '{jdoe@com}',"
              " now() - interval '65 seconds', now() + interval '1 hour', 3, 'mailbox busy')", m)
        r = self.oomgr("disp queue submission format=csv;\n")
        self.assertOk(r)
        e = rows(r.stdout)
        self.assertEqual(len(e), 1)
        self.assertEqual((e[0]["Message"], e[0]["Attempts"], e[0]["Last Error"]),
                         (m, "3", "mailbox busy"))
        self.assertRegex(e[0]["Age"], r"^1m [5-7]s$")
        self.assertNotEqual(e[0]["Next Try"], "")
        r = self.oomgr("disp queue bogus;\n")
        self.assertOneLineError(r, "bogus")

    # ---- disp message -------------------------------------------------------

    def test_disp_message(self):
        n = self.node
        m = self.message("Quarterly report")
        n.sql("INSERT INTO mailbox_pointer (mailbox_id, uid, message_id, flags, modseq)"
              " VALUES (:'p1', 7, :'p2', 5, 1)", self.inbox, m)
        n.sql("INSERT INTO gateway_out (gateway_id, message_id, sender, recipients)"
              " SELECT id, :'p1', 'a@com', '{x@example.net}' FROM gateway WHERE name = 'SMTPOUT'", m)
        r = self.oomgr("disp message id=%s format=csv;\n" % m)
        self.assertOk(r)
        fields_csv, where_csv = r.stdout.split("\n\n", 1)
        f = dict((row["Field"], row["Value"]) for row in rows(fields_csv))
        self.assertEqual(f["Subject"], "Quarterly report")
        self.assertEqual(f["From"], "a@example.org")
        self.assertEqual(f["Message-ID"], "<m1@example.org>")
        self.assertEqual(f["Refcount"], "1")
        self.assertEqual(f["Date"], "2025-11-25 20:37:23")
        w = rows(where_csv)
        self.assertEqual(len(w), 2, r.stdout)
        self.assertEqual((w[0]["Location"], w[0]["Account/Queue"], w[0]["Folder"],
                          w[0]["UID/Entry"], w[0]["Flags"]),
                         ("mailbox", "jdoe@com", "INBOX", "7", "\\Seen \\Flagged"))
        self.assertEqual((w[1]["Location"], w[1]["Account/Queue"]),
                         ("queue", "gateway_out:SMTPOUT"))
        r = self.oomgr("disp message id=%s;\n" % m)
        self.assertOk(r)
        self.assertIn("Quarterly report", r.stdout)
        self.assertOneLineError(self.oomgr("disp message id=999999;\n"), "no message 999999")

    # ---- requeue and delete dead --------------------------------------------

    def test_requeue_dead(self):
        n = self.node
        m = self.message()
        stored = n.value("INSERT INTO dead (message_id, sender, recipients, from_queue, reason)"
                         " VALUES (:'p1', 'a@example.org', '{jdoe@com,x@com}', 'submission',"
                         " 'boom') RETURNING id", m)
        raw = n.value("INSERT INTO dead (raw, sender, recipients, from_queue, reason)"
                      " VALUES ('Subject: x\r\n\r\nraw', 'b@example.org', '{jdoe@com}',"
                      " 'gateway_in', 'db down') RETURNING id")
        raw_hex = n.value("SELECT encode(raw, 'hex') FROM dead WHERE id = :'p1'", raw)
        self.assertOneLineError(self.oomgr("requeue dead id=999999;\n"), "no dead entry 999999")
        self.assertOneLineError(self.oomgr("requeue dead;\n"), "id=N or all")
        r = self.oomgr("requeue dead id=%s;\n" % stored)
        self.assertOk(r)
        self.assertEqual(r.stdout.strip(), "Requeued 1 message(s).")
        self.assertEqual(n.sql("SELECT message_id::text, sender, recipients::text, attempts"
                               " FROM submission"),
                         [[m, "a@example.org", "{jdoe@com,x@com}", "0"]])
        r = self.oomgr("requeue dead all;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout.strip(), "Requeued 1 message(s).")
        self.assertEqual(n.sql("SELECT sender, recipients::text, encode(raw, 'hex'), attempts"
                               " FROM gateway_in"),
                         [["b@example.org", "{jdoe@com}", raw_hex, "0"]])
        self.assertEqual(n.value("SELECT count(*) FROM dead"), "0")
        # Nobody to send it to: refused alone, left behind with a warning in bulk.
        empty = n.value("INSERT INTO dead (raw, from_queue, reason) VALUES ('x', 'gateway_in',"
                        " 'empty') RETURNING id")
        self.assertOneLineError(self.oomgr("requeue dead id=%s;\n" % empty), "no recipients")
        r = self.oomgr("requeue dead all;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout.strip(), "Requeued 0 message(s).")
        self.assertIn("without recipients", r.stderr)
        self.assertEqual(n.value("SELECT count(*) FROM dead"), "1")

    def test_delete_dead(self):
        n = self.node
        m1, m2 = self.message(), self.message()
        d1 = n.value("INSERT INTO dead (message_id, sender, recipients, from_queue, reason)"
                     " VALUES (:'p1', 'a@b', '{c@d}', 'submission', 'x') RETURNING id", m1)
        n.sql("INSERT INTO dead (message_id, sender, recipients, from_queue, reason)"
              " VALUES (:'p1', 'a@b', '{c@d}', 'submission', 'x')", m2)
        n.sql("INSERT INTO dead (raw, from_queue, reason) VALUES ('x', 'gateway_in', 'x')")
        self.assertOneLineError(self.oomgr("delete dead id=999999;\n"), "no dead entry")
        r = self.oomgr("delete dead id=%s;\n" % d1)
        self.assertOk(r)
        self.assertEqual(r.stdout.strip(), "Deleted 1 message(s).")
        # The Collector is told about the message nothing holds any more.
        self.assertEqual(n.sql("SELECT message_id::text FROM collector"), [[m1]])
        r = self.oomgr("delete dead all;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout.strip(), "Deleted 2 message(s).")
        self.assertEqual(n.value("SELECT count(*) FROM dead"), "0")

    def test_privileges(self):
        # An administrator of a subdomain only: the node's queues are not theirs.
        n = self.node
        if n.value("SELECT count(*) FROM domain WHERE fqdn = 'sub.com'") == "0":
            add_domain(n, "sub.com", "com")
            add_account(n, "subadm", "Subadm-pw-1", domain="sub.com", grant="sub.com")
        n.sql("INSERT INTO dead (raw, sender, recipients, from_queue, reason)"
              " VALUES ('x', 'a@b', '{c@d}', 'gateway_in', 'x')")
        for stmt in ("disp queue;", "delete dead all;", "requeue dead all;",
                     "insert rewrite pattern=a replacement=b;", "disp rewrite;"):
            r = n.oomgr(stmt + "\n", login="subadm//sub.com", password="Subadm-pw-1")
            self.assertOneLineError(r, "privilege")
        self.assertEqual(n.value("SELECT count(*) FROM dead"), "1")
        self.assertEqual(n.value("SELECT count(*) FROM rewrite_rule"), "0")

    # ---- rewrite rules --------------------------------------------------------

    def test_rewrite_statements(self):
        n = self.node
        r = self.oomgr('insert rewrite pattern="^old-(.*)@com$" replacement="\\\\1@com"'
                       ' position=10 description="renamed people";\n')
        self.assertOk(r)
        self.assertRegex(r.stdout.strip(), r"^Inserted successfully \(rule \d+\)\.$")
        rid = n.value("SELECT id FROM rewrite_rule")
        self.assertEqual(n.sql("SELECT domain_id, applies_to, seq, pattern, replacement,"
                               " description FROM rewrite_rule"),
                         [[None, "RECIPIENT", "10", "^old-(.*)@com$", "\\1@com",
                           "renamed people"]])
        r = self.oomgr('insert rewrite pattern="@internal\\\\.example$" replacement="@example.org"'
                       ' applies=sender domain=com;\n')
        self.assertOk(r)
        r = self.oomgr("disp rewrite format=csv;\n")
        self.assertOk(r)
        d = rows(r.stdout)
        # The domain's own rules are tried first.
        self.assertEqual([(x["Domain"], x["Applies"], x["Pattern"]) for x in d],
                         [("COM", "SENDER", "@internal\\.example$"),
                          ("*", "RECIPIENT", "^old-(.*)@com$")])
        r = self.oomgr("modify rewrite id=%s applies=both position=5 replacement=x;\n" % rid)
        self.assertOk(r)
        self.assertEqual(r.stdout.strip(), "Modified successfully.")
        self.assertEqual(n.sql("SELECT applies_to, seq, replacement FROM rewrite_rule"
                               " WHERE id = :'p1'", rid), [["BOTH", "5", "x"]])
        # An invalid regex: one line, nothing changed.
        before = n.sql("SELECT * FROM rewrite_rule ORDER BY id")
        self.assertOneLineError(self.oomgr('insert rewrite pattern="(a" replacement=x;\n'),
                                "invalid pattern")
        self.assertOneLineError(self.oomgr('modify rewrite id=%s pattern="[z-a]";\n' % rid),
                                "invalid pattern")
        self.assertOneLineError(self.oomgr("insert rewrite pattern=a replacement=b"
                                           " domain=nowhere.example;\n"), "no domain")
        self.assertOneLineError(self.oomgr("modify rewrite id=999999 position=1;\n"),
                                "no rewrite rule")
        self.assertOneLineError(self.oomgr("modify rewrite id=%s;\n" % rid), "nothing to change")
        self.assertEqual(n.sql("SELECT * FROM rewrite_rule ORDER BY id"), before)
        # domain="" makes a domain's rule global again.
        other = n.value("SELECT id FROM rewrite_rule WHERE domain_id IS NOT NULL")
        self.assertOk(self.oomgr('modify rewrite id=%s domain="";\n' % other))
        self.assertIsNone(n.value("SELECT domain_id FROM rewrite_rule WHERE id = :'p1'", other))
        r = self.oomgr("delete rewrite id=%s;\n" % rid)
        self.assertOk(r)
        self.assertEqual(r.stdout.strip(), "Deleted successfully.")
        self.assertEqual(n.value("SELECT count(*) FROM rewrite_rule"), "1")
        self.assertOneLineError(self.oomgr("delete rewrite id=%s;\n" % rid), "no rewrite rule")

    def test_gateway_applies_oomgr_rule(self):
        n = self.node
        r = self.oomgr('insert rewrite pattern="^old-(.*)@com$" replacement="\\\\1@com";\n')
        self.assertOk(r)
        n.sql("INSERT INTO gateway_in (source, sender, recipients, raw) VALUES"
              " ('SMTP', 'a@example.org', '{old-jdoe@com}',"
              " 'From: a@example.org\r\nSubject: x\r\n\r\nx\r\n')")
        h = n.home
        p = subprocess.Popen([GWIND, "-c", h.config, "-f"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, preexec_fn=demote(h.uid, h.gid))
        try:
            wait_until(lambda: n.value("SELECT count(*) FROM submission") == "1", 30,
                       what="the gateway")
        finally:
            p.send_signal(signal.SIGTERM)
            out = p.communicate(timeout=30)[0]
        self.assertEqual(p.returncode, 0, out.decode(errors="replace"))
        self.assertEqual(n.value("SELECT recipients::text FROM submission"), "{jdoe@com}")


if __name__ == "__main__":
    import unittest
    unittest.main()
