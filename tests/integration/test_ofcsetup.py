"""ofcsetup: create-node (embedded and --connect), re-runs, status, upgrade,
drop-node, and the errors an administrator must be able to trust."""
import os
import pwd
import stat
import unittest

import ofctest
from ofctest import Node, TestCase, pgcluster

MANAGED_TYPES = None


def table_counts(node):
    tables = ["node", "community", "domain", "dir_object", "account", "mailbox",
              "process", "schema_version", "admin_grant", "subscription"]
    return {t: node.value("SELECT count(*) FROM %s" % t) for t in tables}


class EmbeddedNodeTest(TestCase):
    """The README's path: a node from nothing in its own private cluster."""

    def test_create_reuse_drop(self):
        node = Node(embedded=True, demo_user=("demo", "Demo-pass-1"))
        try:
            home = node.home
            self.assertTrue(os.path.isfile(os.path.join(home.pgdata, "PG_VERSION")))
            # Unix socket only: no TCP listener.
            self.assertEqual(node.value("SELECT current_setting('listen_addresses') = ''"), "t")
            self.assertTrue(os.path.exists(os.path.join(home.socket_dir, ".s.PGSQL.5432")))
            if os.geteuid() == 0:
                owner = pwd.getpwuid(os.stat(home.pgdata).st_uid).pw_name
                self.assertEqual(owner, "ofcmail")
                # The server runs unprivileged.
                pid = int(open(os.path.join(home.pgdata, "postmaster.pid")).readline())
                self.assertNotEqual(os.stat("/proc/%d" % pid).st_uid, 0)
                # Nobody else can reach the socket directory.
                mode = stat.S_IMODE(os.stat(home.socket_dir).st_mode)
                self.assertEqual(mode & 0o007, 0)

            self.assertEqual(node.sql("SELECT name, is_local FROM node"), [["ESNODE", "t"]])
            self.assertEqual(node.value("SELECT fqdn FROM domain WHERE parent_id IS NULL"), "com")
            self.assertEqual(int(node.value("SELECT max(version) FROM schema_version")),
                             ofctest.latest_migration())
            self.assertEqual(int(node.value("SELECT count(*) FROM schema_version")),
                             ofctest.migration_count())
            accounts = node.sql(
                "SELECT o.name, a.password_hash LIKE '$y$%' FROM dir_object o "
                "JOIN account a ON a.object_id = o.id ORDER BY lower(o.name)")
            self.assertEqual(accounts, [["ADMIN", "t"], ["demo", "t"], ["ORAPOST", "t"]])
            # Every account has its INBOX.
            self.assertEqual(node.value(
                "SELECT count(*) FROM account a WHERE NOT EXISTS "
                "(SELECT 1 FROM mailbox b WHERE b.account_id = a.object_id AND b.name = 'INBOX')"),
                "0")
            # ADMIN administers the top domain.
            self.assertEqual(node.value(
                "SELECT d.fqdn FROM admin_grant g JOIN dir_object o ON o.id = g.account_id "
                "JOIN domain d ON d.id = g.domain_id WHERE o.name = 'ADMIN'"), "com")
            # One registered instance of each process type the Guardian runs.
            self.assertEqual(node.sql(
                "SELECT t.name FROM process_type t WHERE t.managed AND NOT EXISTS "
                "(SELECT 1 FROM process p WHERE p.type = t.name AND p.instance = 1)"), [])

            st = node.ofcsetup("status")
            self.assertOk(st, "status")
            self.assertIn("ESNODE", st.stdout)
            self.assertIn("COM", st.stdout)

            # Running it again reuses the node and changes nothing.
            before = table_counts(node)
            created = node.value("SELECT created_at FROM node")
            again = node.create()
            self.assertIn("already exists", again.stdout + again.stderr)
            self.assertEqual(table_counts(node), before)
            self.assertEqual(node.value("SELECT created_at FROM node"), created)

            # stop-db / start-db control the embedded cluster.
            self.assertOk(node.ofcsetup("stop-db"), "stop-db")
            self.assertFalse(os.path.exists(os.path.join(home.pgdata, "postmaster.pid")))
            self.assertNotEqual(node.ofcsetup("status").returncode, 0)
            self.assertOk(node.ofcsetup("start-db"), "start-db")
            self.assertOk(node.ofcsetup("status"), "status after start-db")

            # drop-node refuses without confirmation when there is no terminal.
            r = node.ofcsetup("drop-node")
            self.assertNotEqual(r.returncode, 0)
            self.assertTrue(os.path.exists(home.pgdata))
            self.assertOk(node.ofcsetup("drop-node", "--yes"), "drop-node")
            self.assertFalse(os.path.exists(home.pgdata))
        finally:
            node.close()


