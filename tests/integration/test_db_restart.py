"""PostgreSQL restarted while mail flows: the daemons reconnect, nothing is lost.

A node with 200 users; the Guardian runs the inbound gateway (SMTP_IN),
the Postman and the LMTP listener. Two ofcuto injectors and two LMTP
clients (one recipient per transaction, a persistent session reopened when
it breaks) send mail continuously while the cluster is restarted twice
(fast shutdown, a pause, start on the same port). During the outage ofcuto
exits 75 and LMTP answers 4xx or drops the session; the injectors retry as
sendmail and an MTA would (seeded randomness, OFC_DBRESTART_SEED).

Afterwards: the same daemon processes are still running (they reconnected
by themselves: the Guardian had no reason to restart them), mail kept
flowing after each restart, the queues drain, and the store check of
flowcheck.check_store holds: every acknowledged message (ofcuto exit 0,
LMTP 250) is in its recipients' INBOX, every stored attempt exactly once
per recipient (see flowcheck for why attempts, not messages, are counted).
"""
import os
import random
import smtplib
import socket
import sys
import threading
import time
import unittest

import flowcheck
from ofctest import Guardian, Node, TestCase, pgcluster, wait_until

USERS = 200
RESTARTS = 2


class DbRestartTest(TestCase):
    def setUp(self):
        self.seed = int(os.environ.get("OFC_DBRESTART_SEED")
                        or random.SystemRandom().randrange(1 << 32))
        print("\ndb restart test: OFC_DBRESTART_SEED=%d" % self.seed, file=sys.stderr, flush=True)
        self.node = n = Node()
        flowcheck.add_users(n, USERS)
        self.port = pgcluster.free_port()
        self.daemons = {}
        for type_, inst, key in (("SMTP_IN", 1, "ofcgwind instance=1"),
                                 ("POSTMAN", 1, "ofcomd instance=1"),
                                 ("LMTP", 1, "ofclmtpd instance=1")):
            pid = flowcheck.ensure_process(n, type_, inst)
            params = dict(flowcheck.STRESS_PARAMS, HeartbeatTimeout=10)
            if type_ == "LMTP":
                params["LmtpPort"] = self.port
            flowcheck.set_params(n, pid, **params)
            self.daemons[key] = pid
        n.sql("UPDATE process SET desired_state = 'RUNNING' WHERE id IN (%s)"
              % ",".join(str(p) for p in self.daemons.values()))
        self.guardian = Guardian(n)
        self.assertOk(self.guardian.start(), "ofcguard start")
        wait_until(lambda: all(k in flowcheck.daemon_children(self.guardian.pid())
                               for k in self.daemons), 30, what="the three daemons running")

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(listening, 30, what="ofclmtpd listening")

    def tearDown(self):
        self.guardian._cleanup()
        self.node.close()

    def test_restart_during_delivery(self):
        n = self.node
        rng = random.Random(self.seed)
        lock = threading.Lock()
        attempts = []               # (attempt, msgid, rcpts, outcome)
        acked_at = []               # monotonic time of each acknowledgement
        unexpected = []
        stop = threading.Event()
        seq = [0]

        def new_message(r):
            with lock:
                seq[0] += 1
                i = seq[0]
            k = 1 if r.random() < 0.5 else r.randint(2, 3)
            return "r%d-%d" % (self.seed % 100000, i), \
                ["user%d" % u for u in r.sample(range(1, USERS + 1), k)]

        def record(attempt, msgid, rcpts, outcome, detail=""):
            with lock:
                attempts.append((attempt, msgid, rcpts, outcome))
                if outcome == "ok":
                    acked_at.append(time.monotonic())
                elif outcome == "other":
                    unexpected.append((attempt, detail))

        def guarded(fn):
            def run(k):
                try:
                    fn(k)
                except Exception as e:  # a dead injector must fail the test
                    with lock:
                        unexpected.append(("injector", repr(e)))
            return run

        @guarded
        def ofcuto_injector(k):
            r = random.Random(self.seed + k)
            counter = 0
            while not stop.is_set():
                msgid, rcpts = new_message(r)
                while True:
                    counter += 1
                    attempt = "u%d-%d" % (k, counter)
                    rc, err = flowcheck.run_ofcuto(n.home, "sender@example.org",
                                                   ["%s@com" % x for x in rcpts],
                                                   flowcheck.message(msgid, attempt, rcpts))
                    outcome = "ok" if rc == 0 else "temp" if rc == 75 else "other"
                    record(attempt, msgid, rcpts, outcome, "exit %s: %s" % (rc, err.strip()))
                    if outcome != "temp":
                        break
                    time.sleep(0.1)

        @guarded
        def lmtp_injector(k):
            r = random.Random(self.seed + 100 + k)
            counter = 0
            conn = None
            while not stop.is_set():
                msgid, rcpts = new_message(r)
                rcpts = rcpts[:1]       # smtplib reads one reply after DATA
                while True:
                    counter += 1
                    attempt = "l%d-%d" % (k, counter)
                    data = flowcheck.message(msgid, attempt, rcpts)
                    try:
                        if conn is None:
                            conn = smtplib.LMTP("127.0.0.1", self.port, timeout=30)
                            conn.ehlo_or_helo_if_needed()
                        conn.sendmail("sender@example.org", ["%s@com" % rcpts[0]], data)
                        record(attempt, msgid, rcpts, "ok")
                        break
                    except smtplib.SMTPRecipientsRefused as e:
                        code = list(e.recipients.values())[0][0]
                        record(attempt, msgid, rcpts, "temp" if 400 <= code < 500 else "other",
                               str(e))
                        if code >= 500:
                            break
                    except smtplib.SMTPResponseException as e:
                        record(attempt, msgid, rcpts, "temp" if 400 <= e.smtp_code < 500
                               else "other", str(e))
                        if e.smtp_code >= 500:
                            break
                        try:
                            conn.rset()
                        except (smtplib.SMTPException, OSError):
                            conn = None
                    except (smtplib.SMTPException, OSError):
                        # The session broke: the outcome of DATA is unknown.
                        record(attempt, msgid, rcpts, "lost")
                        try:
                            conn.close()
                        except Exception:
                            pass
                        conn = None
                    time.sleep(0.1)
            if conn is not None:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    pass

        before = flowcheck.daemon_children(self.guardian.pid())
        threads = [threading.Thread(target=ofcuto_injector, args=(k,)) for k in range(2)] + \
                  [threading.Thread(target=lmtp_injector, args=(k,)) for k in range(2)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        restarted_at = []
        try:
            for i in range(RESTARTS):
                time.sleep(rng.uniform(1.5, 3.0))
                n.cluster.restart(stop_seconds=rng.uniform(0.5, 2.5))
                restarted_at.append(time.monotonic())
            time.sleep(4)
        finally:
            stop.set()
            for t in threads:
                t.join(120)
        wait_until(lambda: n.value("SELECT (SELECT count(*) FROM gateway_in)"
                                   " + (SELECT count(*) FROM submission)") == "0",
                   120, interval=0.5, what="gateway_in and submission to drain")
        problems = flowcheck.check_store(n, attempts)
        outcomes = {}
        for a in attempts:
            outcomes[a[3]] = outcomes.get(a[3], 0) + 1
        after = flowcheck.daemon_children(self.guardian.pid())
        msgs, ptrs, bills = flowcheck.store_summary(n)
        print("db restart test: seed %d: %d attempts %s in %.1f s; store: %s messages,"
              " %s pointers" % (self.seed, len(attempts), outcomes, time.monotonic() - t0,
                                msgs, ptrs), file=sys.stderr, flush=True)
        self.assertEqual(unexpected[:5], [], "unexpected permanent failures (first 5)")
        self.assertEqual(problems, [], "seed %d: store violations" % self.seed)
        self.assertEqual({k: after.get(k) for k in self.daemons},
                         {k: before.get(k) for k in self.daemons},
                         "the daemons reconnected instead of being restarted")
        restarts = n.sql("SELECT p.type, s.restarts, s.pid FROM process_status s"
                         " JOIN process p ON p.id = s.process_id WHERE p.id IN (%s)"
                         % ",".join(str(p) for p in self.daemons.values()))
        self.assertTrue(all(r[1] == "0" for r in restarts), restarts)
        self.assertEqual(sorted(int(r[2]) for r in restarts), sorted(before[k] for k in self.daemons))
        for t in restarted_at:
            self.assertTrue(any(a > t for a in acked_at), "no message accepted after a restart")
        self.assertTrue(outcomes.get("temp", 0) + outcomes.get("lost", 0) > 0,
                        "the outage was never seen by the injectors")
        self.assertEqual(flowcheck.scan_logs(n), [])


if __name__ == "__main__":
    unittest.main()
