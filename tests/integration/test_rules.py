"""Auto-messages and server-side rules of the Postman (schema 011_rules.sql).

Rules, auto-replies and auto-forwards are set with oomgr; messages go on
the submission queue with SQL (test_postman's helpers) and ofcomd runs in
the foreground. Each test waits for an empty queue (forwards and replies
are submissions too) and checks pointers, flags, billing and the replies
that reached the senders' INBOXes.
"""
import email
import email.policy

from ofctest import Node, TestCase
from test_postman import Postman, add_account, message, submit, wait_queue_empty


def inbox_messages(node, account_id, folder="INBOX"):
    """(flags, keywords, parsed message) of each pointer in the folder, in UID order."""
    rows = node.sql("SELECT p.flags, array_to_string(p.keywords, ' '),"
                    " convert_from(m.raw, 'UTF8') FROM mailbox_pointer p"
                    " JOIN mailbox b ON b.id = p.mailbox_id JOIN message m ON m.id = p.message_id"
                    " WHERE b.account_id = :'p1'::bigint AND b.name = :'p2' ORDER BY p.uid",
                    account_id, folder)
    return [(int(f), k, email.message_from_string(raw, policy=email.policy.default))
            for f, k, raw in rows]


class RulesTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = n = Node()
        cls.acct = {}
        for name in ("alice", "bob", "carol", "dave", "erin", "frank", "loopa", "loopb",
                     "s1", "s2", "s3", "s4", "s5", "s6"):
            cls.acct[name] = add_account(n, name)
        n.sql("INSERT INTO mailbox (account_id, name) VALUES (:'p1'::bigint, 'Work')",
              cls.acct["alice"])
        r = n.oomgr("""
insert rule person=alice from=boss action=fileinto folder=Work stop=yes;
insert rule person=alice subject=urgent action=flag flag="\\\\Flagged";
insert rule person=alice subject=urgent action=flag flag=Important;
insert rule person=alice subject=spam action=discard;
insert rule person=alice subject=fwd action=forward address=bob@com;
insert template thanks subject="Got it" body="Thanks, I will read it.";
insert rule person=alice subject=ack action=reply template=thanks;
insert rule person=alice position=1 header="X-Tag: *drop*" action=discard stop=yes;
set autoreply person=carol on subject="Away" body="I am away until Monday." days=7;
set autoforward person=dave address=erin@com keepcopy=no;
set autoforward person=frank address=erin@com;
set autoforward person=loopa address=loopb@com keepcopy=no;
set autoforward person=loopb address=loopa@com keepcopy=no;
disp rule person=alice;
""")
        if r.returncode != 0:
            raise AssertionError("oomgr: %s%s" % (r.stdout, r.stderr))
        cls.disp = r.stdout
        cls.postman = Postman(n).start()

    @classmethod
    def tearDownClass(cls):
        rc, err = cls.postman.stop()
        cls.node.close()
        if rc != 0 or "ERROR" in err or "runtime error" in err:
            raise AssertionError("ofcomd: exit %s\n%s" % (rc, err))

    def send(self, sender, rcpt, subject, extra="", from_hdr=None):
        raw = message(from_hdr or sender, rcpt, subject=subject, extra=extra)
        mid = submit(self.node, sender, [rcpt], raw)
        wait_queue_empty(self.node)
        return mid

    def subjects(self, name, folder="INBOX"):
        return [m["Subject"] for _, _, m in inbox_messages(self.node, self.acct[name], folder)]

    def test_disp_rule(self):
        self.assertIn("fileinto", self.disp)
        self.assertIn("header=X-Tag: *drop*", self.disp)
        lines = [l for l in self.disp.splitlines() if "discard" in l]
        self.assertTrue(lines[0].split()[0] == "1", self.disp)  # inserted at position 1

    def test_fileinto(self):
        self.send("boss@com", "alice@com", "report urgent")
        self.assertIn("report urgent", self.subjects("alice", "Work"))
        # stop=yes: the flag rules after it did not run.
        flags = [f for f, _, m in inbox_messages(self.node, self.acct["alice"], "Work")
                 if m["Subject"] == "report urgent"]
        self.assertEqual(flags, [0])

    def test_flag(self):
        self.send("x@com", "alice@com", "urgent thing")
        got = [(f, k) for f, k, m in inbox_messages(self.node, self.acct["alice"])
               if m["Subject"] == "urgent thing"]
        self.assertEqual(got, [(4, "Important")])

    def test_discard(self):
        mid = self.send("x@com", "alice@com", "spam offer")
        self.assertNotIn("spam offer", self.subjects("alice"))
        self.assertEqual(self.node.sql(
            "SELECT disposition, reason FROM message_billing WHERE message_id = :'p1'::bigint",
            mid), [["DELIVERED", "discarded by rule"]])
        self.send("x@com", "alice@com", "header test", extra="X-Tag: please drop me\r\n")
        self.assertNotIn("header test", self.subjects("alice"))

    def test_forward_rule(self):
        self.send("x@com", "alice@com", "fwd this")
        self.assertIn("fwd this", self.subjects("alice"))
        fw = [m for _, _, m in inbox_messages(self.node, self.acct["bob"])
              if m["Subject"] == "fwd this"]
        self.assertEqual(len(fw), 1)
        self.assertEqual(fw[0]["X-Ofcmail-Loop"], "<alice@com>")
        # The envelope sender is kept.
        self.assertEqual(self.node.value(
            "SELECT sender FROM message_billing b JOIN message m ON m.id = b.message_id"
            " WHERE b.recipient = 'bob@com' AND convert_from(m.raw, 'UTF8') LIKE '%fwd this%'"),
            "x@com")

    def test_reply_template(self):
        self.send("s5@com", "alice@com", "ack please")
        replies = [m for _, _, m in inbox_messages(self.node, self.acct["s5"])]
        self.assertEqual(len(replies), 1)
        r = replies[0]
        self.assertEqual(r["Subject"], "Got it")
        self.assertEqual(r["Auto-Submitted"], "auto-replied")
        self.assertEqual(r["In-Reply-To"], "<ack.please@test>")
        self.assertIn("Thanks, I will read it.", r.get_content())

    def test_autoreply_once_per_sender(self):
        self.send("s1@com", "carol@com", "first")
        self.send("s1@com", "carol@com", "second")
        replies = [m for _, _, m in inbox_messages(self.node, self.acct["s1"])]
        self.assertEqual(len(replies), 1)
        r = replies[0]
        self.assertEqual(r["Subject"], "Away")
        self.assertEqual(r["Auto-Submitted"], "auto-replied")
        self.assertEqual(r["In-Reply-To"], "<first@test>")
        self.assertEqual(r["References"], "<first@test>")
        self.assertEqual(str(r["From"]), "carol@com")
        self.assertIn("I am away", r.get_content())
        # The reply went out with the null reverse-path.
        self.assertEqual(self.node.value(
            "SELECT bool_and(coalesce(sender, '') = '') FROM message_billing"
            " WHERE recipient = 's1@com'"), "t")
        self.assertEqual(self.subjects("carol"), ["first", "second"])

    def test_autoreply_refused(self):
        self.send("s2@com", "carol@com", "auto", extra="Auto-Submitted: auto-generated\r\n")
        self.send("s3@com", "carol@com", "bulk", extra="Precedence: bulk\r\n")
        self.send("s4@com", "carol@com", "list", extra="List-Id: <team.lists.com>\r\n")
        self.send("", "carol@com", "null sender", from_hdr="s6@com")
        for name in ("s2", "s3", "s4", "s6"):
            self.assertEqual(self.subjects(name), [], name)
        # Auto-Submitted: no is a person's mail: answered.
        self.send("s6@com", "carol@com", "human", extra="Auto-Submitted: no\r\n")
        self.assertEqual(self.subjects("s6"), ["Away"])

    def test_autoforward_without_copy(self):
        mid = self.send("x@com", "dave@com", "for dave")
        self.assertEqual(self.subjects("dave"), [])
        self.assertIn("for dave", self.subjects("erin"))
        self.assertEqual(self.node.sql(
            "SELECT disposition FROM message_billing WHERE message_id = :'p1'::bigint", mid),
            [["FORWARDED"]])

    def test_autoforward_with_copy(self):
        self.send("x@com", "frank@com", "for frank")
        self.assertEqual(self.subjects("frank"), ["for frank"])
        self.assertIn("for frank", self.subjects("erin"))

    def test_forward_loop(self):
        self.send("x@com", "loopa@com", "round and round")
        # loopa -> loopb -> loopa: loopa sees its own marker and keeps it.
        self.assertEqual(self.subjects("loopa"), ["round and round"])
        self.assertEqual(self.subjects("loopb"), [])
        self.assertEqual(self.node.value("SELECT count(*) FROM submission"), "0")
        self.assertIn("(loop)", self.postman.log)

    def oomgr(self, script):
        r = self.node.oomgr(script)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_modify_and_delete_rule(self):
        self.acct["gina"] = add_account(self.node, "gina")
        self.oomgr("insert rule person=gina subject=alpha action=discard;")
        self.send("x@com", "gina@com", "alpha one")
        self.assertEqual(self.subjects("gina"), [])
        # The condition changes: alpha is kept, beta discarded.
        self.oomgr("modify rule person=gina position=1 subject=beta;")
        self.send("x@com", "gina@com", "alpha two")
        self.send("x@com", "gina@com", "beta one")
        self.assertEqual(self.subjects("gina"), ["alpha two"])
        # key="" clears a condition; from= narrows the rule to one sender.
        self.oomgr('modify rule person=gina position=1 subject="" from=pest@com;')
        self.assertNotIn("beta", self.oomgr("disp rule person=gina;"))
        self.send("x@com", "gina@com", "beta two")
        self.send("pest@com", "gina@com", "anything")
        self.assertEqual(self.subjects("gina"), ["alpha two", "beta two"])
        self.oomgr("delete rule person=gina position=1;")
        self.assertNotIn("discard", self.oomgr("disp rule person=gina;"))
        self.send("pest@com", "gina@com", "after delete")
        self.assertEqual(self.subjects("gina"), ["alpha two", "beta two", "after delete"])

    def test_autoreply_window_off_and_expiry(self):
        n = self.node
        self.acct["hank"] = add_account(n, "hank")
        self.acct["s7"] = add_account(n, "s7")
        self.acct["s8"] = add_account(n, "s8")
        self.oomgr('set autoreply person=hank on subject="Out" body="Back soon." days=2;')
        self.send("s7@com", "hank@com", "one")
        self.send("s7@com", "hank@com", "two")
        self.assertEqual(self.subjects("s7"), ["Out"])
        # Once the window of `days` has passed, the sender is answered again.
        n.sql("UPDATE autoreply_sent SET last_sent = now() - interval '3 days'"
              " WHERE account_id = :'p1'::bigint", self.acct["hank"])
        self.send("s7@com", "hank@com", "three")
        self.assertEqual(self.subjects("s7"), ["Out", "Out"])
        # Off: nobody is answered, mail is still delivered.
        self.oomgr("set autoreply person=hank off;")
        self.send("s8@com", "hank@com", "four")
        self.assertEqual(self.subjects("s8"), [])
        self.assertEqual(self.subjects("hank"), ["one", "two", "three", "four"])
        # On again, but outside its period (end_at passed): no reply.
        self.oomgr('set autoreply person=hank on subject="Out" body="Back soon.";')
        n.sql("UPDATE autoreply SET end_at = now() - interval '1 day'"
              " WHERE account_id = :'p1'::bigint", self.acct["hank"])
        self.send("s8@com", "hank@com", "five")
        self.assertEqual(self.subjects("s8"), [])
        n.sql("UPDATE autoreply SET end_at = NULL, start_at = now() + interval '1 day'"
              " WHERE account_id = :'p1'::bigint", self.acct["hank"])
        self.send("s8@com", "hank@com", "six")
        self.assertEqual(self.subjects("s8"), [])
        n.sql("UPDATE autoreply SET start_at = now() - interval '1 day'"
              " WHERE account_id = :'p1'::bigint", self.acct["hank"])
        self.send("s8@com", "hank@com", "seven")
        self.assertEqual(self.subjects("s8"), ["Out"])

    def test_autoforward_off(self):
        self.acct["ivan"] = add_account(self.node, "ivan")
        self.oomgr("set autoforward person=ivan address=erin@com keepcopy=no;")
        self.send("x@com", "ivan@com", "ivan forwarded")
        self.assertEqual(self.subjects("ivan"), [])
        self.assertIn("ivan forwarded", self.subjects("erin"))
        self.oomgr("set autoforward person=ivan off;")
        self.send("x@com", "ivan@com", "ivan kept")
        self.assertEqual(self.subjects("ivan"), ["ivan kept"])
        self.assertNotIn("ivan kept", self.subjects("erin"))
