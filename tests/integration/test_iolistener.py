"""iolistener (IOLISTENER): binds the POP3/IMAP ports of ofcmail.conf and
hands each client (SCM_RIGHTS) to the least loaded protocol server instance
registered on <var_dir>/<SID>/sps/iolistener.sock (protocol/sps_handoff.h).

The protocol server instances here are fakes written in Python: they say
HELLO and LOAD on the registration socket, take CLIENT packets with
socket.recv_fds and answer on the socket they got. iolistener runs in the
foreground (`iolistener -c <config> -f`) as the node's run user (as the
Guardian would start it), with LogLevel debug so that the tests can wait
for the line in which it took a LOAD into account. Which instance took a
client is read from the listener's log line for that client (by the
client's own port) and checked against the CLIENT packet the instance got.

One node for the module; each test starts its own listener on free ports.
"""
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import unittest

from ofctest import BIN_DIR, Guardian, Node, TestCase, pid_alive, wait_until

IOLISTENER = os.path.join(BIN_DIR, "iolistener")
POP3_REFUSAL = b"-ERR [SYS/TEMP] no POP3 server available, try again later\r\n"
IMAP_REFUSAL = b"* BYE [UNAVAILABLE] no IMAP server available, try again later\r\n"


def demote(uid, gid):
    def fn():
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
    return fn


def free_ports(n):
    """n distinct free TCP ports (listening sockets held until all are chosen)."""
    held, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET6)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", 0))
            held.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in held:
            s.close()
    return ports


def free_low_port():
    """A free port below 1024 (we are root), or None."""
    for port in range(981, 1023):
        s = socket.socket(socket.AF_INET6)
        try:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return None


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


class FakeInstance:
    """A POP3SRV/IMAP4SRV instance as far as iolistener can tell."""

    def __init__(self, path, proto, process_id, instance=1, hello=None):
        self.process_id = process_id
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(10)
        self.sock.connect(path)
        if hello is None:
            hello = "HELLO %s %d %d %d" % (proto, process_id, instance, os.getpid())
        self.sock.send(hello.encode())
        self.answer = self.sock.recv(600).decode()

    def load(self, clients, max_clients):
        self.sock.send(b"LOAD %d %d" % (clients, max_clients))

    def take(self, timeout=10):
        """One CLIENT packet: (its words, the client's socket)."""
        self.sock.settimeout(timeout)
        msg, fds, _, _ = socket.recv_fds(self.sock, 600, 2)
        if len(fds) != 1:
            raise AssertionError("CLIENT with %d descriptors: %r" % (len(fds), msg))
        return msg.decode().split(" "), socket.socket(fileno=fds[0])

    def pending(self):
        r, _, _ = select.select([self.sock], [], [], 0)
        return bool(r)

    def closed_by_peer(self, timeout=10):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(600) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


class Listener:
    """iolistener in the foreground as the run user (or as root: as_root)."""

    def __init__(self, test, as_root=False, exe=IOLISTENER):
        h = test.node.home
        self.test = test
        self.mark = len(test.lsnr_log())
        self.out_path = os.path.join(h.dir, "iolistener.out")
        self.out = open(self.out_path, "ab")
        self.out_mark = self.out.tell()
        kw = {} if as_root else {"preexec_fn": demote(h.uid, h.gid)}
        self.proc = subprocess.Popen([exe, "-c", h.config, "-f"], stdout=self.out,
                                     stderr=subprocess.STDOUT, **kw)

    def log(self):
        """What this listener (and whatever ran since) wrote to the log."""
        return self.test.lsnr_log()[self.mark:]

    def wait_ready(self):
        wait_until(lambda: self.proc.poll() is not None
                   or "protocol servers register at" in self.log(), 30,
                   what="iolistener to listen")
        self.test.assertIsNone(self.proc.poll(), "iolistener exited:\n" + self.output())
        return self

    def output(self):
        with open(self.out_path, "rb") as f:
            f.seek(self.out_mark)
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        finally:
            self.out.close()
        return rc