class ConnectNodeTest(TestCase):
    """ofcsetup create-node --connect=... against an existing database."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(create=False)

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def setUp(self):
        # Each test starts from an empty database.
        self.node.cluster.psql("DROP DATABASE IF EXISTS ofcmail WITH (FORCE)")
        self.node.cluster.psql("CREATE DATABASE ofcmail")

    def ofcsetup_connect(self, conninfo, *args, env=None):
        e = {"OFC_ADMIN_PASSWORD": ofctest.ADMIN_PASSWORD}
        if env:
            e.update(env)
        return self.node.ofcsetup("--connect=" + conninfo, *args, env=e)

    def schema_exists(self):
        return self.node.value("SELECT count(*) FROM pg_namespace WHERE nspname = 'ofc'") == "1"

    def test_create_rerun_upgrade_status(self):
        r = self.ofcsetup_connect(self.node.conninfo, "create-node", "--node=mynode",
                                  "--domain=Example.ORG", "--domain-description=Example Org",
                                  "--time-zone=Europe/Paris")
        self.assertOk(r, "create-node")
        # The password of the conninfo is never printed.
        self.assertNotIn(pgcluster.SUPERUSER_PASSWORD, r.stdout + r.stderr)
        self.assertEqual(self.node.sql("SELECT name, time_zone FROM node WHERE is_local"),
                         [["MYNODE", "Europe/Paris"]])
        self.assertEqual(self.node.sql("SELECT fqdn, description FROM domain"),
                         [["example.org", "Example Org"]])
        # The node's own conninfo (what other nodes use) keeps no password.
        self.assertNotIn("password", self.node.value("SELECT conninfo FROM node"))
        self.assertEqual(self.node.value(
            "SELECT password_hash IS NULL FROM account a JOIN dir_object o ON o.id = a.object_id "
            "WHERE o.name = 'ORAPOST'"), "t")

        before = table_counts(self.node)
        r = self.ofcsetup_connect(self.node.conninfo, "create-node")
        self.assertOk(r, "second create-node")
        self.assertEqual(table_counts(self.node), before)

        r = self.ofcsetup_connect(self.node.conninfo, "upgrade")
        self.assertOk(r, "upgrade")
        self.assertEqual(table_counts(self.node), before)

        r = self.ofcsetup_connect(self.node.conninfo, "status")
        self.assertOk(r, "status")
        self.assertIn("MYNODE", r.stdout)
        self.assertIn("EXAMPLE.ORG", r.stdout)
        self.assertIn(str(ofctest.latest_migration()), r.stdout)

        r = self.ofcsetup_connect(self.node.conninfo, "drop-node", "--yes")
        self.assertOk(r, "drop-node")
        self.assertFalse(self.schema_exists())
        r = self.ofcsetup_connect(self.node.conninfo, "status")
        self.assertEqual(r.returncode, 3, r.stderr)

    def test_wrong_password(self):
        bad = self.node.cluster.conninfo(dbname="ofcmail", password="not-the-password")
        r = self.ofcsetup_connect(bad, "create-node")
        line = self.assertOneLineError(r, "password")
        self.assertNotIn("not-the-password", line)
        self.assertFalse(self.schema_exists())

    def test_wrong_port(self):
        c = self.node.cluster
        bad = "host=127.0.0.1 port=%d dbname=ofcmail user=%s password=%s connect_timeout=5" % (
            pgcluster.free_port(), pgcluster.SUPERUSER, pgcluster.SUPERUSER_PASSWORD)
        r = self.ofcsetup_connect(bad, "create-node")
        self.assertOneLineError(r, "connect")
        bad = "host=%s port=%d dbname=ofcmail" % (c.sockdir, c.port + 1)
        r = self.ofcsetup_connect(bad, "create-node")
        self.assertOneLineError(r, "connect")
        self.assertFalse(self.schema_exists())

    def test_missing_privileges(self):
        c = self.node.cluster
        c.psql("DROP ROLE IF EXISTS weak; CREATE ROLE weak LOGIN PASSWORD 'weak-pw'")
        c.psql("REVOKE CREATE ON DATABASE ofcmail FROM PUBLIC")
        weak = c.conninfo(dbname="ofcmail", user="weak", password="weak-pw")
        r = self.ofcsetup_connect(weak, "create-node")
        self.assertOneLineError(r, "permission denied")
        self.assertFalse(self.schema_exists())
        c.psql("DROP ROLE weak")

    def test_failure_after_migrations_leaves_nothing(self):
        # The migrations succeed, then the node cannot be made: the whole
        # transaction must roll back, migrations included.
        r = self.ofcsetup_connect(self.node.conninfo, "create-node", "--time-zone=Mars/Olympus")
        self.assertOneLineError(r, "time zone")
        self.assertFalse(self.schema_exists())
        r = self.ofcsetup_connect(self.node.conninfo, "create-node", "--domain=bad domain")
        self.assertOneLineError(r, "domain")
        self.assertFalse(self.schema_exists())

    def test_no_admin_password(self):
        r = self.node.ofcsetup("--connect=" + self.node.conninfo, "create-node")
        self.assertOneLineError(r, "--admin-password")
        self.assertFalse(self.schema_exists())

    def test_newer_schema_refused(self):
        self.assertOk(self.ofcsetup_connect(self.node.conninfo, "create-node"))
        self.node.sql("INSERT INTO schema_version (version, name) VALUES (999, 'future')")
        r = self.ofcsetup_connect(self.node.conninfo, "upgrade")
        self.assertOneLineError(r, "newer")

    def test_usage(self):
        r = ofctest.run([os.path.join(ofctest.BIN_DIR, "ofcsetup"), "--help"])
        self.assertOk(r, "--help")
        for cmd in ("create-node", "upgrade", "status", "drop-node"):
            self.assertIn(cmd, r.stdout)
        r = ofctest.run([os.path.join(ofctest.BIN_DIR, "ofcsetup"), "frobnicate"])
        self.assertEqual(r.returncode, 2)
        r = ofctest.run([os.path.join(ofctest.BIN_DIR, "ofcsetup"), "-c", "/nonexistent.conf",
                         "status"])
        self.assertOneLineError(r, "/nonexistent.conf")


if __name__ == "__main__":
    unittest.main()
