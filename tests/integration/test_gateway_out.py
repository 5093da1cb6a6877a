"""The outbound gateway (ofcgwout, SMTP.<domain>): gateway_out to an SMTP
relay or to sendmail.

The relay is a tiny SMTP sink written here (socketserver): it records every
transaction (MAIL, the accepted RCPTs, the DATA octets as they crossed the
wire and unstuffed) and answers each RCPT from a per-address script (250,
450, 550, ...), optionally with STARTTLS and a self-signed certificate made
by `openssl req`. The sendmail transport runs a small script in place of
sendmail that records its argument vector and input and exits with the code
the test asks for.

ofcgwout runs in the foreground (-f) for each test with that test's
parameters; the Postman runs for the whole module so that reports reach the
sender's INBOX and a local user's message to an external address goes out
through the default gateway (SMTP.COM, route '*') that `ofcsetup
create-node` makes.
"""
import email
import email.policy
import os
import shutil
import signal
import socket
import socketserver
import ssl
import stat
import subprocess
import tempfile
import threading
import time
import unittest

import ofctest
from ofctest import Node, TestCase, wait_until
from test_postman import Postman, add_account, submit

OFCGWOUT = os.path.join(ofctest.BIN_DIR, "ofcgwout")


class SinkHandler(socketserver.StreamRequestHandler):
    timeout = 20

    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        try:
            self.converse()
        except (OSError, ssl.SSLError):
            pass  # the client gave up (an unverifiable certificate): part of a test

    def converse(self):
        srv = self.server
        tls = False
        tx = None
        self.reply("220 sink.test ESMTP")
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode(errors="replace")
            verb = cmd.split(" ", 1)[0].upper()
            srv.commands.append(cmd)
            if verb in ("EHLO", "HELO"):
                ext = ["SIZE 10000000", "8BITMIME"]
                if srv.tls_context is not None and not tls:
                    ext.append("STARTTLS")
                if verb == "HELO":
                    ext = []
                lines = ["sink.test"] + ext
                for i, l in enumerate(lines):
                    self.reply("250%s%s" % ("-" if i < len(lines) - 1 else " ", l))
            elif verb == "STARTTLS" and srv.tls_context is not None and not tls:
                self.reply("220 2.0.0 go ahead")
                self.request = srv.tls_context.wrap_socket(self.request, server_side=True)
                self.rfile = self.request.makefile("rb")
                self.wfile = self.request.makefile("wb")
                tls = True
            elif verb == "MAIL":
                tx = {"mail": cmd, "rcpts": [], "tls": tls}
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                addr = cmd[cmd.index("<") + 1:cmd.rindex(">")]
                script = srv.rcpt_replies.get(addr)
                answer = "250 2.1.5 ok"
                if script:
                    answer = script.pop(0) if len(script) > 1 else script[0]
                if answer.startswith("250"):
                    tx["rcpts"].append(addr)
                self.reply(answer)
            elif verb == "DATA":
                self.reply("354 go ahead")
                wire = b""
                while True:
                    l = self.rfile.readline()
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    wire += l
                unstuffed = b"".join(l[1:] if l.startswith(b".") else l
                                     for l in wire.splitlines(keepends=True))
                tx.update(wire=wire, data=unstuffed)
                srv.transactions.append(tx)
                self.reply("250 2.0.0 queued as %d" % len(srv.transactions))
            elif verb == "RSET":
                tx = None
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 5.5.2 what?")


class Sink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls_context=None):
        super().__init__(("127.0.0.1", 0), SinkHandler)
        self.tls_context = tls_context
        self.rcpt_replies = {}
        self.transactions = []
        self.commands = []
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()
        ofctest._cleanups.append(self.shutdown)

    def to(self, addr):
        return [t for t in self.transactions if addr in t["rcpts"]]


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(d, 0o755)
    os.chmod(cert, 0o644)
    return cert, key