class IolistenerTest(TestCase):
    node = None

    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        cls.node.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                     " SELECT id, type, 'LogLevel', 'debug' FROM process"
                     " WHERE type = 'IOLISTENER' AND instance = 1")
        cls.sock_path = os.path.join(cls.node.home.dir, "var", cls.node.home.sid, "sps",
                                     "iolistener.sock")
        cls.logfile = os.path.join(cls.node.home.log_dir, "ESNODE_lsnr01.log")

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def setUp(self):
        self.pop3, self.pop3s, self.imap, self.imaps = free_ports(4)
        self.write_ports(self.pop3, self.pop3s, self.imap, self.imaps)
        self.set_param("ListenAddress", None)
        self.log_mark = len(self.lsnr_log())
        self.listeners, self.instances, self.clients = [], [], []

    def tearDown(self):
        for c in self.clients:
            c.close()
        for i in self.instances:
            i.close()
        for lsnr in self.listeners:
            if lsnr.proc.poll() is None:
                lsnr.proc.kill()
                lsnr.proc.wait()
            lsnr.out.close()

    # ---- helpers ---------------------------------------------------------

    def write_ports(self, pop3, pop3s, imap, imaps):
        self.node.home.write_config(
            self.node.conninfo,
            extra="ports {\n  pop3 = %d\n  pop3s = %d\n  imap = %d\n  imaps = %d\n}\n"
                  % (pop3, pop3s, imap, imaps))

    def set_param(self, name, value):
        if value is None:
            self.node.sql("DELETE FROM process_parameter WHERE name = :'p1' AND process_id ="
                          " (SELECT id FROM process WHERE type = 'IOLISTENER' AND instance = 1)",
                          name)
            return
        self.node.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                      " SELECT id, type, :'p1', :'p2' FROM process"
                      " WHERE type = 'IOLISTENER' AND instance = 1"
                      " ON CONFLICT (process_id, name) DO UPDATE SET value = EXCLUDED.value",
                      name, value)

    def lsnr_log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def new_log(self):
        """The log written since this test began."""
        return self.lsnr_log()[self.log_mark:]

    def start(self, **kw):
        lsnr = Listener(self, **kw)
        self.listeners.append(lsnr)
        return lsnr.wait_ready()

    def instance(self, proto, process_id, load=None, **kw):
        inst = FakeInstance(self.sock_path, proto, process_id, **kw)
        self.instances.append(inst)
        self.assertEqual(inst.answer, "OK")
        if load is not None:
            self.set_load(inst, *load)
        return inst

    def set_load(self, inst, clients, max_clients):
        """LOAD, and wait until the listener has taken it in."""
        line = "process %d instance " % inst.process_id
        tail = " has %d of at most %d clients" % (clients, max_clients)
        before = sum(1 for ln in self.new_log().splitlines() if line in ln and tail in ln)
        inst.load(clients, max_clients)
        wait_until(lambda: sum(1 for ln in self.new_log().splitlines()
                               if line in ln and tail in ln) > before,
                   10, what="the listener to take LOAD %d %d" % (clients, max_clients))

    def connect(self, port):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.clients.append(c)
        return c

    def client_line(self, c, port):
        """The listener's log line about client c (by its port); waits for it."""
        needle = "client 127.0.0.1 port %d on " % c.getsockname()[1]
        return wait_until(lambda: next((ln for ln in self.new_log().splitlines()
                                        if needle in ln and "port %d" % port in ln), None),
                          10, what="the log line of client port %d" % c.getsockname()[1])

    def receiver(self, c, port):
        """The process id the listener handed client c to, or None if refused."""
        line = self.client_line(c, port)
        m = re.search(r"handed to \w+ process (\d+) ", line)
        if m:
            return int(m.group(1))
        self.assertIn("refused", line)
        return None

    def hand(self, port, inst, tls="0"):
        """A client on port must reach inst: checks the CLIENT packet, and
        that the two can talk over the handed socket."""
        c = self.connect(port)
        self.assertEqual(self.receiver(c, port), inst.process_id)
        words, s = inst.take()
        self.clients.append(s)
        self.assertEqual(words, ["CLIENT", tls, str(port), "127.0.0.1",
                                 str(c.getsockname()[1])])
        s.sendall(b"+OK instance %d\r\n" % inst.process_id)
        self.assertEqual(c.recv(100), b"+OK instance %d\r\n" % inst.process_id)
        return c, s

    def refused(self, port, text):
        c = self.connect(port)
        got = b""
        while True:
            chunk = c.recv(200)
            if not chunk:
                break
            got += chunk
        self.assertEqual(got, text)
        self.assertIsNone(self.receiver(c, port))

    # ---- tests -----------------------------------------------------------

    def test_ports_and_protocols(self):
        lsnr = self.start()
        log = self.new_log()
        for name, port in (("pop3", self.pop3), ("pop3s", self.pop3s), ("imap", self.imap),
                           ("imaps", self.imaps)):
            self.assertRegex(log, r"listening for %s( \(implicit TLS\))? on every .*port %d\n"
                             % (name, port))
        st = os.stat(self.sock_path)
        self.assertEqual(st.st_mode & 0o777, 0o660)
        self.assertEqual(os.stat(os.path.dirname(self.sock_path)).st_mode & 0o777, 0o750)
        self.assertEqual(st.st_uid, self.node.home.uid)
        pop = self.instance("pop3", 901, load=(0, 10))
        imap = self.instance("imap", 902, load=(0, 10))
        self.hand(self.pop3, pop)
        self.hand(self.pop3s, pop, tls="1")
        self.hand(self.imap, imap)
        self.hand(self.imaps, imap, tls="1")
        self.assertFalse(pop.pending() or imap.pending())
        log = self.new_log()
        self.assertIn("POP3SRV process 901 instance 1 (pid %d) registered" % os.getpid(), log)
        self.assertIn("IMAP4SRV process 902 instance 1 (pid %d) registered" % os.getpid(), log)
        self.assertRegex(log, r"client 127\.0\.0\.1 port \d+ on imaps port %d handed to "
                              r"IMAP4SRV process 902 instance 1 \(pid \d+\), now 2 client"
                         % self.imaps)
        self.assertEqual(lsnr.stop(), 0)
        self.assertFalse(os.path.exists(self.sock_path))

    def test_least_loaded_counts_clients_sent_since_load(self):
        self.start()
        a = self.instance("pop3", 911, load=(5, 50))
        b = self.instance("pop3", 912, load=(3, 50))
        # b: 3 -> 4 -> 5; then 5 against 5: a, which has had none yet; then b again.
        self.hand(self.pop3, b)
        self.hand(self.pop3, b)
        self.hand(self.pop3, a)
        self.hand(self.pop3, b)
        # A new LOAD replaces what was counted since the last one.
        self.set_load(a, 0, 50)
        self.hand(self.pop3, a)
        self.set_load(b, 0, 50)
        self.set_load(a, 7, 50)
        self.hand(self.pop3, b)
        # The other protocol's instances never get POP3 clients.
        imap = self.instance("imap", 913, load=(0, 50))
        self.hand(self.pop3, b)
        self.assertFalse(imap.pending())

    def test_max_clients(self):
        self.start()
        a = self.instance("imap", 921, load=(1, 1))
        b = self.instance("imap", 922, load=(9, 11))
        self.hand(self.imap, b)
        self.hand(self.imap, b)
        # Both at their maximum now.
        self.refused(self.imap, IMAP_REFUSAL)
        self.assertIn("none of the 2 IMAP4SRV instance(s) can take it (2 at their maximum",
                      self.new_log())
        self.set_load(a, 0, 1)
        self.hand(self.imap, a)
        self.refused(self.imap, IMAP_REFUSAL)
        self.assertFalse(a.pending() or b.pending())

    def test_dead_instance_dropped_at_once(self):
        self.start()
        a = self.instance("pop3", 931, load=(0, 100))
        b = self.instance("pop3", 932, load=(50, 100))
        self.hand(self.pop3, a)
        a.close()
        # No LOAD, no timeout: the next client goes to b at once.
        self.hand(self.pop3, b)
        self.hand(self.pop3, b)
        self.assertIn("POP3SRV process 931 instance 1 (pid %d) is gone" % os.getpid(),
                      self.new_log())
        b.close()
        self.refused(self.pop3, POP3_REFUSAL)
        self.assertIn("no POP3SRV instance is registered", self.new_log())

    def test_full_socket_goes_to_the_next_instance(self):
        self.start()
        a = self.instance("pop3", 941, load=(0, 10000))  # never reads
        b = self.instance("pop3", 942, load=(5000, 10000))
        for n in range(1, 2000):
            c = self.connect(self.pop3)
            got = self.receiver(c, self.pop3)
            if got == b.process_id:
                break
            self.assertEqual(got, a.process_id)
        self.assertGreater(n, 1)
        words, s = b.take()
        self.clients.append(s)
        self.assertEqual(words[4], str(c.getsockname()[1]))
        self.assertIn("POP3SRV process 941 instance 1 (pid %d) cannot take client" % os.getpid(),
                      self.new_log())

    def fill_until_waiting(self, port):
        """Connects clients until one has to wait for room in an instance's
        socket (its log line says so); returns them all, in order."""
        cs = []
        while len(cs) < 3000:
            batch = [self.connect(port) for _ in range(25)]
            cs += batch
            needles = ["port %d on pop3 port %d waits for room" % (c.getsockname()[1], port)
                       for c in batch]
            if wait_until(lambda: (lambda log: any(n in log for n in needles)
                                   or all("port %d on " % c.getsockname()[1] in log
                                          for c in batch))(self.new_log()),
                          10, what="the listener to take the clients"):
                if any(n in self.new_log() for n in needles):
                    return cs
        self.fail("no client had to wait")

    def test_burst_waits_for_room(self):
        self.start()
        a = self.instance("pop3", 971, load=(0, 100000))
        # More clients than fit in the socket of an instance that is not reading.
        cs = self.fill_until_waiting(self.pop3)
        cs += [self.connect(self.pop3) for _ in range(5)]
        ports = [c.getsockname()[1] for c in cs]
        got = []
        for _ in cs:
            words, s = a.take()
            s.close()
            got.append(int(words[4]))
        self.assertEqual(got, ports)  # first come, first served
        self.assertTrue(re.search(r"port \d+ on pop3 port %d handed to POP3SRV process 971 "
                                  r"instance 1 \(pid \d+\) after \d+ ms" % self.pop3,
                                  self.new_log()), "no client waited")
        for c in cs:
            c.close()
        self.clients = []
        # An instance that does not read for 5 s: its waiting clients are refused.
        c = self.fill_until_waiting(self.pop3)[-1]
        c.settimeout(15)
        got = b""
        while True:
            chunk = c.recv(200)
            if not chunk:
                break
            got += chunk
        self.assertEqual(got, POP3_REFUSAL)
        self.assertIn("refused: the sockets of the POP3SRV instances stayed full for 5 s",
                      self.new_log())

    def test_refusals_without_instances(self):
        self.start()
        self.refused(self.pop3, POP3_REFUSAL)
        self.refused(self.imap, IMAP_REFUSAL)
        # Implicit TLS: no words the client could not read, just the close.
        self.refused(self.pop3s, b"")
        self.refused(self.imaps, b"")
        # One line per protocol and 10 s; the second POP3 refusal is counted, not logged.
        self.refused(self.pop3, POP3_REFUSAL)
        warn = [ln for ln in self.new_log().splitlines() if " WARN " in ln and "refused" in ln]
        self.assertEqual(len([ln for ln in warn if " on pop3" in ln]), 1, warn)
        self.assertEqual(len([ln for ln in warn if " on imap" in ln]), 1, warn)

    def test_garbage_registration_refused(self):
        self.start()
        cases = [
            ("HELLO smtp 1 1 1", "ERR unknown protocol"),
            ("HELLO pop3 x 1 1", "ERR invalid process id"),
            ("HELLO pop3 1 100 1", "ERR invalid instance number"),
            ("HELLO pop3 1 1 -5", "ERR invalid pid"),
            ("HELLO pop3 1  1 1", "ERR expected HELLO"),
            ("HELLO pop3 1 1 1 extra", "ERR expected HELLO"),
            ("hello pop3 1 1 1", "ERR expected HELLO"),
            ("LOAD 1 2", "ERR expected HELLO"),
            ("\x01\x02garbage\r\n", "ERR expected HELLO"),
        ]
        for text, answer in cases:
            inst = FakeInstance(self.sock_path, "pop3", 1, hello=text)
            self.instances.append(inst)
            self.assertTrue(inst.answer.startswith(answer), (text, inst.answer))
            self.assertTrue(inst.closed_by_peer(), text)
        # A registered process id cannot register twice; a bad LOAD ends a registration.
        good = self.instance("imap", 951)
        dup = FakeInstance(self.sock_path, "imap", 951)
        self.instances.append(dup)
        self.assertEqual(dup.answer, "ERR process 951 is already registered (pid %d)"
                         % os.getpid())
        good.sock.send(b"LOAD many 10")
        self.assertTrue(good.sock.recv(600).startswith(b"ERR invalid client count"))
        self.assertTrue(good.closed_by_peer())
        self.refused(self.imap, IMAP_REFUSAL)
        self.assertIn("sent 'HELLO smtp 1 1 1': unknown protocol", self.new_log())

    def test_restart_keeps_handed_clients(self):
        lsnr = self.start()
        a = self.instance("imap", 961, load=(0, 10))
        c, s = self.hand(self.imap, a)
        self.assertEqual(lsnr.stop(), 0)
        self.assertFalse(os.path.exists(self.sock_path))
        self.assertTrue(a.closed_by_peer())
        # The client belongs to the instance alone.
        c.sendall(b"a NOOP\r\n")
        self.assertEqual(s.recv(100), b"a NOOP\r\n")
        s.sendall(b"a OK still here\r\n")
        self.assertEqual(c.recv(100), b"a OK still here\r\n")
        self.assertIn("IOLISTENER instance 1 stopped", self.new_log())
        # A killed listener leaves its socket; the next one removes it.
        lsnr2 = self.start()
        lsnr2.proc.kill()
        lsnr2.proc.wait()
        self.assertTrue(os.path.exists(self.sock_path))
        self.log_mark = len(self.lsnr_log())
        self.start()
        self.assertIn("removed the stale registration socket", self.new_log())
        a2 = self.instance("imap", 961, load=(1, 10))
        self.hand(self.imap, a2)
        c.sendall(b"b LOGOUT\r\n")
        self.assertEqual(s.recv(100), b"b LOGOUT\r\n")

    def test_listen_address_and_bind_failures(self):
        # One port taken: logged, the others serve.
        blocker = socket.socket(socket.AF_INET6)
        blocker.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        blocker.bind(("::", self.imaps))
        blocker.listen(1)
        self.addCleanup(blocker.close)
        self.set_param("ListenAddress", "127.0.0.1")
        self.start()
        log = self.new_log()
        self.assertIn("listening for pop3 on 127.0.0.1 port %d" % self.pop3, log)
        self.assertIn("cannot listen for imaps on 127.0.0.1 port %d: Address already in use"
                      % self.imaps, log)
        self.assertIn("3 of 4 ports bound", log)
        self.refused(self.imap, IMAP_REFUSAL)
        # A second listener finds nothing to bind: exit 1, and it leaves the socket alone.
        lsnr2 = Listener(self)
        self.listeners.append(lsnr2)
        self.assertEqual(lsnr2.proc.wait(timeout=30), 1)
        self.assertIn("no port could be bound on 127.0.0.1", lsnr2.output())
        self.assertTrue(os.path.exists(self.sock_path))
        self.assertEqual(self.listeners[0].stop(), 0)
        # Not an address.
        self.set_param("ListenAddress", "mail.example.org")
        lsnr3 = Listener(self)
        self.listeners.append(lsnr3)
        self.assertEqual(lsnr3.proc.wait(timeout=30), 1)
        self.assertIn("ListenAddress 'mail.example.org' is neither * nor an IP address",
                      lsnr3.output())

    def test_started_by_the_guardian(self):
        lid = self.node.value("SELECT id FROM process WHERE type = 'IOLISTENER' AND instance = 1")
        self.set_param("HeartbeatInterval", "1")
        self.addCleanup(self.set_param, "HeartbeatInterval", None)
        self.node.sql("UPDATE process SET desired_state = 'RUNNING' WHERE id = :'p1'", lid)
        self.addCleanup(self.node.sql,
                        "UPDATE process SET desired_state = 'STOPPED' WHERE id = :'p1'", lid)
        guardian = Guardian(self.node)
        r = guardian.start()
        self.assertOk(r, "ofcguard start")
        wait_until(lambda: "protocol servers register at" in self.new_log(), 30,
                   what="iolistener under the Guardian")
        pid = int(self.node.value("SELECT pid FROM process_status WHERE process_id = :'p1'", lid))
        self.assertEqual(os.stat("/proc/%d" % pid).st_uid, self.node.home.uid)
        # The lifecycle's loop keeps beating while the accept loop runs in its thread.
        first = self.node.value("SELECT last_wakeup FROM process_status WHERE process_id = :'p1'",
                                lid)
        wait_until(lambda: self.node.value("SELECT last_wakeup FROM process_status"
                                           " WHERE process_id = :'p1'", lid) != first,
                   10, what="a heartbeat")
        a = self.instance("imap", 981, load=(0, 10))
        self.hand(self.imaps, a, tls="1")
        self.assertOk(guardian.stop(), "ofcguard stop")
        wait_until(lambda: not pid_alive(pid), 30, what="iolistener to stop")
        self.assertFalse(os.path.exists(self.sock_path))
        self.assertIn("IOLISTENER instance 1 stopped", self.new_log())

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_started_by_root(self):
        low = free_low_port()
        if low is None:
            self.skipTest("no free port below 1024")
        self.write_ports(low, self.pop3s, self.imap, self.imaps)
        lsnr = self.start(as_root=True)
        st = proc_status(lsnr.proc.pid)
        self.assertEqual(st["Uid"].split()[1], str(self.node.home.uid))
        self.assertEqual(int(st["CapEff"], 16), 0)
        self.assertEqual(int(st["CapPrm"], 16), 0)
        self.assertEqual(os.stat(self.logfile).st_uid, self.node.home.uid)
        self.assertIn("listening for pop3 on every", self.new_log())
        self.refused(low, POP3_REFUSAL)
        self.assertEqual(lsnr.stop(), 0)

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_file_capability(self):
        setcap = shutil.which("setcap")
        if setcap is None:
            self.skipTest("setcap is not installed")
        low = free_low_port()
        if low is None:
            self.skipTest("no free port below 1024")
        exe = os.path.join(self.node.home.dir, "iolistener-cap")
        shutil.copy(IOLISTENER, exe)
        os.chmod(exe, 0o755)
        r = subprocess.run([setcap, "cap_net_bind_service=ep", exe], stderr=subprocess.PIPE,
                           text=True)
        if r.returncode != 0:
            self.skipTest("setcap failed: " + r.stderr.strip())
        self.write_ports(low, self.pop3s, self.imap, self.imaps)
        # Without the capability the low port cannot be bound ...
        plain = Listener(self)
        self.listeners.append(plain)
        wait_until(lambda: "cannot listen for pop3 on * port %d: Permission denied" % low
                   in self.new_log(), 30, what="the refused bind")
        self.assertEqual(plain.stop(), 0)
        # ... with it, it can, and nothing privileged remains.
        self.log_mark = len(self.lsnr_log())
        lsnr = self.start(exe=exe)
        self.assertIn("ports bound: every capability dropped", self.new_log())
        st = proc_status(lsnr.proc.pid)
        self.assertEqual(int(st["CapEff"], 16), 0)
        self.assertEqual(int(st["CapPrm"], 16), 0)
        self.refused(low, POP3_REFUSAL)
        self.assertEqual(lsnr.stop(), 0)


if __name__ == "__main__":
    unittest.main()
