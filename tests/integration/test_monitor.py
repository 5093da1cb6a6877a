"""The Monitor (ofcmon class=5): a healthy node gives no findings and no
report; each problem the planning guide names, induced on purpose, shows
as a finding in `run monitor`, in `disp monitor`, and in a report the
Postman delivers to ORAPOST's INBOX (read here with SQL).

One node for the module, its Guardian running the Postman and the
Monitor. Each test induces one problem, asks for the tests concerned
(`run monitor test=...;`), checks, and repairs what it broke, so that the
next test starts from a healthy node again.
"""
import email
import email.policy
import re
import unittest

from ofctest import Guardian, Node, TestCase, register_worker_type, wait_until

REPORT_SQL = """
    SELECT m.id, convert_from(m.raw, 'UTF8')
      FROM mailbox_pointer p
      JOIN mailbox b ON b.id = p.mailbox_id
      JOIN dir_object o ON o.id = b.account_id
      JOIN message m ON m.id = p.message_id
      JOIN message_header h ON h.message_id = m.id AND h.name = 'x-ofcmail-monitor-run'
     WHERE o.name = 'ORAPOST' AND b.name = 'INBOX' AND h.value = :'p1'
"""


class MonitorTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = n = Node()
        # A process type whose program does not exist: the Guardian marks
        # an instance of it FAILED.
        register_worker_type(n, "BROKEN", executable="ofcnosuchprogram")
        cls.guardian = Guardian(n)
        r = cls.guardian.start()
        if r.returncode != 0:
            raise AssertionError("ofcguard start: %s%s" % (r.stdout, r.stderr))
        r = n.oomgr("startup process postman wait=30; startup process monitor wait=30;")
        if r.returncode != 0:
            raise AssertionError("startup: %s%s" % (r.stdout, r.stderr))

    @classmethod
    def tearDownClass(cls):
        cls.guardian._cleanup()
        cls.node.close()

    # ---- helpers -------------------------------------------------------

    def run_monitor(self, tests=None, expect_ok=True):
        """`run monitor [test=...];`: returns (run id, stdout)."""
        stmt = "run monitor%s wait=60;" % ("" if tests is None else " test=" + tests)
        r = self.node.oomgr(stmt)
        if not expect_ok:
            return None, r
        self.assertOk(r, stmt)
        m = re.search(r"^Monitor run (\d+):", r.stdout, re.M)
        self.assertIsNotNone(m, r.stdout)
        return int(m.group(1)), r.stdout

    def findings(self, run_id):
        return self.node.sql("SELECT severity, test, what, location, action FROM monitor_finding"
                             " WHERE run_id = :'p1' ORDER BY seq", run_id)

    def report(self, run_id):
        """The report of run_id once the Postman has delivered it to ORAPOST."""
        rows = wait_until(lambda: self.node.sql(REPORT_SQL, run_id), 30,
                          what="the report of run %d in ORAPOST's INBOX" % run_id)
        self.assertEqual(len(rows), 1)
        mid = self.node.value("SELECT report_message_id FROM monitor_run WHERE id = :'p1'", run_id)
        self.assertEqual(rows[0][0], mid)
        return email.message_from_string(rows[0][1], policy=email.policy.default)

    def check_problem(self, tests, severity, needle):
        """Runs tests; the run has one finding of severity whose text holds
        needle, shown by run monitor, disp monitor and the mailed report."""
        run_id, out = self.run_monitor(tests)
        found = self.findings(run_id)
        self.assertEqual([f[0] for f in found], [severity], found)
        self.assertIn(needle, found[0][2])
        self.assertTrue(found[0][3] and found[0][4], found)  # where, action
        self.assertIn(needle, out)
        r = self.node.oomgr("disp monitor;")
        self.assertOk(r, "disp monitor")
        self.assertIn("Monitor run %d:" % run_id, r.stdout)
        self.assertIn(needle, r.stdout)
        msg = self.report(run_id)
        self.assertEqual(msg["Subject"], "ofcmail Monitor report: 1 finding on ESNODE")
        body = msg.get_content()
        self.assertIn(needle, body)
        self.assertIn("1. %s (test %s)" % (severity, found[0][1]), body)
        return run_id, found[0], msg

    # ---- the tests ------------------------------------------------------

    def test_a_healthy_node(self):
        n = self.node
        # The first scheduled run happens at start-up.
        wait_until(lambda: n.value("SELECT count(*) FROM monitor_run"
                                   " WHERE trigger = 'SCHEDULED'") == "1", 30,
                   what="the Monitor's first run")
        self.assertEqual(n.sql("SELECT errors, warnings, infos, report_message_id"
                               "  FROM monitor_run WHERE trigger = 'SCHEDULED'"),
                         [["0", "0", "0", None]])
        run_id, out = self.run_monitor()
        self.assertIn("No findings.", out)
        self.assertIn("no report mailed", out)
        self.assertEqual(self.findings(run_id), [])
        tests = n.value("SELECT array_to_string(tests, ',') FROM monitor_run WHERE id = :'p1'",
                        run_id)
        self.assertEqual(tests, "queues,dead,delivery,space,processes,accounts,domains,"
                                "gateways,pointers,refcounts,inboxes,lists")
        self.assertEqual(n.value("SELECT count(*) FROM message_header"
                                 " WHERE name = 'x-ofcmail-monitor-run'"), "0")
        r = n.oomgr("disp monitor;")
        self.assertOk(r)
        self.assertIn("Monitor run %d: requested by ADMIN@com" % run_id, r.stdout)
        self.assertIn("No findings.", r.stdout)

    def test_failed_process(self):
        n = self.node
        n.sql("INSERT INTO process (node_id, type, instance, desired_state)"
              " SELECT id, 'BROKEN', 1, 'RUNNING' FROM node WHERE is_local")
        try:
            wait_until(lambda: n.value("SELECT s.state FROM process_status s JOIN process p"
                                       " ON p.id = s.process_id WHERE p.type = 'BROKEN'")
                       == "FAILED", 30, what="BROKEN to be FAILED")
            run_id, f, msg = self.check_problem("processes", "ERROR",
                                                "BROKEN 1 is wanted running but FAILED")
            self.assertEqual(f[3], "process BROKEN 1")
            self.assertIn("startup process broken instance=1;", f[4])
            self.assertIn("MAILER-DAEMON@com", msg["From"])
            self.assertEqual(msg["To"], "ORAPOST@com")
            self.assertEqual(msg.get_content_type(), "text/plain")
            self.assertEqual(msg.get_content_charset(), "utf-8")
        finally:
            n.sql("DELETE FROM process WHERE type = 'BROKEN'")

    def test_dead_queue(self):
        n = self.node
        n.sql("INSERT INTO dead (raw, sender, recipients, from_queue, reason)"
              " VALUES ('Subject: x\r\n\r\nx\r\n', 'a@example.org', '{b@example.org}',"
              "         'gateway_in', 'test: no way out')")
        try:
            run_id, f, _ = self.check_problem("dead", "WARNING",
                                              "1 message is in the dead queue")
            self.assertIn("test: no way out (1)", f[2])
            self.assertIn("requeue dead", f[4])
        finally:
            n.sql("DELETE FROM dead")

    def test_old_submission_entry(self):
        n = self.node
        mid = n.value("INSERT INTO message (size, raw) VALUES (5, 'hello') RETURNING id")
        # Deferred for a day: the running Postman leaves it alone.
        n.sql("INSERT INTO submission (message_id, sender, recipients, submitted_at, not_before,"
              " attempts, last_error) VALUES (:'p1', 'a@com', '{ADMIN@com}',"
              " now() - interval '2 hours', now() + interval '1 day', 3, 'test')", mid)
        try:
            _, f, _ = self.check_problem("queues", "WARNING", "queue submission holds 1 entry")
            self.assertIn("1 wait for a retry", f[2])
            self.assertEqual(f[3], "queue submission")
        finally:
            n.sql("DELETE FROM submission; DELETE FROM collector;"
                  " DELETE FROM message WHERE id = :'p1'", mid)

    def test_stuck_queue(self):
        # Due for two hours, and no inbound gateway runs to take it.
        n = self.node
        n.sql("INSERT INTO gateway_in (source, sender, recipients, raw, received_at, not_before)"
              " VALUES ('SMTP', 'a@example.org', '{ADMIN@com}', 'x',"
              "         now() - interval '2 hours', now() - interval '2 hours')")
        try:
            _, f, _ = self.check_problem("flow", "ERROR", "nobody takes them")
            self.assertIn("queue gateway_in holds 1 entry", f[2])
            self.assertIn("SMTP_IN", f[4])
        finally:
            n.sql("DELETE FROM gateway_in")

    def test_delivery_time(self):
        n = self.node
        n.sql("INSERT INTO message_billing (message_id, sender, recipient, size, disposition,"
              " submitted_at, disposed_at)"
              " SELECT 1, 'a@com', 'ADMIN@com', 10, 'DELIVERED', now() - interval '1 hour',"
              "        now() FROM generate_series(1, 200)")
        try:
            self.check_problem("delivery", "WARNING", "more than DeliveryTimeWarn (300000 ms)")
        finally:
            n.sql("DELETE FROM message_billing WHERE submitted_at < now() - interval '30 minutes'")

    def test_space_threshold(self):
        n = self.node
        self.assertOk(n.oomgr("set param DatabaseSizeWarn=1 process=monitor;"
                              " refresh process monitor;"))
        try:
            _, f, _ = self.check_problem("space", "WARNING", "more than DatabaseSizeWarn (1 MB)")
            self.assertEqual(f[3], "database ofcmail")
        finally:
            self.assertOk(n.oomgr("set param DatabaseSizeWarn=51200 process=monitor;"
                                  " refresh process monitor;"))

    def test_pointer_to_missing_message_and_refcount(self):
        n = self.node
        admin_inbox = n.value("SELECT b.id FROM mailbox b JOIN dir_object o ON o.id = b.account_id"
                              " WHERE o.name = 'ADMIN' AND b.name = 'INBOX'")
        mid = n.value("INSERT INTO message (size, raw, refcount) VALUES (5, 'hello', 2)"
                      " RETURNING id")
        # The foreign key would refuse the pointer: bypass it as a bad restore would.
        n.sql("SET session_replication_role = replica;"
              " INSERT INTO mailbox_pointer (mailbox_id, uid, message_id, modseq)"
              " VALUES (:'p1', 4000000000, 999999999, 1)", admin_inbox)
        try:
            run_id, out = self.run_monitor("references")
            found = self.findings(run_id)
            self.assertEqual([(f[0], f[1]) for f in found],
                             [("ERROR", "pointers"), ("ERROR", "refcounts")], found)
            self.assertIn("folder INBOX of ADMIN@com holds 1 pointer to missing messages"
                          " (UID 4000000000)", found[0][2])
            self.assertIn("message %s counts 2, has 0" % mid, found[1][2])
            self.assertIn("UPDATE ofc.message m SET refcount", found[1][4])
            body = self.report(run_id).get_content()
            self.assertIn("counts 2, has 0", body)
            self.assertIn("pointer to missing messages", body)
            r = n.oomgr("disp monitor format=csv;")
            self.assertOk(r)
            self.assertTrue(r.stdout.startswith("Severity,Test,What,Where,Action\n"), r.stdout)
            self.assertEqual(len(r.stdout.strip().splitlines()), 3, r.stdout)
        finally:
            n.sql("SET session_replication_role = replica;"
                  " DELETE FROM mailbox_pointer WHERE message_id = 999999999;"
                  " DELETE FROM message WHERE id = :'p1'", mid)

    def test_account_without_inbox(self):
        n = self.node
        oid = n.value("INSERT INTO dir_object (domain_id, class, name)"
                      " SELECT id, 'PERSON', 'noinbox' FROM domain WHERE fqdn = 'com'"
                      " RETURNING id")
        n.sql("INSERT INTO account (object_id, object_class, home_node_id)"
              " SELECT :'p1'::bigint, 'PERSON', id FROM node WHERE is_local", oid)
        try:
            _, f, _ = self.check_problem("inboxes", "WARNING",
                                         "1 account of this node has no INBOX: noinbox@com")
        finally:
            n.sql("DELETE FROM dir_object WHERE id = :'p1'", oid)

    def test_dangling_list_member(self):
        n = self.node
        dl = n.value("INSERT INTO dir_object (domain_id, class, name)"
                     " SELECT id, 'DL', 'team' FROM domain WHERE fqdn = 'com' RETURNING id")
        n.sql("INSERT INTO dl_member (dl_id, member_address) VALUES"
              " (:'p1', 'ghost@com'), (:'p1', 'ADMIN.ofcmail@com'), (:'p1', 'x@example.org')", dl)
        try:
            _, f, _ = self.check_problem("lists", "WARNING",
                                         "list team@com has 1 member address that names nothing"
                                         " in this directory: ghost@com")
            self.assertIn("remove member ADDRESS dl=team domain=com;", f[4])
        finally:
            n.sql("DELETE FROM dir_object WHERE id = :'p1'", dl)

    def test_growing_queue(self):
        n = self.node
        self.assertOk(n.oomgr("set param QueueGrowthRuns=3 QueueGrowthMin=2 process=monitor;"
                              " refresh process monitor;"))
        try:
            for i in range(3):
                n.sql("INSERT INTO gateway_in (source, sender, recipients, raw, not_before)"
                      " VALUES ('SMTP', 'a@example.org', '{ADMIN@com}', 'x',"
                      "         now() + interval '1 day')")
                run_id, out = self.run_monitor("queues")
            found = self.findings(run_id)
            self.assertEqual(len(found), 1, found)
            self.assertIn("queue gateway_in has grown at each of the last 3 runs: 1 -> 2 -> 3",
                          found[0][2])
        finally:
            n.sql("DELETE FROM gateway_in")
            self.assertOk(n.oomgr("set param QueueGrowthRuns=3 QueueGrowthMin=100"
                                  " process=monitor; refresh process monitor;"))

    def test_account_home_without_route(self):
        n = self.node
        n.sql("INSERT INTO node (name) VALUES ('FARNODE')")
        oid = n.value("INSERT INTO dir_object (domain_id, class, name)"
                      " SELECT id, 'PERSON', 'faraway' FROM domain WHERE fqdn = 'com'"
                      " RETURNING id")
        n.sql("INSERT INTO account (object_id, object_class, home_node_id)"
              " SELECT :'p1'::bigint, 'PERSON', id FROM node WHERE name = 'FARNODE'", oid)
        try:
            _, f, _ = self.check_problem("accounts", "ERROR",
                                         "1 account has its home on node FARNODE, and ESNODE has"
                                         " no route to it")
            self.assertIn("faraway@com", f[2])
            self.assertEqual(f[3], "route ESNODE -> FARNODE")
            # With a route, all is well again.
            n.sql("INSERT INTO route (source_node_id, destination_node_id, next_node_id)"
                  " SELECT l.id, f.id, f.id FROM node l, node f"
                  " WHERE l.is_local AND f.name = 'FARNODE'")
            run_id, _ = self.run_monitor("accounts")
            self.assertEqual(self.findings(run_id), [])
        finally:
            n.sql("DELETE FROM dir_object WHERE id = :'p1'; DELETE FROM node WHERE name = 'FARNODE'",
                  oid)

    def test_domain_without_configuration_node(self):
        n = self.node
        # NOT NULL and a foreign key guard it: bypass them as a bad load would.
        n.sql("SET session_replication_role = replica;"
              " INSERT INTO domain (fqdn, confignode_id) VALUES ('lost.example', 424242)")
        try:
            _, f, _ = self.check_problem("domains", "ERROR",
                                         "domain LOST.EXAMPLE has configuration node id 424242,"
                                         " which is no known node")
        finally:
            n.sql("DELETE FROM domain WHERE fqdn = 'lost.example'")

    def test_gateway_without_route(self):
        n = self.node
        n.sql("INSERT INTO gateway (name, type, node_id) SELECT 'SMTP.NOWHERE', 'SMTP', id"
              " FROM node WHERE is_local")
        try:
            _, f, _ = self.check_problem("gateways", "WARNING",
                                         "gateway SMTP.NOWHERE has no route")
        finally:
            n.sql("DELETE FROM gateway WHERE name = 'SMTP.NOWHERE'")

    def test_report_account_and_report_empty(self):
        n = self.node
        # ReportEmpty: a report also when nothing was found.
        self.assertOk(n.oomgr("set param ReportEmpty=1 process=monitor; refresh process monitor;"))
        try:
            run_id, out = self.run_monitor("dead")
            self.assertIn("No findings.", out)
            self.assertIn("report: message", out)
            msg = self.report(run_id)
            self.assertEqual(msg["Subject"], "ofcmail Monitor report: 0 findings on ESNODE")
            self.assertIn("No test found anything to report.", msg.get_content())
        finally:
            self.assertOk(n.oomgr("set param ReportEmpty=0 process=monitor;"
                                  " refresh process monitor;"))
        # A report account that does not exist is a finding of its own; nothing is mailed.
        self.assertOk(n.oomgr("set param ReportAccount=nobody process=monitor;"
                              " refresh process monitor;"))
        try:
            run_id, out = self.run_monitor("dead")
            found = self.findings(run_id)
            self.assertEqual([(f[0], f[1]) for f in found], [("ERROR", "monitor")], found)
            self.assertIn("ReportAccount nobody names no account", found[0][2])
            self.assertIn("no report mailed", out)
        finally:
            self.assertOk(n.oomgr("set param ReportAccount=ORAPOST process=monitor;"
                                  " refresh process monitor;"))
        # ORAPOST@com names it as well.
        self.assertOk(n.oomgr("set param ReportAccount=orapost@COM ReportEmpty=1"
                              " process=monitor; refresh process monitor;"))
        try:
            run_id, _ = self.run_monitor("dead")
            self.report(run_id)
        finally:
            self.assertOk(n.oomgr("set param ReportAccount=ORAPOST ReportEmpty=0"
                                  " process=monitor; refresh process monitor;"))

    def test_run_monitor_selects_and_checks_tests(self):
        n = self.node
        run_id, _ = self.run_monitor('"dead, inboxes"')
        self.assertEqual(n.value("SELECT array_to_string(tests, ',') FROM monitor_run"
                                 " WHERE id = :'p1'", run_id), "dead,inboxes")
        run_id, _ = self.run_monitor("config")
        self.assertEqual(n.value("SELECT array_to_string(tests, ',') FROM monitor_run"
                                 " WHERE id = :'p1'", run_id),
                         "processes,accounts,domains,gateways")
        _, r = self.run_monitor("dead,nosuchtest", expect_ok=False)
        self.assertOneLineError(r, "unknown test in 'dead,nosuchtest'", "refcounts")
        # The parameter is checked when it is written.
        r = n.oomgr("set param Tests=dead,bogus process=monitor;")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("invalid value dead,bogus for parameter Tests", r.stderr)
        r = n.oomgr("disp monitor run=%d;" % run_id)
        self.assertOk(r)
        self.assertIn("tests: processes, accounts, domains, gateways.", r.stdout)
        self.assertOneLineError(n.oomgr("disp monitor run=999999;"), "no Monitor run 999999")

    def test_z_no_monitor_running(self):
        n = self.node
        self.assertOk(n.oomgr("shutdown process monitor wait=30;"))
        try:
            _, r = self.run_monitor(expect_ok=False)
            self.assertOneLineError(r, "no Monitor is running on ESNODE",
                                    "startup process monitor;")
            self.assertEqual(n.value("SELECT count(*) FROM monitor_request WHERE done_at IS NULL"),
                             "0")
        finally:
            self.assertOk(n.oomgr("startup process monitor wait=30;"))


if __name__ == "__main__":
    unittest.main()