FAKE_SENDMAIL = """#!/usr/bin/python3
import os, sys, json
d = os.path.dirname(os.path.abspath(__file__))
data = sys.stdin.buffer.read()
with open(os.path.join(d, "calls"), "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "stdin": data.hex()}) + "\\n")
code = int(open(os.path.join(d, "exit")).read().strip() or "0")
if code:
    sys.stderr.write("fake sendmail: exit %d\\n" % code)
sys.exit(code)
"""


class GatewayOut:
    """ofcgwout (instance 1, registered by create-node for domain com) in the
    foreground with the given parameters."""

    def __init__(self, node, **params):
        self.node = node
        node.sql("DELETE FROM process_parameter WHERE process_id ="
                 " (SELECT id FROM process WHERE type = 'SMTP' AND instance = 1)")
        base = {"PollInterval": "1", "HeartbeatInterval": "1", "RetryInitialSeconds": "1",
                "RetryMaxSeconds": "2", "ConnectTimeout": "5", "CommandTimeout": "10"}
        base.update(params)
        for k, v in base.items():
            node.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                     " SELECT id, 'SMTP', :'p1', :'p2' FROM process"
                     " WHERE type = 'SMTP' AND instance = 1", k, str(v))
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([OFCGWOUT, "-c", node.home.config, "-f", "instance=1"],
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        ofctest._cleanups.append(self.kill)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.stderr.seek(0)
        err = self.stderr.read().decode(errors="replace")
        self.stderr.close()
        if self.proc.returncode != 0 or "runtime error" in err or "Sanitizer" in err:
            raise AssertionError("ofcgwout: exit %s\n%s" % (self.proc.returncode, err))
        return err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        err = self.stop()
        if exc[0] is not None:
            print(err)
        return False


class GatewayOutTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = n = Node()
        cls.alice = add_account(n, "alice")
        cls.gateway = n.value("SELECT id FROM gateway WHERE name = 'SMTP.COM'")
        cls.tmp = tempfile.mkdtemp(prefix="ofc-gwout-")
        ofctest._cleanups.append(lambda: shutil.rmtree(cls.tmp, ignore_errors=True))
        cls.cert, cls.key = make_cert(cls.tmp)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cls.cert, cls.key)
        cls.sink = Sink()
        cls.tls_sink = Sink(tls_context=ctx)
        cls.postman = Postman(n).start()

    @classmethod
    def tearDownClass(cls):
        rc, err = cls.postman.stop()
        cls.node.close()
        if rc != 0 or "runtime error" in err:
            raise AssertionError("ofcomd: exit %s\n%s" % (rc, err))

    def relay(self, sink=None, **params):
        sink = sink or self.sink
        p = {"Transport": "relay", "RelayHost": "127.0.0.1", "RelayPort": str(sink.port),
             "RelayStartTLS": "none"}
        p.update(params)
        return GatewayOut(self.node, **p)

    def queue(self, sender, rcpts, raw, age_hours=0):
        """A stored message on the default gateway's queue; returns the entry id."""
        arr = "{" + ",".join('"%s"' % r for r in rcpts) + "}"
        return self.node.value(
            "WITH m AS (INSERT INTO message (size, raw)"
            "  SELECT length(b), b FROM (SELECT decode(:'p1', 'hex') AS b) s RETURNING id)"
            " INSERT INTO gateway_out (gateway_id, message_id, sender, recipients, submitted_at)"
            " SELECT :'p2'::int, id, :'p3', :'p4'::text[],"
            "        now() - make_interval(hours => :'p5'::int) FROM m RETURNING id",
            raw.hex(), self.gateway, sender, arr, str(age_hours))

    def wait_entry_gone(self, entry, timeout=20):
        wait_until(lambda: self.node.value("SELECT count(*) FROM gateway_out WHERE id = :'p1'",
                                           entry) == "0", timeout, what="gateway_out %s" % entry)

    def reports(self, subject_token):
        """Reports in alice's INBOX about messages whose Subject has subject_token."""
        rows = self.node.sql(
            "SELECT encode(m.raw, 'hex') FROM mailbox_pointer p JOIN mailbox b"
            " ON b.id = p.mailbox_id JOIN message m ON m.id = p.message_id"
            " WHERE b.account_id = :'p1'::bigint ORDER BY p.uid", self.alice)
        out = []
        for (h,) in rows:
            msg = email.message_from_bytes(bytes.fromhex(h), policy=email.policy.default)
            if msg.get_content_type() == "multipart/report" and subject_token in bytes.fromhex(
                    h).decode(errors="replace"):
                out.append(msg)
        return out

    def wait_report(self, token, timeout=20):
        return wait_until(lambda: self.reports(token), timeout, what="a report about " + token)[0]

    @staticmethod
    def status_blocks(report):
        ds = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"][0]
        return [dict(b.items()) for b in ds.get_payload()]

    # ---- relay ---------------------------------------------------------

    def test_default_gateway_and_registration(self):
        n = self.node
        self.assertEqual(n.sql("SELECT g.type, d.fqdn, r.pattern FROM gateway g"
                               " JOIN domain d ON d.id = g.domain_id"
                               " JOIN gateway_route r ON r.gateway_id = g.id"
                               " WHERE g.name = 'SMTP.COM'"), [["SMTP", "com", "*"]])
        self.assertEqual(n.sql("SELECT t.executable, t.log_base, d.fqdn FROM process p"
                               " JOIN process_type t ON t.name = p.type"
                               " JOIN domain d ON d.id = p.domain_id WHERE p.type = 'SMTP'"),
                         [["ofcgwout", "smtp", "com"]])

    def test_relay_exact_bytes_and_dot_stuffing(self):
        raw = (b"From: <alice@com>\r\nTo: <x@far.org>\r\nSubject: dots-1\r\n\r\n"
               b".one dot\r\n..two dots\r\n.\r\nend \xe9\r\n")
        lf = raw.replace(b"\r\n", b"\n").replace(b"dots-1", b"dots-lf")
        with self.relay():
            e1 = self.queue("alice@com", ["x@far.org"], raw)
            e2 = self.queue("alice@com", ["y@far.org"], lf)
            self.wait_entry_gone(e1)
            self.wait_entry_gone(e2)
        t = self.sink.to("x@far.org")
        self.assertEqual(len(t), 1)
        self.assertEqual(t[0]["data"], raw)
        self.assertIn(b"\r\n...two dots\r\n..\r\n", t[0]["wire"])
        self.assertIn("MAIL FROM:<alice@com> SIZE=%d BODY=8BITMIME" % len(raw), t[0]["mail"])
        # An LF-only message crosses the wire with CRLF.
        self.assertEqual(self.sink.to("y@far.org")[0]["data"], lf.replace(b"\n", b"\r\n"))
        self.assertEqual(self.node.sql(
            "SELECT disposition, reason LIKE '250 2.0.0 queued%' FROM message_billing"
            " WHERE recipient = 'x@far.org'"), [["GATEWAY", "t"]])

    def test_relay_550_bounces_per_recipient(self):
        self.sink.rcpt_replies["gone@far.org"] = ["550 5.1.1 <gone@far.org>: no such user"]
        raw = b"From: <alice@com>\r\nSubject: bounce-550\r\n\r\nhi\r\n"
        with self.relay():
            e = self.queue("alice@com", ["ok550@far.org", "gone@far.org"], raw)
            self.wait_entry_gone(e)
            report = self.wait_report("bounce-550")
        self.assertEqual(len(self.sink.to("ok550@far.org")), 1)
        self.assertEqual(self.sink.to("gone@far.org"), [])
        self.assertEqual(report["From"], "Mail Delivery System <MAILER-DAEMON@com>")
        blocks = self.status_blocks(report)
        self.assertEqual(len(blocks), 2)
        self.assertEqual(blocks[1]["Final-Recipient"], "rfc822; gone@far.org")
        self.assertEqual(blocks[1]["Status"], "5.1.1")
        self.assertIn("550 5.1.1 <gone@far.org>: no such user", blocks[1]["Diagnostic-Code"])
        self.assertEqual(sorted(tuple(r) for r in self.node.sql(
            "SELECT recipient, disposition FROM message_billing"
            " WHERE recipient IN ('ok550@far.org', 'gone@far.org')")),
            [("gone@far.org", "BOUNCED"), ("ok550@far.org", "GATEWAY")])

    def test_relay_450_retried_then_delivered(self):
        self.sink.rcpt_replies["later@far.org"] = ["450 4.2.0 mailbox busy", "250 2.1.5 ok"]
        raw = b"From: <alice@com>\r\nSubject: retry-450\r\n\r\nhi\r\n"
        with self.relay():
            e = self.queue("alice@com", ["now@far.org", "later@far.org"], raw)
            wait_until(lambda: self.node.value(
                "SELECT attempts FROM gateway_out WHERE id = :'p1'", e) == "1", 20,
                what="a deferred entry")
            # Only the deferred recipient is left, with the reason.
            self.assertEqual(self.node.sql(
                "SELECT recipients::text, last_error FROM gateway_out WHERE id = :'p1'", e),
                [["{later@far.org}", "450 4.2.0 mailbox busy (in reply to RCPT TO)"]])
            self.wait_entry_gone(e)
        self.assertEqual(len(self.sink.to("now@far.org")), 1)
        self.assertEqual(len(self.sink.to("later@far.org")), 1)
        self.assertEqual(self.reports("retry-450"), [])

    def test_expired_entry_bounces(self):
        self.sink.rcpt_replies["stuck@far.org"] = ["451 4.3.0 try again"]
        raw = b"From: <alice@com>\r\nSubject: expired-1\r\n\r\nhi\r\n"
        with self.relay(ExpireHours="1"):
            e = self.queue("alice@com", ["stuck@far.org"], raw, age_hours=2)
            self.wait_entry_gone(e)
            report = self.wait_report("expired-1")
        block = self.status_blocks(report)[1]
        self.assertEqual(block["Status"], "4.4.7")
        self.assertIn("451 4.3.0 try again", block["Diagnostic-Code"])

    def test_null_sender_permanent_failure_is_dead(self):
        self.sink.rcpt_replies["nobody@far.org"] = ["550 5.1.1 no"]
        raw = b"From: <MAILER-DAEMON@com>\r\nSubject: null-1\r\n\r\nhi\r\n"
        with self.relay():
            e = self.queue("", ["nobody@far.org"], raw)
            self.wait_entry_gone(e)
        rows = self.node.sql("SELECT from_queue, recipients::text, reason FROM dead"
                             " WHERE 'nobody@far.org' = ANY (recipients)")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][:2], ["gateway_out", "{nobody@far.org}"])
        self.assertIn("null sender", rows[0][2])
        self.assertIn("MAIL FROM:<> SIZE=%d" % len(raw), self.sink.commands)

    def test_starttls_required(self):
        raw = b"From: <alice@com>\r\nSubject: tls-1\r\n\r\nsecret\r\n"
        with self.relay(self.tls_sink, RelayStartTLS="required", RelayCAFile=self.cert):
            e = self.queue("alice@com", ["tls@far.org"], raw)
            self.wait_entry_gone(e)
        t = self.tls_sink.to("tls@far.org")
        self.assertEqual(len(t), 1)
        self.assertTrue(t[0]["tls"])
        self.assertEqual(t[0]["data"], raw)

    def test_starttls_required_but_unverifiable_defers(self):
        raw = b"From: <alice@com>\r\nSubject: tls-2\r\n\r\nsecret\r\n"
        with self.relay(self.tls_sink, RelayStartTLS="required", RelayCAFile="/dev/null"):
            e = self.queue("alice@com", ["tls2@far.org"], raw)
            wait_until(lambda: self.node.value(
                "SELECT attempts FROM gateway_out WHERE id = :'p1'", e) not in (None, "0"), 20,
                what="a deferred entry")
        self.assertEqual(self.tls_sink.to("tls2@far.org"), [])
        self.node.sql("DELETE FROM gateway_out WHERE id = :'p1'", e)

    def test_end_to_end_local_user_to_external(self):
        raw = ("From: <alice@com>\r\nTo: <friend@example.net>\r\nSubject: e2e-1\r\n"
               "Message-ID: <e2e-1@test>\r\n\r\nhello world\r\n")
        with self.relay():
            mid = submit(self.node, "alice@com", ["friend@example.net"], raw=raw)
            wait_until(lambda: self.sink.to("friend@example.net"), 20, what="the sink")
        t = self.sink.to("friend@example.net")[0]
        self.assertEqual(t["data"], raw.encode())
        self.assertEqual(self.node.sql(
            "SELECT disposition, reason IS NULL FROM message_billing"
            " WHERE message_id = :'p1'::bigint ORDER BY id", mid),
            [["GATEWAY", "f"]])  # one row, the gateway's, with the relay's reply

    # ---- sendmail ------------------------------------------------------

    def fake_sendmail(self, code):
        d = os.path.join(self.tmp, "sendmail")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o777)  # ofcgwout may run as the node's user
        path = os.path.join(d, "sendmail")
        with open(path, "w") as f:
            f.write(FAKE_SENDMAIL)
        os.chmod(path, 0o755)
        with open(os.path.join(d, "exit"), "w") as f:
            f.write(str(code))
        try:
            os.unlink(os.path.join(d, "calls"))
        except FileNotFoundError:
            pass
        return path

    def sendmail_calls(self):
        import json
        try:
            with open(os.path.join(self.tmp, "sendmail", "calls")) as f:
                return [json.loads(l) for l in f]
        except FileNotFoundError:
            return []

    def test_sendmail_delivered(self):
        path = self.fake_sendmail(0)
        raw = b"From: <alice@com>\r\nSubject: sm-0\r\n\r\n.dot line\r\n"
        with GatewayOut(self.node, Transport="sendmail", SendmailPath=path,
                        SendmailArgs="-odi  -oem"):
            e = self.queue("alice@com", ["a@far.org", "b@far.org"], raw)
            self.wait_entry_gone(e)
        calls = self.sendmail_calls()
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0]["argv"], ["-odi", "-oem", "-oi", "-f", "alice@com", "--",
                                            "a@far.org", "b@far.org"])
        # Local submission: LF line ends, no dot-stuffing (-oi).
        self.assertEqual(bytes.fromhex(calls[0]["stdin"]), raw.replace(b"\r\n", b"\n"))

    def test_sendmail_67_bounces(self):
        path = self.fake_sendmail(67)
        raw = b"From: <alice@com>\r\nSubject: sm-67\r\n\r\nhi\r\n"
        with GatewayOut(self.node, Transport="sendmail", SendmailPath=path):
            e = self.queue("alice@com", ["u67@far.org"], raw)
            self.wait_entry_gone(e)
            report = self.wait_report("sm-67")
        block = self.status_blocks(report)[1]
        self.assertEqual(block["Status"], "5.1.1")
        self.assertIn("exit 67 (EX_NOUSER)", block["Diagnostic-Code"])
        self.assertIn("fake sendmail: exit 67", block["Diagnostic-Code"])

    def test_sendmail_75_retries_null_sender(self):
        path = self.fake_sendmail(75)
        raw = b"From: <MAILER-DAEMON@com>\r\nSubject: sm-75\r\n\r\nhi\r\n"
        with GatewayOut(self.node, Transport="sendmail", SendmailPath=path):
            e = self.queue("", ["u75@far.org"], raw)
            wait_until(lambda: int(self.node.value(
                "SELECT attempts FROM gateway_out WHERE id = :'p1'", e) or 0) >= 2, 20,
                what="two attempts")
            self.fake_sendmail(0)
            self.wait_entry_gone(e)
        calls = self.sendmail_calls()
        self.assertEqual(calls[-1]["argv"][:4], ["-oi", "-f", "<>", "--"])
        self.assertEqual(self.node.value("SELECT count(*) FROM dead"
                                         " WHERE 'u75@far.org' = ANY (recipients)"), "0")


if __name__ == "__main__":
    unittest.main()
