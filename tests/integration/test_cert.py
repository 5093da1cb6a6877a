"""ofcsetup cert: generate (self-signed and requests, checked with the
openssl command), store (checks, modes, owner, password files, refusals),
show, and the end-to-end path: ofclmtpd presents the stored lmtp
certificate on STARTTLS.

Everything but the last test needs only a Home (cert keeps to files);
the LMTP test makes a node.
"""
import datetime
import os
import re
import signal
import socket
import stat
import subprocess
import unittest

from ofctest import BIN_DIR, Home, Node, TestCase, pgcluster, run, wait_until

OFCSETUP = os.path.join(BIN_DIR, "ofcsetup")


def openssl(*args, input=None):
    return subprocess.run(["openssl"] + list(args), input=input, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)


def fingerprint(cert_path):
    r = openssl("x509", "-in", cert_path, "-noout", "-fingerprint", "-sha256")
    return r.stdout.strip().split("=", 1)[1]


def read(path):
    with open(path) as f:
        return f.read()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class CertBase(TestCase):
    home = None

    @classmethod
    def setUpClass(cls):
        cls.home = Home()
        cls.work = os.path.join(cls.home.dir, "work")
        os.makedirs(cls.work)
        cls.tls = os.path.join(cls.home.dir, "etc", "tls")
        cls.n = 0

    def cert(self, *args, input=None):
        return run([OFCSETUP, "-c", self.home.config, "cert"] + list(args), input=input)

    def path(self, name):
        return os.path.join(self.work, name)

    def fresh(self, stem):
        """New, unused file names <stem>N.key / <stem>N.crt."""
        type(self).n += 1
        return self.path("%s%d.key" % (stem, self.n)), self.path("%s%d.crt" % (stem, self.n))

    def password_file(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o600)
        return p

    def generate(self, *extra, cn="mail.example.com"):
        key, crt = self.fresh("g")
        r = self.cert("generate", "--cn=" + cn, "--out-key=" + key, "--out-cert=" + crt, *extra)
        self.assertOk(r, "cert generate")
        return key, crt


