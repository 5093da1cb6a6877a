"""The schema's own rules, checked in a node made by ofcsetup: what the
triggers and constraints promise every later program."""
import unittest

from ofctest import Node, TestCase


class SchemaTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        n = cls.node
        cls.node_id = n.value("SELECT id FROM node WHERE is_local")
        cls.com = n.value("SELECT id FROM domain WHERE fqdn = 'com'")

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def sql(self, q, *p):
        return self.node.sql(q, *p)

    def fails(self, q, needle):
        r = self.node.sql(q, check=False)
        self.assertNotEqual(r.returncode, 0, "should fail: " + q)
        self.assertIn(needle, r.stderr)

    def new_account(self, name):
        oid = self.node.value(
            "INSERT INTO dir_object (domain_id, class, name) VALUES (%s, 'PERSON', :'p1') "
            "RETURNING id" % self.com, name)
        self.sql("INSERT INTO account (object_id, object_class, home_node_id) "
                 "VALUES (%s, 'PERSON', %s)" % (oid, self.node_id))
        return oid

    def test_domain_hierarchy(self):
        self.sql("INSERT INTO domain (fqdn, parent_id, confignode_id) "
                 "VALUES ('acme.com', %s, %s)" % (self.com, self.node_id))
        self.fails("INSERT INTO domain (fqdn, parent_id, confignode_id) "
                   "VALUES ('acme.org', %s, %s)" % (self.com, self.node_id), "not directly below")
        self.fails("INSERT INTO domain (fqdn, confignode_id) VALUES ('UPPER.case', %s)"
                   % self.node_id, "check constraint")

    def test_address_namespace_is_case_insensitive(self):
        self.new_account("Kent")
        self.fails("INSERT INTO dir_object (domain_id, class, name) VALUES (%s, 'ALIAS', 'kent')"
                   % self.com, "duplicate key")
        # Templates have their own name space.
        self.sql("INSERT INTO dir_object (domain_id, class, name) "
                 "VALUES (%s, 'PUBLIC_TEMPLATE', 'kent')" % self.com)
        # An account's location must be a Location.
        person = self.new_account("lois")
        self.fails("UPDATE account SET location_id = %s WHERE object_id = %s" % (person, person),
                   "foreign key")

    def test_pointer_counts_and_collector(self):
        acct = self.new_account("counter")
        inbox = self.node.value("INSERT INTO mailbox (account_id, name) VALUES (%s, 'INBOX') "
                                "RETURNING id" % acct)
        other = self.node.value("INSERT INTO mailbox (account_id, name) VALUES (%s, 'Other') "
                                "RETURNING id" % acct)
        msg = self.node.value("INSERT INTO message (size, raw) VALUES (11, 'hello world') "
                              "RETURNING id")
        self.sql("INSERT INTO mailbox_pointer (mailbox_id, uid, message_id, modseq) VALUES "
                 "(%s, 1, %s, 2), (%s, 1, %s, 2)" % (inbox, msg, other, msg))
        self.assertEqual(self.node.value("SELECT refcount FROM message WHERE id = %s" % msg), "2")
        self.assertEqual(self.sql("SELECT messages, bytes FROM mailbox WHERE id = %s" % inbox),
                         [["1", "11"]])
        self.assertEqual(self.sql("SELECT bytes, messages FROM account_usage "
                                  "WHERE account_id = %s" % acct), [["22", "2"]])
        # A pointer's message never changes.
        self.fails("UPDATE mailbox_pointer SET uid = 7 WHERE mailbox_id = %s" % inbox,
                   "cannot change")
        # Deleting a mailbox releases its pointers.
        self.sql("DELETE FROM mailbox WHERE id = %s" % other)
        self.assertEqual(self.node.value("SELECT refcount FROM message WHERE id = %s" % msg), "1")
        self.assertEqual(self.node.value("SELECT count(*) FROM collector WHERE message_id = %s"
                                         % msg), "0")
        self.sql("DELETE FROM mailbox_pointer WHERE mailbox_id = %s" % inbox)
        self.assertEqual(self.node.value("SELECT refcount FROM message WHERE id = %s" % msg), "0")
        self.assertEqual(self.node.value("SELECT count(*) FROM collector WHERE message_id = %s"
                                         % msg), "1")
        self.assertEqual(self.sql("SELECT messages, bytes FROM mailbox WHERE id = %s" % inbox),
                         [["0", "0"]])
        # A queued message cannot disappear under its queue entry.
        self.sql("INSERT INTO submission (message_id, sender, recipients) "
                 "VALUES (%s, '', '{a@com}')" % msg)
        self.fails("DELETE FROM message WHERE id = %s" % msg, "foreign key")

    def test_uidvalidity_grows_on_recreate(self):
        acct = self.new_account("recreate")
        v1 = int(self.node.value("INSERT INTO mailbox (account_id, name) VALUES (%s, 'Box') "
                                 "RETURNING uidvalidity" % acct))
        self.sql("DELETE FROM mailbox WHERE account_id = %s AND name = 'Box'" % acct)
        v2 = int(self.node.value("INSERT INTO mailbox (account_id, name) VALUES (%s, 'Box') "
                                 "RETURNING uidvalidity" % acct))
        self.assertGreater(v2, v1)
        self.fails("INSERT INTO mailbox (account_id, name) VALUES (%s, 'a//b')" % acct,
                   "check constraint")

    def test_queue_insert_notifies(self):
        msg = self.node.value("INSERT INTO message (size, raw) VALUES (1, 'x') RETURNING id")
        r = self.node.sql("LISTEN ofc_submission; INSERT INTO submission (message_id, sender, "
                          "recipients) VALUES (%s, 'a@com', '{b@com,c@com}')" % msg, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('notification "ofc_submission"', r.stdout + r.stderr)
        r = self.node.sql("LISTEN ofc_remote; INSERT INTO remote (target_node_id, message_id, "
                          "sender, recipients) VALUES (%s, %s, '', '{x@y}')"
                          % (self.node_id, msg), check=False)
        self.assertIn('notification "ofc_remote" with payload "%s"' % self.node_id,
                      r.stdout + r.stderr)

    def test_parameters_tied_to_default(self):
        pid = self.node.value("SELECT id FROM process WHERE type = 'POSTMAN' AND instance = 1")
        self.assertEqual(self.sql("SELECT value, tied_to_default FROM process_parameter_effective "
                                  "WHERE process_id = %s AND name = 'LogLevel'" % pid),
                         [["info", "t"]])
        # Changing the default changes every instance still tied to it.
        self.sql("UPDATE process_type_parameter SET default_value = 'debug' "
                 "WHERE type = 'POSTMAN' AND name = 'LogLevel'")
        self.assertEqual(self.node.value("SELECT value FROM process_parameter_effective "
                                         "WHERE process_id = %s AND name = 'LogLevel'" % pid),
                         "debug")
        self.sql("INSERT INTO process_parameter VALUES (%s, 'POSTMAN', 'LogLevel', 'trace')" % pid)
        self.sql("UPDATE process_type_parameter SET default_value = 'warn' "
                 "WHERE type = 'POSTMAN' AND name = 'LogLevel'")
        self.assertEqual(self.sql("SELECT value, tied_to_default FROM process_parameter_effective "
                                  "WHERE process_id = %s AND name = 'LogLevel'" % pid),
                         [["trace", "f"]])
        self.fails("INSERT INTO process_parameter VALUES (%s, 'POSTMAN', 'BatchSize', '0')" % pid,
                   "invalid value")
        self.fails("INSERT INTO process_parameter VALUES (%s, 'POSTMAN', 'NoSuchThing', '1')"
                   % pid, "foreign key")

    def test_parameter_choices(self):
        smtp = self.node.value("SELECT id FROM process WHERE type = 'SMTP' AND instance = 1")
        lmtp = self.node.value("SELECT id FROM process WHERE type = 'LMTP' AND instance = 1")
        self.fails("INSERT INTO process_parameter VALUES (%s, 'SMTP', 'Transport', 'carrier-pigeon')"
                   % smtp, "one of: sendmail, relay")
        self.sql("INSERT INTO process_parameter VALUES (%s, 'SMTP', 'Transport', 'Relay')" % smtp)
        self.sql("INSERT INTO process_parameter VALUES (%s, 'LMTP', 'LmtpTls', 'required')" % lmtp)
        self.fails("UPDATE process_parameter SET value = 'maybe' WHERE process_id = %s"
                   " AND name = 'LmtpTls'" % lmtp, "invalid value maybe")
        self.fails("UPDATE process_type_parameter SET default_value = 'tls'"
                   " WHERE type = 'SMTP' AND name = 'RelayStartTLS'", "check constraint")


if __name__ == "__main__":
    unittest.main()
