"""The Postman (ofcomd): the submission queue to INBOXes, gateways, reports.

Messages are put on `submission` directly with SQL (a message row with its
raw octets; the IMAP cache columns stay NULL) and ofcomd runs in the
foreground (-f) against a private PostgreSQL. Each test waits until the
queue is empty and checks pointers, folders, quota, billing, gateway_out,
the dead queue and the non-delivery reports (parsed with Python's email
package).
"""
import email
import email.policy
import os
import signal
import subprocess
import tempfile
import time
import unittest

import ofctest
from ofctest import Node, TestCase, wait_until

OFCOMD = os.path.join(ofctest.BIN_DIR, "ofcomd")


def add_account(node, name, quota=None, inbox=True, domain="com"):
    oid = node.value(
        "INSERT INTO dir_object (domain_id, class, name)"
        " SELECT id, 'PERSON', :'p1' FROM domain WHERE fqdn = :'p2' RETURNING id", name, domain)
    node.sql("INSERT INTO account (object_id, object_class, home_node_id, quota_bytes)"
             " SELECT :'p1'::bigint, 'PERSON', id, nullif(:'p2', '')::bigint"
             " FROM node WHERE is_local", oid, "" if quota is None else str(quota))
    if inbox:
        node.sql("INSERT INTO mailbox (account_id, name) VALUES (:'p1'::bigint, 'INBOX')", oid)
    return int(oid)


def message(sender, to, subject="test", body="Hello.\r\n", extra=""):
    return ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n%s\r\n%s"
            % (sender or "nobody@nowhere", to, subject, subject.replace(" ", "."), extra, body))


def submit(node, sender, rcpts, raw=None):
    """A stored message on the submission queue; returns its message id."""
    if raw is None:
        raw = message(sender, ", ".join(rcpts))
    arr = "{" + ",".join('"%s"' % r for r in rcpts) + "}"
    return int(node.value(
        "WITH m AS (INSERT INTO message (size, raw)"
        "  SELECT octet_length(b), b FROM (SELECT convert_to(:'p1', 'UTF8') AS b) s RETURNING id)"
        " INSERT INTO submission (message_id, sender, recipients)"
        " SELECT id, :'p2', :'p3'::text[] FROM m RETURNING message_id", raw, sender, arr))


def inbox(node, account_id):
    return node.sql("SELECT id, uidnext, highestmodseq, messages, bytes FROM mailbox"
                    " WHERE account_id = :'p1'::bigint AND name = 'INBOX'", account_id)[0]


def pointers(node, account_id):
    return node.sql("SELECT p.uid, p.message_id, p.modseq FROM mailbox_pointer p"
                    " JOIN mailbox b ON b.id = p.mailbox_id"
                    " WHERE b.account_id = :'p1'::bigint ORDER BY p.uid", account_id)