class GenerateTest(CertBase):
    def test_self_signed(self):
        key, crt = self.fresh("ss")
        r = self.cert("generate", "--cn=mail.example.com", "--org=Example Corp",
                      "--unit=Mail", "--city=Redwood Shores", "--state=California",
                      "--country=us", "--email=postmaster@example.com",
                      "--out-key=" + key, "--out-cert=" + crt)
        self.assertOk(r)
        self.assertIn(fingerprint(crt), r.stdout)
        self.assertEqual(mode(key), 0o600)
        self.assertEqual(mode(crt), 0o644)
        text = openssl("x509", "-in", crt, "-text", "-noout").stdout
        self.assertIn("Version: 3 (0x2)", text)
        self.assertIn("ecdsa-with-SHA256", text)
        self.assertIn("NIST CURVE: P-256", text)
        for part in ("C = US", "ST = California", "L = Redwood Shores", "O = Example Corp",
                     "OU = Mail", "CN = mail.example.com", "emailAddress = postmaster@example.com"):
            self.assertIn(part, text)
        self.assertRegex(text, r"Subject Alternative Name: *\n *DNS:mail.example.com\n")
        self.assertRegex(text, r"Basic Constraints: critical\n *CA:FALSE")
        self.assertRegex(text, r"Key Usage: critical\n *Digital Signature, Key Encipherment\n")
        self.assertRegex(text, r"Extended Key Usage: *\n *TLS Web Server Authentication\n")
        # A random 128-bit serial: 16 octets.
        serial = openssl("x509", "-in", crt, "-noout", "-serial").stdout.strip().split("=")[1]
        self.assertEqual(len(serial), 32)
        # 825 days by default.
        end = openssl("x509", "-in", crt, "-noout", "-enddate").stdout.strip().split("=")[1]
        end = datetime.datetime.strptime(end, "%b %d %H:%M:%S %Y %Z")
        end = end.replace(tzinfo=datetime.timezone.utc)
        days = (end - datetime.datetime.now(datetime.timezone.utc)).days
        self.assertIn(days, (824, 825))
        # Self-signed: it verifies against itself; the key is not encrypted.
        self.assertOk(openssl("verify", "-CAfile", crt, crt))
        with open(key) as f:
            self.assertIn("-----BEGIN PRIVATE KEY-----", f.read())

    def test_two_certificates_have_different_serials(self):
        _, a = self.generate()
        _, b = self.generate()
        sa = openssl("x509", "-in", a, "-noout", "-serial").stdout
        sb = openssl("x509", "-in", b, "-noout", "-serial").stdout
        self.assertNotEqual(sa, sb)

    def test_request(self):
        pw = self.password_file("csr.pass", "Req-secret-1\nsecond line ignored\n")
        key, csr = self.path("csr.key"), self.path("csr.csr")
        r = self.cert("generate", "--csr", "--key-type=rsa", "--cn=10.1.2.3", "--org=Example",
                      "--key-password-file=" + pw, "--out-key=" + key, "--out-csr=" + csr)
        self.assertOk(r)
        v = openssl("req", "-in", csr, "-verify", "-noout", "-text")
        self.assertOk(v)
        self.assertIn("verify OK", v.stdout + v.stderr)
        self.assertIn("Public-Key: (3072 bit)", v.stdout)
        self.assertIn("CN = 10.1.2.3", v.stdout)
        self.assertRegex(v.stdout, r"Subject Alternative Name: *\n *IP Address:10.1.2.3\n")
        self.assertIn("sha256WithRSAEncryption", v.stdout)
        self.assertEqual(mode(key), 0o600)
        with open(key) as f:
            self.assertIn("-----BEGIN ENCRYPTED PRIVATE KEY-----", f.read())
        # Only the first line is the password; the cipher is AES-256.
        self.assertOk(openssl("pkey", "-in", key, "-noout", "-passin", "pass:Req-secret-1"))
        self.assertNotEqual(openssl("pkey", "-in", key, "-noout", "-passin", "pass:wrong")
                            .returncode, 0)
        asn1 = openssl("asn1parse", "-in", key).stdout
        self.assertIn("aes-256-cbc", asn1)

    def test_defaults_without_terminal(self):
        # stdin is not a terminal: CN is this host's name, nothing else is asked or set.
        key, crt = self.fresh("dflt")
        r = self.cert("generate", "--out-key=" + key, "--out-cert=" + crt)
        self.assertOk(r)
        subject = openssl("x509", "-in", crt, "-noout", "-subject", "-nameopt", "RFC2253").stdout
        m = re.match(r"subject=CN=(\S+)$", subject.strip())
        self.assertIsNotNone(m, subject)
        text = openssl("x509", "-in", crt, "-text", "-noout").stdout
        self.assertIn("DNS:" + m.group(1), text)

    def test_questions_on_a_terminal(self):
        # Missing fields are asked on the terminal; an empty answer keeps
        # the default (CN: this host's name) or leaves the field out.
        key, crt = self.fresh("tty")
        master, slave = os.openpty()
        try:
            p = subprocess.Popen([OFCSETUP, "-c", self.home.config, "cert", "generate",
                                  "--org=Given Org", "--out-key=" + key, "--out-cert=" + crt],
                                 stdin=slave, stdout=subprocess.PIPE, stderr=slave)
            os.close(slave)
            slave = None
            answers = b"tty.example.com\nMail Unit\n\nBavaria\nde\nhostmaster@example.com\n"
            os.write(master, answers)
            # The questions, until ofcsetup exits and the terminal reads EIO.
            seen = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            out, _ = p.communicate(timeout=30)
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)
        self.assertEqual(p.returncode, 0, seen.decode(errors="replace"))
        self.assertIn(b"Common Name", seen)
        self.assertIn(b"Contact e-mail", seen)
        self.assertNotIn(b"Organization (", seen)  # given on the command line
        subject = openssl("x509", "-in", crt, "-noout", "-subject", "-nameopt",
                          "RFC2253").stdout.strip()
        self.assertEqual(subject, "subject=emailAddress=hostmaster@example.com,"
                                  "CN=tty.example.com,OU=Mail Unit,O=Given Org,ST=Bavaria,C=DE")

    def test_refusals(self):
        key, crt = self.fresh("bad")
        cases = [
            (["--cn=John Smith"], 1, "not a host name"),
            (["--cn=a.example", "--country=USA"], 1, "two letters"),
            (["--cn=a.example", "--country=1A"], 1, "two letters"),
            (["--cn=a.example", "--email=nobody"], 1, "--email"),
            (["--cn=a.example", "--days=0"], 2, "--days"),
            (["--cn=a.example", "--key-type=dsa"], 2, "--key-type"),
            (["--cn=a.example", "--csr"], 2, "--out-csr"),
            (["--cn=a.example", "--csr", "--days=10"], 2, "--days"),
            (["--cn=a.example", "--protocol=imap"], 2, "does not apply"),
        ]
        for extra, code, needle in cases:
            with self.subTest(extra=extra):
                r = self.cert("generate", "--out-key=" + key, "--out-cert=" + crt, *extra)
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertOneLineError(r, needle)
                self.assertFalse(os.path.exists(key))
                self.assertFalse(os.path.exists(crt))
        r = self.cert("generate", "--cn=a.example", "--out-cert=" + crt)
        self.assertEqual(r.returncode, 2)
        self.assertOneLineError(r, "--out-key")
        # An existing key is never replaced.
        old_key, old_crt = self.generate()
        before = read(old_key)
        r = self.cert("generate", "--cn=a.example", "--out-key=" + old_key, "--out-cert=" + crt)
        self.assertOneLineError(r, "exists")
        self.assertEqual(read(old_key), before)
        self.assertFalse(os.path.exists(crt))


class StoreTest(CertBase):
    def installed(self, protocol, ext):
        return os.path.join(self.tls, "%s.%s" % (protocol, ext))

    def assert_owner(self, path):
        if os.geteuid() == 0:
            st = os.stat(path)
            self.assertEqual((st.st_uid, st.st_gid), (self.home.uid, self.home.gid), path)

    def test_store_and_show(self):
        key, crt = self.generate(cn="imap.example.com")
        r = self.cert("store", "--protocol=imap,pop3", "--key=" + key, "--cert=" + crt)
        self.assertOk(r)
        self.assertIn("refresh process IMAP4SRV", r.stdout)
        self.assertIn("refresh process POP3SRV", r.stdout)
        self.assertEqual(mode(self.tls), 0o750)
        self.assert_owner(self.tls)
        for p in ("imap", "pop3"):
            self.assertEqual(read(self.installed(p, "crt")), read(crt))
            self.assertEqual(read(self.installed(p, "key")), read(key))
            self.assertEqual(mode(self.installed(p, "crt")), 0o644)
            self.assertEqual(mode(self.installed(p, "key")), 0o600)
            self.assert_owner(self.installed(p, "crt"))
            self.assert_owner(self.installed(p, "key"))
            self.assertFalse(os.path.exists(self.installed(p, "pass")))
        # No temporary files are left behind.
        self.assertEqual([f for f in os.listdir(self.tls) if f.startswith(".")], [])
        r = self.cert("show", "--protocol=imap")
        self.assertOk(r)
        self.assertIn("imap: " + self.installed("imap", "crt"), r.stdout)
        self.assertIn("CN=imap.example.com", r.stdout)
        self.assertIn("(self-signed)", r.stdout)
        self.assertIn("DNS:imap.example.com", r.stdout)
        self.assertIn(fingerprint(crt), r.stdout)
        self.assertNotIn("pop3:", r.stdout)

    def test_store_with_password(self):
        pw = self.password_file("store.pass", "St0re-secret\r\nnot this\n")
        key, crt = self.generate("--key-password-file=" + pw, cn="lmtp.example.com")
        r = self.cert("store", "--protocol=lmtp", "--key=" + key, "--cert=" + crt,
                      "--key-password-file=" + pw)
        self.assertOk(r)
        self.assertNotIn("St0re-secret", r.stdout + r.stderr)
        passfile = self.installed("lmtp", "pass")
        self.assertEqual(read(passfile), "St0re-secret\n")
        self.assertEqual(mode(passfile), 0o600)
        self.assert_owner(passfile)
        r = self.cert("show", "--protocol=lmtp")
        self.assertIn("encrypted", r.stdout)
        # Replacing it by an unencrypted key removes the old password file.
        key2, crt2 = self.generate(cn="lmtp.example.com")
        self.assertOk(self.cert("store", "--protocol=lmtp", "--key=" + key2, "--cert=" + crt2))
        self.assertFalse(os.path.exists(passfile))
        self.assertEqual(read(self.installed("lmtp", "crt")), read(crt2))

    def test_refusals(self):
        pw = self.password_file("ref.pass", "Right-pass\n")
        wrong = self.password_file("wrong.pass", "Wrong-pass\n")
        ekey, ecrt = self.generate("--key-password-file=" + pw)
        key, crt = self.generate()
        cases = [
            (["--key=" + key, "--cert=" + ecrt], 1, "does not belong to the certificate"),
            (["--key=" + ekey, "--cert=" + ecrt, "--key-password-file=" + wrong], 1,
             "wrong password"),
            (["--key=" + ekey, "--cert=" + ecrt], 1, "encrypted and there is no password file"),
            (["--key=" + key, "--cert=" + self.path("missing.crt")], 1, "no such file"),
            (["--key=" + key, "--cert=" + key], 1, "cannot read the certificate"),
        ]
        for extra, code, needle in cases:
            with self.subTest(extra=extra):
                r = self.cert("store", "--protocol=pop3", *extra)
                self.assertEqual(r.returncode, code, r.stderr)
                line = self.assertOneLineError(r, needle)
                self.assertNotIn("Wrong-pass", line)
                self.assertNotIn("Right-pass", line)
                self.assertFalse(os.path.exists(self.installed("pop3", "crt")))
        for extra, needle in ((["--protocol=smtp"], "unknown protocol"),
                              ([], "--protocol")):
            r = self.cert("store", "--key=" + key, "--cert=" + crt, *extra)
            self.assertEqual(r.returncode, 2)
            self.assertOneLineError(r, needle)

    def dated_pair(self, name, not_before, not_after):
        """A key and self-signed certificate with the given validity."""
        try:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509.oid import NameOID
        except ImportError:
            self.skipTest("python3-cryptography is not installed")
        k = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        c = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
             .public_key(k.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(not_before).not_valid_after(not_after)
             .sign(k, hashes.SHA256()))
        key, crt = self.path(name + ".key"), self.path(name + ".crt")
        with open(key, "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        with open(crt, "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.PEM))
        return key, crt

    def test_expired_refused_and_expiring_warned(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        key, crt = self.dated_pair("old.example", now - datetime.timedelta(days=60),
                                   now - datetime.timedelta(days=1))
        r = self.cert("store", "--protocol=imap", "--key=" + key, "--cert=" + crt)
        self.assertEqual(r.returncode, 1)
        self.assertOneLineError(r, "expired")
        key, crt = self.dated_pair("soon.example", now - datetime.timedelta(days=1),
                                   now + datetime.timedelta(days=10))
        r = self.cert("store", "--protocol=imap", "--key=" + key, "--cert=" + crt)
        self.assertOk(r)
        self.assertIn("expires soon", r.stderr)
        self.assertEqual(read(self.installed("imap", "crt")), read(crt))


class LmtpStartTlsTest(TestCase):
    """The lmtp certificate stored by ofcsetup is the one ofclmtpd presents."""

    def test_starttls_presents_stored_certificate(self):
        node = Node()
        try:
            self.run_with(node)
        finally:
            node.close()

    def presented(self, port):
        """The server certificate ofclmtpd shows after STARTTLS (PEM)."""
        r = openssl("s_client", "-starttls", "lmtp", "-connect", "127.0.0.1:%d" % port,
                    "-showcerts", input="")
        pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
                        r.stdout, re.S)
        self.assertIsNotNone(pem, r.stdout + r.stderr)
        return pem.group(0)

    def run_with(self, node):
        h = node.home
        work = os.path.join(h.dir, "work")
        os.makedirs(work)
        pw = os.path.join(work, "lmtp.pass")
        with open(pw, "w") as f:
            f.write("Lmtp-key-pass\n")
        key, crt = os.path.join(work, "k.pem"), os.path.join(work, "c.pem")
        self.assertOk(node.ofcsetup("cert", "generate", "--cn=localhost", "--org=Test",
                                    "--key-password-file=" + pw, "--out-key=" + key,
                                    "--out-cert=" + crt))
        self.assertOk(node.ofcsetup("cert", "store", "--protocol=lmtp", "--key=" + key,
                                    "--cert=" + crt, "--key-password-file=" + pw))
        port = pgcluster.free_port()
        pid = node.value("SELECT id FROM process WHERE type = 'LMTP'")
        for name, value in (("LmtpPort", str(port)), ("LmtpTls", "1")):
            node.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                     " VALUES (:'p1', 'LMTP', :'p2', :'p3')", pid, name, value)
        err = open(os.path.join(h.dir, "ofclmtpd-cert.stderr"), "wb")

        def demote():
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(h.gid)
                os.setuid(h.uid)
        proc = subprocess.Popen([os.path.join(BIN_DIR, "ofclmtpd"), "-c", h.config, "-f"],
                                stdout=err, stderr=err, preexec_fn=demote)
        try:
            def up():
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return True
                except OSError:
                    if proc.poll() is not None:
                        raise AssertionError("ofclmtpd exited with %d" % proc.returncode)
                    return False
            wait_until(up, 20, what="ofclmtpd listening")
            self.assertEqual(self.presented(port), read(crt))
            # A new certificate, stored and refreshed, is presented from then on.
            key2, crt2 = os.path.join(work, "k2.pem"), os.path.join(work, "c2.pem")
            self.assertOk(node.ofcsetup("cert", "generate", "--cn=localhost", "--org=Second",
                                        "--out-key=" + key2, "--out-cert=" + crt2))
            r = node.ofcsetup("cert", "store", "--protocol=lmtp", "--key=" + key2,
                              "--cert=" + crt2)
            self.assertOk(r)
            self.assertIn("refresh process LMTP;", r.stdout)
            self.assertOk(node.oomgr("refresh process LMTP;\n"))
            wait_until(lambda: self.presented(port) == read(crt2), 20,
                       what="ofclmtpd presenting the new certificate")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            err.close()
        with open(err.name, "rb") as f:
            text = f.read().decode(errors="replace")
        self.assertNotIn("Sanitizer", text)
        self.assertNotIn("Lmtp-key-pass", text)
        logs = ""
        for name in os.listdir(h.log_dir):
            if "lmtp" in name:
                with open(os.path.join(h.log_dir, name), errors="replace") as f:
                    logs += f.read()
        self.assertIn("STARTTLS offered with " + os.path.join(h.dir, "etc", "tls", "lmtp.crt"),
                      logs)
        self.assertNotIn("Lmtp-key-pass", logs)


if __name__ == "__main__":
    unittest.main()