class Postman:
    """ofcomd instance N in the foreground."""

    def __init__(self, node, instance=1):
        self.node = node
        self.instance = instance
        self.proc = None
        if node.value("SELECT count(*) FROM process WHERE type = 'POSTMAN' AND instance = :'p1'",
                      instance) == "0":
            node.sql("INSERT INTO process (node_id, type, instance)"
                     " SELECT id, 'POSTMAN', :'p1'::int FROM node WHERE is_local", instance)

    def start(self):
        # -f copies the log to stderr: a file, not a pipe nobody drains.
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([OFCOMD, "-c", self.node.home.config, "-f",
                                      "instance=%d" % self.instance],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        ofctest._cleanups.append(self.kill)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def stop(self):
        self.kill(signal.SIGTERM)
        self.stderr.seek(0)
        err = self.stderr.read().decode(errors="replace")
        self.stderr.close()
        return self.proc.returncode, err

    @property
    def log(self):
        path = os.path.join(self.node.home.log_dir,
                            "%s_postman%02d.log" % (self.node.node, self.instance))
        with open(path) as f:
            return f.read()


def wait_queue_empty(node, timeout=30):
    wait_until(lambda: node.value("SELECT count(*) FROM submission") == "0", timeout,
               what="an empty submission queue")


class PostmanTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        n = cls.node
        cls.alice = add_account(n, "alice")
        cls.bob = add_account(n, "bob")
        cls.carol = add_account(n, "carol")
        cls.full = add_account(n, "full", quota=100)
        cls.noinbox = add_account(n, "noinbox", inbox=False)
        # A list (alice, bob, an alias of carol, an external address) and an alias.
        n.sql("""
            WITH d AS (SELECT id FROM domain WHERE fqdn = 'com'),
                 l AS (INSERT INTO dir_object (domain_id, class, name)
                       SELECT id, 'DL', 'team' FROM d RETURNING id),
                 a AS (INSERT INTO dir_object (domain_id, class, name)
                       SELECT id, 'ALIAS', 'cc' FROM d RETURNING id),
                 aa AS (INSERT INTO alias (object_id, target_object_id)
                        SELECT a.id, :'p1'::bigint FROM a RETURNING object_id)
            INSERT INTO dl_member (dl_id, member_object_id, member_address)
            SELECT l.id, m.obj, m.addr FROM l, aa,
                   (VALUES (:'p2'::bigint, NULL), (:'p3'::bigint, NULL), (NULL, 'ext@far.org'))
                   AS m(obj, addr)
            UNION ALL SELECT l.id, aa.object_id, NULL FROM l, aa
        """, cls.carol, cls.alice, cls.bob)
        # A gateway for far.org and *.route.org, in place of the default
        # SMTP.COM with its catch-all route (so that nowhere.net has none).
        n.sql("""
            DELETE FROM gateway;
            WITH g AS (INSERT INTO gateway (name, type, node_id)
                       SELECT 'SMTP.COM', 'SMTP', id FROM node WHERE is_local RETURNING id)
            INSERT INTO gateway_route (gateway_id, pattern, cost)
            SELECT id, p, 1 FROM g, (VALUES ('far.org'), ('*.route.org')) AS v(p)
        """)
        cls.gateway = int(n.value("SELECT id FROM gateway WHERE name = 'SMTP.COM'"))
        cls.postman = Postman(n).start()

    @classmethod
    def tearDownClass(cls):
        rc, err = cls.postman.stop()
        cls.node.close()
        if rc != 0 or "ERROR" in err or "runtime error" in err:
            raise AssertionError("ofcomd: exit %s\n%s" % (rc, err))

    def billing(self, message_id):
        return sorted(tuple(r) for r in self.node.sql(
            "SELECT recipient, disposition, account_id, disposed_at >= submitted_at"
            " FROM message_billing WHERE message_id = :'p1'::bigint", message_id))

    def test_single_recipient(self):
        n = self.node
        box = inbox(n, self.alice)
        mid = submit(n, "sender@far.org", ["alice@com"])
        wait_queue_empty(n)
        after = inbox(n, self.alice)
        ptrs = [p for p in pointers(n, self.alice) if p[1] == str(mid)]
        self.assertEqual(len(ptrs), 1)
        self.assertEqual(ptrs[0][0], box[1], "uid = the old uidnext")
        self.assertEqual(int(after[1]), int(box[1]) + 1)
        self.assertEqual(int(after[2]), int(box[2]) + 1)
        self.assertEqual(ptrs[0][2], after[2], "modseq = the new highestmodseq")
        self.assertEqual(int(after[3]), int(box[3]) + 1)
        self.assertEqual(n.value("SELECT refcount FROM message WHERE id = :'p1'::bigint", mid), "1")
        self.assertEqual(self.billing(mid), [("alice@com", "DELIVERED", str(self.alice), "t")])

    def test_many_recipients_one_copy(self):
        n = self.node
        before = {a: int(n.value("SELECT bytes FROM account_usage WHERE account_id = :'p1'::bigint",
                                 a)) for a in (self.alice, self.bob, self.carol)}
        raw = message("sender@far.org", "many", subject="many")
        mid = submit(n, "sender@far.org", ["alice@com", "Bob@COM", "carol@com", "alice@com"], raw)
        wait_queue_empty(n)
        size = len(raw.encode())
        self.assertEqual(n.value("SELECT count(*) FROM message WHERE raw = convert_to(:'p1', 'UTF8')",
                                 raw), "1")
        self.assertEqual(n.value("SELECT refcount FROM message WHERE id = :'p1'::bigint", mid), "3")
        for a in before:
            usage = int(n.value("SELECT bytes FROM account_usage WHERE account_id = :'p1'::bigint", a))
            self.assertEqual(usage, before[a] + size, "quota charged to each")
            self.assertEqual(len([p for p in pointers(n, a) if p[1] == str(mid)]), 1)
        self.assertEqual(len(self.billing(mid)), 3)

    def test_list_and_alias(self):
        n = self.node
        mid = submit(n, "sender@far.org", ["team@com", "cc@com"])
        wait_queue_empty(n)
        for a in (self.alice, self.bob, self.carol):
            self.assertEqual(len([p for p in pointers(n, a) if p[1] == str(mid)]), 1)
        out = n.sql("SELECT gateway_id, sender, recipients FROM gateway_out"
                    " WHERE message_id = :'p1'::bigint", mid)
        self.assertEqual(out, [[str(self.gateway), "sender@far.org", "{ext@far.org}"]])
        # ext@far.org gets its one billing row from the gateway when sent.
        self.assertEqual(self.billing(mid), sorted([
            ("alice@com", "DELIVERED", str(self.alice), "t"),
            ("bob@com", "DELIVERED", str(self.bob), "t"),
            ("carol@com", "DELIVERED", str(self.carol), "t")]))

    def test_account_without_inbox(self):
        n = self.node
        mid = submit(n, "sender@far.org", ["noinbox@com"])
        wait_queue_empty(n)
        self.assertEqual(len([p for p in pointers(n, self.noinbox) if p[1] == str(mid)]), 1)
        self.assertEqual(pointers(n, self.noinbox)[0][0], "1")

    def report_for(self, account_id, original_mid):
        """The report in account's INBOX about message original_mid."""
        def find():
            for (mid,) in self.node.sql(
                    "SELECT p.message_id FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
                    " WHERE b.account_id = :'p1'::bigint", account_id):
                raw = self.node.value("SELECT convert_from(raw, 'UTF8') FROM message"
                                      " WHERE id = :'p1'::bigint", mid)
                if "ndr.%s." % original_mid in raw:
                    return raw
            return None
        wait_until(lambda: find() is not None, 20, what="a non-delivery report")
        return email.message_from_string(find(), policy=email.policy.compat32)

    def test_unknown_user_report(self):
        n = self.node
        mid = submit(n, "alice@com", ["nosuchuser@com", "bob@com"],
                     message("alice@com", "nosuchuser@com, bob@com", subject="lost one"))
        wait_queue_empty(n)
        self.assertEqual(len([p for p in pointers(n, self.bob) if p[1] == str(mid)]), 1)
        rep = self.report_for(self.alice, mid)
        self.assertEqual(rep.get_content_type(), "multipart/report")
        self.assertEqual(rep.get_param("report-type"), "delivery-status")
        self.assertIn("MAILER-DAEMON@com", rep["From"])
        self.assertEqual(rep["Auto-Submitted"], "auto-replied")
        parts = rep.get_payload()
        self.assertEqual([p.get_content_type() for p in parts],
                         ["text/plain", "message/delivery-status", "text/rfc822-headers"])
        self.assertIn("nosuchuser@com", parts[0].get_payload())
        # message/delivery-status: per-message fields, then one block per recipient.
        blocks = parts[1].get_payload()
        self.assertEqual(blocks[0]["Reporting-MTA"], "dns; com")
        self.assertEqual(len(blocks), 2)
        self.assertEqual(blocks[1]["Final-Recipient"], "rfc822; nosuchuser@com")
        self.assertEqual(blocks[1]["Action"], "failed")
        self.assertEqual(blocks[1]["Status"], "5.1.1")
        self.assertTrue(blocks[1]["Diagnostic-Code"].startswith("smtp; 550 5.1.1"))
        self.assertIn("Subject: lost one", parts[2].get_payload())
        # The report went out with the null reverse-path: billing of the report has sender ''.
        self.assertEqual(self.billing(mid), sorted([
            ("bob@com", "DELIVERED", str(self.bob), "t"),
            ("nosuchuser@com", "BOUNCED", None, "t")]))
        self.assertEqual(n.value("SELECT count(*) FROM message_billing b"
                                 " WHERE sender = '' AND recipient = 'alice@com'"
                                 " AND disposition = 'DELIVERED'"
                                 " AND EXISTS (SELECT 1 FROM message m WHERE m.id = b.message_id"
                                 " AND position(convert_to(:'p1', 'UTF8') IN m.raw) > 0)",
                                 "ndr.%d." % mid), "1")

    def test_over_quota(self):
        n = self.node
        raw = message("alice@com", "full@com, carol@com", subject="too big", body="x" * 200 + "\r\n")
        mid = submit(n, "alice@com", ["full@com", "carol@com"], raw)
        wait_queue_empty(n)
        self.assertEqual(len([p for p in pointers(n, self.carol) if p[1] == str(mid)]), 1)
        self.assertEqual([p for p in pointers(n, self.full) if p[1] == str(mid)], [])
        rep = self.report_for(self.alice, mid)
        blocks = rep.get_payload()[1].get_payload()
        self.assertEqual(blocks[1]["Final-Recipient"], "rfc822; full@com")
        self.assertEqual(blocks[1]["Status"], "5.2.2")
        self.assertIn("over quota", blocks[1]["Diagnostic-Code"])

    def test_null_sender_goes_dead(self):
        n = self.node
        before = n.value("SELECT count(*) FROM message_billing WHERE recipient = 'alice@com'")
        mid = submit(n, "", ["ghost@com"])
        wait_queue_empty(n)
        dead = n.sql("SELECT from_queue, sender, recipients, reason FROM dead"
                     " WHERE message_id = :'p1'::bigint", mid)
        self.assertEqual(len(dead), 1)
        self.assertEqual(dead[0][:3], ["submission", "", "{ghost@com}"])
        self.assertIn("null sender", dead[0][3])
        self.assertEqual(self.billing(mid), [("ghost@com", "DEAD", None, "t")])
        # No report was made: no new message for anyone from MAILER-DAEMON about it.
        time.sleep(0.3)
        self.assertEqual(n.value("SELECT count(*) FROM message"
                                 " WHERE position(convert_to(:'p1', 'UTF8') IN raw) > 0",
                                 "ndr.%d." % mid), "0")
        self.assertEqual(n.value("SELECT count(*) FROM message_billing WHERE recipient = 'alice@com'"),
                         before)

    def test_report_never_bounced(self):
        n = self.node
        raw = message("alice@com", "ghost2@com", subject="a report",
                      extra="Content-Type: multipart/report; report-type=delivery-status;\r\n"
                            " boundary=x\r\n", body="--x--\r\n")
        mid = submit(n, "alice@com", ["ghost2@com"], raw)
        wait_queue_empty(n)
        dead = n.sql("SELECT reason FROM dead WHERE message_id = :'p1'::bigint", mid)
        self.assertEqual(len(dead), 1)
        self.assertIn("report", dead[0][0])

    def test_failing_entry_retried_others_delivered(self):
        n = self.node
        # Sabotage: pointers to one subject fail with an error that is not a conflict.
        n.sql("""
            CREATE FUNCTION test_sabotage() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF EXISTS (SELECT 1 FROM message m WHERE m.id = NEW.message_id
                            AND position('Subject: poison' IN convert_from(m.raw, 'UTF8')) > 0) THEN
                    RAISE EXCEPTION 'sabotaged';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_sabotage BEFORE INSERT ON mailbox_pointer
                FOR EACH ROW EXECUTE FUNCTION test_sabotage();
        """)
        try:
            mids = [submit(n, "sender@far.org", ["bob@com"],
                           message("sender@far.org", "bob@com", subject=s))
                    for s in ("fine 1", "poison", "fine 2")]
            wait_until(lambda: n.value("SELECT count(*) FROM submission WHERE attempts = 0") == "0",
                       20, what="the poison entry to be set aside")
            self.assertEqual(n.sql("SELECT message_id, attempts, last_error LIKE '%sabotaged%',"
                                   " not_before > now() FROM submission"),
                             [[str(mids[1]), "1", "t", "t"]])
            for mid in (mids[0], mids[2]):
                self.assertEqual(len([p for p in pointers(n, self.bob) if p[1] == str(mid)]), 1)
        finally:
            n.sql("DROP TRIGGER test_sabotage ON mailbox_pointer; DROP FUNCTION test_sabotage();"
                  " DELETE FROM submission WHERE attempts > 0")
        self.assertIn("will retry", self.postman.log)

    def test_external_routes(self):
        n = self.node
        mid = submit(n, "alice@com", ["a@far.org", "b@x.route.org", "c@nowhere.net"])
        wait_queue_empty(n)
        out = n.sql("SELECT gateway_id, recipients FROM gateway_out WHERE message_id = :'p1'::bigint",
                    mid)
        self.assertEqual(out, [[str(self.gateway), "{a@far.org,b@x.route.org}"]])
        rep = self.report_for(self.alice, mid)
        blocks = rep.get_payload()[1].get_payload()
        self.assertEqual(len(blocks), 2)
        self.assertEqual(blocks[1]["Final-Recipient"], "rfc822; c@nowhere.net")
        self.assertIn("no route to nowhere.net", blocks[1]["Diagnostic-Code"])


class PostmanConcurrencyTest(TestCase):
    """Several instances, and kill -9: every message exactly once."""

    USERS = 20

    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        n = cls.node
        n.sql("""
            WITH o AS (INSERT INTO dir_object (domain_id, class, name)
                       SELECT d.id, 'PERSON', 'u' || g FROM domain d, generate_series(1, %d) g
                        WHERE d.fqdn = 'com' RETURNING id),
                 a AS (INSERT INTO account (object_id, object_class, home_node_id)
                       SELECT o.id, 'PERSON', n.id FROM o, node n WHERE n.is_local
                       RETURNING object_id)
            INSERT INTO mailbox (account_id, name) SELECT object_id, 'INBOX' FROM a
        """ % cls.USERS)

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def flood(self, count, tag):
        """count messages, each to 1..3 pseudo-random users; returns the expected
        (message_id, account) pairs as a set of strings."""
        n = self.node
        n.sql("""
            WITH m AS (INSERT INTO message (size, raw)
                       SELECT octet_length(b), b FROM (
                         SELECT convert_to('Subject: %s ' || g || E'\\r\\n\\r\\n' || repeat('x', 200),
                                           'UTF8') AS b, g FROM generate_series(1, %d) g) s
                       RETURNING id)
            INSERT INTO submission (message_id, sender, recipients)
            SELECT id, 'x@far.org',
                   ARRAY(SELECT DISTINCT 'u' || (1 + (id * k * 7919) %% %d) || '@com'
                           FROM generate_series(1, 1 + id %% 3) k)
              FROM m
        """ % (tag, count, self.USERS))

    def check_exactly_once(self, tag):
        n = self.node
        # Every (message, recipient) of the tag has exactly one pointer.
        bad = n.sql("""
            WITH want AS (
              SELECT m.id, r AS rcpt FROM message m,
                     LATERAL (SELECT DISTINCT 'u' || (1 + (m.id * k * 7919) %% %d) || '@com' AS r
                                FROM generate_series(1, 1 + m.id %% 3) k) x
               WHERE m.raw >= convert_to('Subject: %s ', 'UTF8')
                 AND m.raw < convert_to('Subject: %s!', 'UTF8')),
            got AS (
              SELECT p.message_id AS id, o.name || '@com' AS rcpt, count(*) AS c
                FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id
                JOIN dir_object o ON o.id = b.account_id GROUP BY 1, 2)
            SELECT w.id, w.rcpt, g.c FROM want w FULL JOIN got g USING (id, rcpt)
             WHERE (w.id IS NULL AND g.id IN (SELECT id FROM want)) OR g.c IS DISTINCT FROM 1
             LIMIT 5
        """ % (self.USERS, tag, tag))
        self.assertEqual(bad, [], "every message exactly once")
        # UIDs unique and dense per mailbox, uidnext just past them, totals right.
        bad = n.sql("""
            SELECT b.id FROM mailbox b LEFT JOIN mailbox_pointer p ON p.mailbox_id = b.id
             GROUP BY b.id, b.uidnext, b.messages, b.highestmodseq
            HAVING count(p.uid) <> count(DISTINCT p.uid) OR coalesce(max(p.uid), 0) <> count(p.uid)
                OR b.uidnext <> count(p.uid) + 1 OR b.messages <> count(p.uid)
                OR count(DISTINCT p.modseq) <> count(p.uid)
                OR b.highestmodseq <> coalesce(max(p.modseq), 1)
        """)
        self.assertEqual(bad, [], "dense, unique UIDs; unique modseqs")
        bad = n.sql("SELECT id FROM message m WHERE refcount <>"
                    " (SELECT count(*) FROM mailbox_pointer p WHERE p.message_id = m.id)")
        self.assertEqual(bad, [])
        # One billing row per delivered pointer.
        self.assertEqual(n.value("SELECT count(*) FROM message_billing"),
                         n.value("SELECT count(*) FROM mailbox_pointer"))

    def test_1_two_instances(self):
        n = self.node
        a = Postman(n, 1).start()
        b = Postman(n, 2).start()
        # Both running and listening before the mail arrives, so both take part.
        wait_until(lambda: n.value("SELECT count(*) FROM process_status s JOIN process p"
                                   " ON p.id = s.process_id WHERE p.type = 'POSTMAN'"
                                   " AND s.state = 'RUNNING' AND s.last_wakeup IS NOT NULL") == "2",
                   30, what="two running Postmen")
        self.flood(500, "par")
        wait_queue_empty(n, 60)
        for p in (a, b):
            rc, err = p.stop()
            self.assertEqual(rc, 0, err)
            self.assertNotIn("ERROR", err)
            self.assertNotIn("runtime error", err)
        self.check_exactly_once("par")
        # Both took part (SKIP LOCKED shares the queue).
        self.assertEqual(int(n.value("SELECT count(DISTINCT process_id) FROM message_billing")), 2)

    def test_2_kill_9(self):
        n = self.node
        self.flood(2000, "kill")
        total = int(n.value("SELECT count(*) FROM submission"))
        for round_ in range(3):
            p = Postman(n, 1).start()
            left = total * (9 - 2 * round_) / 10
            wait_until(lambda: int(n.value("SELECT count(*) FROM submission")) < left,
                       60, interval=0.01, what="some progress")
            p.kill(signal.SIGKILL)
            p.stderr.close()
        self.assertGreater(int(n.value("SELECT count(*) FROM submission")), 0,
                           "killed while work was left")
        p = Postman(n, 1).start()
        wait_queue_empty(n, 60)
        rc, err = p.stop()
        self.assertEqual(rc, 0, err)
        self.assertNotIn("ERROR", err)
        self.assertNotIn("runtime error", err)
        self.check_exactly_once("kill")


if __name__ == "__main__":
    unittest.main()
