"""The directory statements of oomgr: insert, modify, delete and disp of
domains, persons, rooms, equipment, aliases, distribution lists, locations,
organizations, roles and templates; add/remove/disp member; who may do what
(an ADMIN of a domain administers it and the domains below it); the
Installation Guide's sequence as printed; and the batching of scripts
(statements share a transaction, each in a savepoint: the first error stops
a script, what came before it stays committed, nothing after it runs).

Every statement runs on stdin and from a script. Bad input gets one line on
stderr and changes nothing, which the tests check in the database itself.
Few persons are made: yescrypt is slow on purpose.
"""
import os
import pty
import select
import shutil
import subprocess
import tempfile
import time
import unittest

import ofctest
from ofctest import Node, TestCase

PW = ofctest.ADMIN_PASSWORD
OOMGR = os.path.join(ofctest.BIN_DIR, "oomgr")

# Everything the directory statements may change, as one comparable value.
SNAPSHOT_SQL = """
SELECT md5(concat_ws('|',
  (SELECT string_agg(concat_ws(',', id, parent_id, fqdn, confignode_id, description), ';'
                     ORDER BY id) FROM domain),
  (SELECT string_agg(concat_ws(',', id, domain_id, class, name, description, owner_id), ';'
                     ORDER BY id) FROM dir_object),
  (SELECT string_agg(concat_ws(',', object_id, home_node_id, password_hash, quota_bytes,
                               first_name, last_name, location_id, organization_id,
                               manager_id, disabled), ';' ORDER BY object_id) FROM account),
  (SELECT string_agg(concat_ws(',', object_id, target_object_id, target_address), ';'
                     ORDER BY object_id) FROM alias),
  (SELECT string_agg(concat_ws(',', dl_id, member_object_id, member_address), ';'
                     ORDER BY 1) FROM dl_member),
  (SELECT string_agg(concat_ws(',', role_id, account_id), ';' ORDER BY 1) FROM role_assignment),
  (SELECT string_agg(concat_ws(',', object_id, subject, body), ';' ORDER BY 1) FROM template),
  (SELECT string_agg(concat_ws(',', account_id, domain_id), ';' ORDER BY 1) FROM admin_grant),
  (SELECT count(*) FROM mailbox)))
"""

# Every directory statement once (on stdin and as a script, in two domains).
SCENARIO = """\
-- Every directory statement, in the session's domain.
insert location hq description="Head office";
insert organization sales;
insert role vp;
insert person kent password=Kent-pw-1 firstname=Clark lastname=Kent quota=100M
    location=hq organization=sales;
insert person lois password=Lois-pw-1 firstname=Lois lastname=Lane manager=kent roles=vp;
insert room boardroom quota=1G location=hq;
insert equipment projector description="Beamer";
insert alias ck target=kent;
insert alias ext target=Someone@Example.ORG;
insert dl staff member=kent,lois;
insert dl all member="staff, ext@example.org" description="Everyone";
insert template welcome subject="Welcome" body="Hello,\\nwelcome.";
insert template notes subject="My notes" owner=kent;
modify person kent quota=2G description="Reporter";
modify person lois newname=lane;
modify room boardroom quota=unlimited;
modify equipment projector description="Old beamer";
modify alias ck target=lane;
modify dl staff description="The staff";
modify location hq newname=headquarters;
modify organization sales description="Sales dept";
modify role vp description="Vice presidents";
modify template welcome subject="Welcome aboard";
modify template notes owner=kent body="draft";
add member projector location=headquarters;
add member kent role=vp;
remove member lane role=vp;
add member ck dl=staff;
remove member ck dl=staff;
disp person;
disp room;
disp equipment;
disp alias;
disp dl;
disp location;
disp organization;
disp role;
disp template;
disp template owner=kent format=csv;
disp member dl=all;
disp member dl=staff;
disp member location=headquarters;
disp member role=vp format=csv;
delete template notes owner=kent;
delete template welcome;
delete alias ext;
delete equipment projector;
delete dl all;
delete organization sales cascade;
delete role vp cascade;
delete room boardroom;
disp domain;
"""

SCENARIO_STDOUT = "Inserted successfully.\n" * 13 + "Modified successfully.\n" * 11 + """\
Added successfully.
Added successfully.
Removed successfully.
Added successfully.
Removed successfully.
Username First Name Last Name Node       Quota Location     Organization Manager Roles Description
-------- ---------- --------- ------ --------- ------------ ------------ ------- ----- -----------
kent     Clark      Kent      ESNODE        2G headquarters sales                vp    Reporter
lane     Lois       Lane      ESNODE unlimited                           kent
Name      Node       Quota Location     Organization Description
--------- ------ --------- ------------ ------------ -----------
boardroom ESNODE unlimited headquarters
Name      Node       Quota Location     Organization Description
--------- ------ --------- ------------ ------------ -----------
projector ESNODE unlimited headquarters              Old beamer
Name Target              Description
---- ------------------- -----------
ck   lane@every-X.com
ext  Someone@example.org
Name  Description
----- -----------
all   Everyone
staff The staff
Name         Description
------------ -----------
headquarters Head office
Name  Description
----- -----------
sales Sales dept
Name Description
---- ---------------
vp   Vice presidents
Name    Type   Owner Subject        Description Body
------- ------ ----- -------------- ----------- ---------------
welcome PUBLIC       Welcome aboard             Hello, welcome.
Name,Type,Owner,Subject,Description,Body
notes,PRIVATE,kent@every-X.com,My notes,,draft
Member            Class
----------------- -------
staff@every-X.com DL
ext@example.org   ADDRESS
Member           Class
---------------- ------
kent@every-X.com PERSON
lane@every-X.com PERSON
Member                Class
--------------------- ---------
boardroom@every-X.com ROOM
kent@every-X.com      PERSON
projector@every-X.com EQUIPMENT
Member,Class
kent@every-X.com,PERSON
""" + "Deleted successfully.\n" * 8 + """\
Domain      Parent Config Node Description
----------- ------ ----------- -----------
every-X.com com    ESNODE
"""

# Bad input, one statement each, after BAD_SETUP in the session's domain:
# (statement, what its one error line says). None of them changes anything.
BAD_SETUP = """\
insert domain qualifiedname=sub.DOMAIN description="A subdomain";
insert location hq;
insert role vp;
insert person kent password=Kent-pw-1 lastname=Kent location=hq;
insert person sub1 password=Sub-pw-1 domain=sub.DOMAIN;
insert room boardroom;
insert equipment projector;
insert alias ck target=kent;
insert dl staff member=kent;
insert dl all member=staff;
insert template t1 subject=Hi;
"""

BAD_INPUT = [
    # domain
    ("insert domain;", "insert domain: missing qualifiedname"),
    ("insert domain qualifiedname=x.example.org;", "x.example.org is not directly below DOMAIN"),
    ("insert domain qualifiedname=sub.DOMAIN;", "a domain sub.DOMAIN already exists"),
    ("insert domain qualifiedname=new.DOMAIN confignode=NONODE;", "no node named NONODE"),
    ("insert domain qualifiedname=new.DOMAIN owner=me;",
     "unknown keyword 'owner' for insert domain"),
    ("insert domain qualifiedname=bad..DOMAIN;", "invalid domain name"),
    ("modify domain qualifiedname=nowhere.org description=x;", "unknown domain 'nowhere.org'"),
    ("modify domain sub.DOMAIN confignode=NONODE;", "no node named NONODE"),
    ("modify domain;", "modify domain: nothing to change"),
    ("delete domain qualifiedname=DOMAIN;", "this session is connected to it"),
    ("delete domain qualifiedname=sub.DOMAIN;", "domain sub.DOMAIN is not empty"),
    ("delete domain qualifiedname=com cascade;", "this session is connected to it or below it"),
    ("disp domain color=red;", "unknown keyword 'color' for disp domain"),
    # person
    ("insert person password=Pw-1;", "insert person: missing username"),
    ("insert person username=new1;", "insert person: missing password="),
    ("insert person username=new1 password=\"\";", "a person needs a password"),
    ("insert person username=kent password=Pw-1;", "an object named 'kent' already exists in DOMAIN"),
    ("insert person username=KENT password=Pw-1;", "an object named 'kent' already exists"),
    ("insert person username=ck password=Pw-1;", "an object named 'ck' already exists in DOMAIN (ALIAS)"),
    ("insert person username=new1 password=Pw-1 uanode=NONODE;", "no node named NONODE"),
    ("insert person username=new1 password=Pw-1 quota=12Q;", "quota must be a size"),
    ("insert person username=new1 password=Pw-1 location=nowhere;",
     "no object named 'nowhere' in DOMAIN"),
    ("insert person username=new1 password=Pw-1 location=kent;",
     "kent@DOMAIN is a PERSON, not a LOCATION"),
    ("insert person username=new1 password=Pw-1 roles=vp,nobody;",
     "no object named 'nobody' in DOMAIN"),
    ("insert person username=new1 password=Pw-1 role=vp roles=vp;", "give role= or roles="),
    ("insert person username=new1@nowhere.org password=Pw-1;", "unknown domain 'nowhere.org'"),
    ("insert person username=new1 password=Pw-1 domain=nowhere.org;",
     "unknown domain 'nowhere.org'"),
    ("insert person username=new1@sub.DOMAIN password=Pw-1 domain=DOMAIN;",
     "new1@sub.DOMAIN names domain sub.DOMAIN, but domain= says DOMAIN"),
    ("insert person username=\"new one\" password=Pw-1;", "invalid name 'new one'"),
    ("insert person username=new1 password=Pw-1 shoesize=9;",
     "unknown keyword 'shoesize' for insert person"),
    ("insert person username=new1 username=new2 password=Pw-1;", "username given twice"),
    ("modify person username=ghost lastname=X;", "no person named 'ghost' in DOMAIN"),
    ("modify person username=ck lastname=X;", "ck@DOMAIN is an alias, not a person"),
    ("modify person username=kent;", "modify person: nothing to change"),
    ("modify person username=kent newname=ck;", "an object named 'ck' already exists"),
    ("modify person username=kent manager=kent;", "cannot be its own manager"),
    ("modify person username=kent disabled=maybe;", "disabled must be yes/no, not 'maybe'"),
    ("delete person username=ghost;", "no person named 'ghost' in DOMAIN"),
    ("delete person username=kent;",
     "cannot delete kent@DOMAIN (PERSON): referenced by ALIAS ck@DOMAIN (alias target), "
     "DL staff@DOMAIN (list member); delete with cascade"),
    ("delete person username=ADMIN@com;", "cannot delete ADMIN@com: this session is logged in as it"),
    ("disp person shoesize=9;", "unknown keyword 'shoesize' for disp person"),
    ("disp person format=xml;", "format must be table/csv, not 'xml'"),
    ("disp person domain=nowhere.org;", "unknown domain 'nowhere.org'"),
    # room, equipment
    ("insert room;", "insert room: missing name"),
    ("insert room name=boardroom;", "an object named 'boardroom' already exists"),
    ("insert room name=r2 manager=kent;", "unknown keyword 'manager' for insert room"),
    ("modify room name=projector quota=1G;", "projector@DOMAIN is an equipment, not a room"),
    ("delete equipment name=boardroom;", "boardroom@DOMAIN is a room, not an equipment"),
    # alias
    ("insert alias name=a2;", "insert alias: missing target="),
    ("insert alias name=a2 target=ghost;", "no object named 'ghost' in DOMAIN"),
    ("insert alias name=a2 target=ghost@sub.DOMAIN;", "no object named 'ghost' in sub.DOMAIN"),
    ("insert alias name=kent target=staff;", "an object named 'kent' already exists"),
    ("modify alias name=ghost target=kent;", "no alias named 'ghost' in DOMAIN"),
    ("modify alias name=ck target=ck;", "an alias cannot point to itself"),
    ("modify alias name=ck;", "modify alias: nothing to change"),
    ("delete alias name=staff;", "staff@DOMAIN is a distribution list, not an alias"),
    # lists and members
    ("insert dl name=staff;", "an object named 'staff' already exists"),
    ("insert dl name=new member=kent,ghost;", "no object named 'ghost' in DOMAIN"),
    ("add member kent dl=staff;", "kent is already a member of staff@DOMAIN"),
    ("add member kent dl=ghost;", "no distribution list named 'ghost' in DOMAIN"),
    ("add member kent;", "add member: missing the list or group"),
    ("add member kent dl=staff role=vp;", "give one of dl=, location=, organization=, role="),
    ("add member staff dl=staff;", "staff@DOMAIN cannot be a member of itself"),
    ("add member lois,ghost dl=staff;", "no object named 'lois' in DOMAIN"),
    ("remove member someone@example.org dl=staff;", "someone@example.org is not a member"),
    ("add member ck location=hq;", "ck@DOMAIN is a ALIAS, not an account"),
    ("add member kent location=hq;", "kent@DOMAIN is already a member of hq@DOMAIN"),
    ("remove member kent role=vp;", "kent@DOMAIN is not a member of vp@DOMAIN"),
    ("add member sub1@sub.DOMAIN role=ghost;", "no role named 'ghost' in DOMAIN"),
    ("disp member dl=kent;", "kent@DOMAIN is a person, not a distribution list"),
    ("delete dl name=staff;", "referenced by DL all@DOMAIN (list member)"),
    ("delete location name=hq;", "referenced by PERSON kent@DOMAIN (location)"),
    ("modify location name=hq newname=vp;", "an object named 'vp' already exists"),
    # templates
    ("insert template name=t1;", "an object named 't1' already exists"),
    ("insert template name=t2 owner=ghost;", "no object named 'ghost' in DOMAIN"),
    ("insert template name=t2 owner=ck;", "ck@DOMAIN is a ALIAS, not a PERSON"),
    ("modify template name=ghost subject=x;", "no public template named 'ghost' in DOMAIN"),
    ("modify template name=t1;", "modify template: nothing to change"),
    ("delete template name=t1 owner=kent;", "kent has no private template named 't1'"),
    # the language
    ("insert frobnicator name=x;", "unknown object 'frobnicator' for insert"),
    ("insert person username=x password=y", "statement not terminated by ';'"),
]


class DirectoryCase(TestCase):
    """One node for the class; each test works in domains of its own."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        cls.tmp = tempfile.mkdtemp(prefix="ofc-dir-")

    @classmethod
    def tearDownClass(cls):
        cls.node.close()
        shutil.rmtree(cls.tmp, True)

    def snapshot(self):
        return self.node.value(SNAPSHOT_SQL)

    def script(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def make_domain(self, fqdn):
        r = self.node.oomgr("insert domain qualifiedname=%s;\n" % fqdn)
        self.assertOk(r)
        return fqdn

    def objects(self, fqdn):
        return self.node.sql("SELECT o.name, o.class FROM dir_object o JOIN domain d"
                             " ON d.id = o.domain_id WHERE d.fqdn = :'p1' ORDER BY 2, 1", fqdn)

    def run_both(self, text, tag, **kw):
        """Runs text on stdin in domain <tag>-a.com and as a script in
        <tag>-b.com; returns the results with the domain's name replaced by
        <tag>-X.com (as long: tables keep their widths) and the script's
        path by 'stdin'."""
        out = []
        for mode, letter in (("stdin", "a"), ("script", "b")):
            fqdn = self.make_domain("%s-%s.com" % (tag, letter))
            body = text.replace("DOMAIN", fqdn)
            if mode == "stdin":
                r = self.node.oomgr(body, login="ADMIN//" + fqdn, **kw)
            else:
                path = self.script("%s.ofc" % tag, body)
                r = self.node.oomgr("", "@" + path, login="ADMIN//" + fqdn, **kw)
                r.stderr = r.stderr.replace(path + ":", "stdin:")
            r.stdout = r.stdout.replace(fqdn, "%s-X.com" % tag)
            r.stderr = r.stderr.replace(fqdn, "%s-X.com" % tag)
            r.fqdn = fqdn
            out.append(r)
        return out


class StatementTest(DirectoryCase):
    def test_every_statement_both_modes(self):
        self.maxDiff = None
        for r in self.run_both(SCENARIO, "every"):
            self.assertOk(r)
            self.assertEqual(r.stderr, "")
            self.assertEqual(r.stdout, SCENARIO_STDOUT)
            self.assertEqual(self.objects(r.fqdn), [
                ["ck", "ALIAS"], ["staff", "DL"], ["headquarters", "LOCATION"],
                ["kent", "PERSON"], ["lane", "PERSON"]])
        # What the statements wrote, as the database holds it.
        rows = self.node.sql(
            "SELECT o.name, a.first_name, a.last_name, a.quota_bytes, a.password_hash LIKE '$y$%',"
            " (SELECT count(*) FROM mailbox m WHERE m.account_id = o.id)"
            " FROM dir_object o JOIN account a ON a.object_id = o.id JOIN domain d"
            " ON d.id = o.domain_id WHERE d.fqdn = 'every-a.com' ORDER BY 1")
        self.assertEqual(rows, [["kent", "Clark", "Kent", str(2 << 30), "t", "5"],
                                ["lane", "Lois", "Lane", None, "t", "5"]])
        # A person made by oomgr can log in with the password it was given.
        r = self.node.oomgr("whoami\n", login="lane//every-b.com", password="Lois-pw-1")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Login: lane Node: ESNODE Domain: EVERY-B.COM\n")
        # Passwords are secrets: never in the log, masked in the statement logged.
        log = open(os.path.join(self.node.home.log_dir, "oomgr.log")).read()
        self.assertIn("insert person username=kent password=*** firstname=Clark", log)
        self.assertIn("(kent@every-a.com)", log)
        self.assertNotIn("Kent-pw-1", log)
        self.assertNotIn("Lois-pw-1", log)

    def test_bad_input(self):
        """Each bad statement: one clear line, exit 1, nothing changed."""
        fqdn = self.make_domain("bad.com")
        setup = BAD_SETUP.replace("DOMAIN", fqdn)
        r = self.node.oomgr(setup, login="ADMIN//" + fqdn)
        self.assertOk(r)
        before = self.snapshot()
        for stmt, err in BAD_INPUT:
            text = stmt.replace("DOMAIN", fqdn)
            r = self.node.oomgr(text + "\n", login="ADMIN//" + fqdn)
            line = self.assertOneLineError(r)
            self.assertEqual(r.returncode, 1, text)
            self.assertEqual(r.stdout, "", text)
            self.assertTrue(line.startswith("stdin:1: "), line)
            self.assertIn(err.replace("DOMAIN", fqdn), line, text)
            self.assertEqual(self.snapshot(), before, "%s changed the directory" % text)
        # The same statements in one script with --continue: each fails on
        # its own line, in one batch of savepoints, and still nothing changes.
        text = "".join(s.replace("DOMAIN", fqdn) + "\n" for s, _ in BAD_INPUT[:-1])
        path = self.script("bad.ofc", text)
        r = self.node.oomgr("", "--continue", "@" + path, login="ADMIN//" + fqdn)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), len(BAD_INPUT) - 1, r.stderr)
        for i, (line, (stmt, err)) in enumerate(zip(lines, BAD_INPUT)):
            self.assertTrue(line.startswith("%s:%d: " % (path, i + 1)), line)
            self.assertIn(err.replace("DOMAIN", fqdn), line, stmt)
        self.assertEqual(self.snapshot(), before)

    def test_installation_guide(self):
        """The guide's sequence, typed as printed (its line break included)."""
        n = self.node
        script = ("whoami\n"
                  "insert domain qualifiedname=guide.com\n"
                  "confignode=ESNODE description=\"Guide Corporation\";\n"
                  "connect admin/%s/ofctest/guide.com\n"
                  "whoami\n"
                  "insert person username=username password=password uanode=ESNODE;\n"
                  "exit\n" % PW)
        for run in ("stdin", "script"):
            if run == "script":
                # Again from a script, for a second domain, with the node name as the service.
                script = script.replace("guide.com", "guide2.com").replace("/ofctest/", "/ESNODE/")
                r = n.oomgr("", "@" + self.script("guide.ofc", script))
                domain = "GUIDE2.COM"
            else:
                r = n.oomgr(script)
                domain = "GUIDE.COM"
            self.assertOk(r)
            self.assertEqual(r.stderr, "")
            self.assertEqual(r.stdout,
                             "Login: ADMIN Node: ESNODE Domain: COM\n"
                             "Inserted successfully.\n"
                             "Connected.\n"
                             "Login: ADMIN Node: ESNODE Domain: %s\n"
                             "Inserted successfully.\n" % domain)
            self.assertEqual(n.sql(
                "SELECT d.fqdn, p.fqdn, d.description, o.name, m.name FROM domain d"
                " JOIN domain p ON p.id = d.parent_id JOIN dir_object o ON o.domain_id = d.id"
                " JOIN mailbox m ON m.account_id = o.id AND m.name = 'INBOX'"
                " WHERE d.fqdn = :'p1'", domain.lower()),
                [[domain.lower(), "com", "Guide Corporation", "username", "INBOX"]])
            # The test user logs in to the new domain.
            r = n.oomgr("whoami\n", login="username//" + domain.lower(), password="password")
            self.assertOk(r)
            self.assertEqual(r.stdout, "Login: username Node: ESNODE Domain: %s\n" % domain)
        r = n.oomgr("disp domain guide*;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout.splitlines()[2:], [
            "guide.com  com    ESNODE      Guide Corporation",
            "guide2.com com    ESNODE      Guide Corporation"])


class ScopeTest(DirectoryCase):
    """An ADMIN of a domain administers it and its children, not its
    siblings or parents."""

    def test_admin_scope(self):
        n = self.node
        for fqdn in ("mid.com", "side.com"):
            self.make_domain(fqdn)
        r = n.oomgr("insert person jdoe password=Jdoe-pw-1;\n")
        self.assertOk(r)
        r = n.oomgr("insert domain low.mid.com;\ninsert person boss password=Boss-pw-1;\n",
                    login="ADMIN//mid.com")
        self.assertOk(r)
        n.sql("INSERT INTO admin_grant (account_id, domain_id)"
              " SELECT o.id, d.id FROM dir_object o, domain d"
              " WHERE o.name = 'boss' AND d.fqdn = 'mid.com'")
        boss = {"login": "boss//mid.com", "password": "Boss-pw-1"}
        before = self.snapshot()
        # Parent and sibling: refused, whichever way they are named.
        for stmt in ("insert person p1@com password=Pw-1;",
                     "insert person p1 password=Pw-1 domain=side.com;",
                     "insert alias a1@side.com target=boss@mid.com;",
                     "disp person domain=com;",
                     "disp domain domain=side.com;",
                     "modify domain qualifiedname=com description=mine;",
                     "delete domain qualifiedname=side.com;",
                     "modify person jdoe@com lastname=Doe;",
                     "insert dl d1@com;"):
            r = n.oomgr(stmt + "\n", **boss)
            line = self.assertOneLineError(r, "insufficient privileges: boss does not administer")
            self.assertTrue(line.endswith("domain COM") or line.endswith("domain SIDE.COM"), line)
        # The session's own domain and the child: allowed.
        r = n.oomgr("insert person p1 password=Pw-1;\n"
                    "insert person p2@low.mid.com password=Pw-1;\n"
                    "insert dl team member=p1,p2@low.mid.com;\n"
                    "insert domain qualifiedname=new.mid.com;\n"
                    "disp domain format=csv;\n", **boss)
        self.assertOk(r)
        self.assertEqual(r.stdout, "Inserted successfully.\n" * 4 +
                         "Domain,Parent,Config Node,Description\n"
                         "mid.com,com,ESNODE,\n"
                         "low.mid.com,mid.com,ESNODE,\n"
                         "new.mid.com,mid.com,ESNODE,\n")
        # Logged in to the child directly; a location there cannot take a
        # member from the parent's sibling.
        r = n.oomgr("whoami\ninsert location lab;\nadd member p2 location=lab;\n",
                    login="boss//low.mid.com", password="Boss-pw-1")
        self.assertOk(r)
        self.assertIn("Domain: LOW.MID.COM", r.stdout)
        r = n.oomgr("add member jdoe@com location=lab;\n", login="boss//low.mid.com",
                    password="Boss-pw-1")
        self.assertOneLineError(r, "insufficient privileges: boss does not administer domain COM")
        # A person without any grant administers nothing, not even its own domain.
        r = n.oomgr("disp person;\n", login="jdoe", password="Jdoe-pw-1")
        self.assertOneLineError(r, "insufficient privileges: jdoe does not administer domain COM")
        self.assertNotEqual(self.snapshot(), before)
        self.assertEqual(n.value("SELECT count(*) FROM dir_object o JOIN domain d"
                                 " ON d.id = o.domain_id WHERE d.fqdn IN ('com', 'side.com')"
                                 " AND o.name IN ('p1', 'a1')"), "0")


class ListingTest(DirectoryCase):
    def test_wildcards_and_csv(self):
        fqdn = self.make_domain("list.com")
        r = self.node.oomgr("insert person ckent password=Pw-1 firstname=Clark lastname=Kent;\n"
                            "insert person lkent password=Pw-2 firstname=Lara lastname=Kent"
                            " description=\"Krypton, once\";\n"
                            "insert person llane password=Pw-3 firstname=Lois lastname=Lane;\n"
                            "insert alias superman target=ckent;\n"
                            "insert alias lex target=lex@luthor.example;\n",
                            login="ADMIN//" + fqdn)
        self.assertOk(r)
        cases = [
            ("disp person lastname=Kent;", ["ckent", "lkent"]),
            ("disp person lastname=kent;", ["ckent", "lkent"]),
            ("disp person lastname=K*;", ["ckent", "lkent"]),
            ("disp person username=?kent;", ["ckent", "lkent"]),
            ("disp person *lane;", ["llane"]),
            ("disp person firstname=L* lastname=Kent;", ["lkent"]),
            ("disp person firstname=L?is;", ["llane"]),
            ("disp person lastname=Ken;", []),
            ("disp person description=*krypton*;", ["lkent"]),
            ("disp alias target=*@*.example;", ["lex"]),
            ("disp alias s*;", ["superman"]),
        ]
        for stmt, names in cases:
            r = self.node.oomgr(stmt + "\n", login="ADMIN//" + fqdn)
            self.assertOk(r)
            if names:
                self.assertEqual([l.split()[0] for l in r.stdout.splitlines()[2:]], names, stmt)
            else:
                self.assertEqual(r.stdout, "no rows selected\n", stmt)
        # CSV: a header, RFC 4180 quoting, empty when nothing matches.
        r = self.node.oomgr("disp person lastname=Kent format=csv;\n"
                            "disp person lastname=nobody format=csv;\n", login="ADMIN//" + fqdn)
        self.assertOk(r)
        self.assertEqual(r.stdout,
                         "Username,First Name,Last Name,Node,Quota,Location,Organization,"
                         "Manager,Roles,Description\n"
                         "ckent,Clark,Kent,ESNODE,unlimited,,,,,\n"
                         "lkent,Lara,Kent,ESNODE,unlimited,,,,,\"Krypton, once\"\n"
                         "Username,First Name,Last Name,Node,Quota,Location,Organization,"
                         "Manager,Roles,Description\n")

    def test_members_nested_and_cascade(self):
        n = self.node
        fqdn = self.make_domain("lists.com")
        login = {"login": "ADMIN//" + fqdn}
        r = n.oomgr("insert person kent password=Pw-1;\n"
                    "insert person lois password=Pw-2 manager=kent;\n"
                    "insert alias ck target=kent;\n"
                    "insert dl inner member=kent;\n"
                    "insert dl middle member=inner;\n"
                    "insert dl outer;\n"
                    "add member middle,ck,Friend@Example.org dl=outer;\n"
                    "add member lois dl=inner;\n"
                    "remove member friend@example.ORG dl=outer;\n"
                    "disp member dl=outer format=csv;\n"
                    "disp member dl=inner format=csv;\n", **login)
        self.assertOk(r)
        self.assertEqual(r.stdout.split("\n", 9)[-1],
                         "Member,Class\n"
                         "ck@%s,ALIAS\nmiddle@%s,DL\n"
                         "Member,Class\n"
                         "kent@%s,PERSON\nlois@%s,PERSON\n" % ((fqdn,) * 4))
        # The nesting resolves: outer reaches kent and lois (through middle,
        # inner and the alias), kent once.
        rows = n.sql("WITH RECURSIVE x(id) AS (SELECT id FROM dir_object WHERE name = 'outer'"
                     " UNION SELECT coalesce(m.member_object_id, al.target_object_id)"
                     " FROM x LEFT JOIN dl_member m ON m.dl_id = x.id"
                     " LEFT JOIN alias al ON al.object_id = x.id"
                     " WHERE coalesce(m.member_object_id, al.target_object_id) IS NOT NULL)"
                     " SELECT o.name FROM x JOIN account a ON a.object_id = x.id"
                     " JOIN dir_object o ON o.id = x.id ORDER BY 1")
        self.assertEqual(rows, [["kent"], ["lois"]])
        # Deleting what others refer to is refused, the referrers named...
        before = self.snapshot()
        r = n.oomgr("delete person kent;\n", **login)
        self.assertOneLineError(
            r, "cannot delete kent@%s (PERSON): referenced by ALIAS ck@%s (alias target), "
               "DL inner@%s (list member), PERSON lois@%s (manager); delete with cascade"
               % ((fqdn,) * 4))
        r = n.oomgr("delete dl inner;\n", **login)
        self.assertOneLineError(r, "referenced by DL middle@%s (list member)" % fqdn)
        self.assertEqual(self.snapshot(), before)
        # ...and cascade removes the references: the alias goes, the
        # memberships and the manager are cleared.
        r = n.oomgr("delete person kent cascade;\ndisp member dl=outer;\n"
                    "disp person lois format=csv;\n", **login)
        self.assertOk(r)
        width = len("middle@" + fqdn)
        self.assertEqual(r.stdout.splitlines(), [
            "Deleted successfully.",
            "Member".ljust(width) + " Class",
            "-" * width + " -----",
            "middle@%s DL" % fqdn,
            "Username,First Name,Last Name,Node,Quota,Location,Organization,Manager,Roles,"
            "Description",
            "lois,,,ESNODE,unlimited,,,,,"])
        self.assertEqual([o[0] for o in self.objects(fqdn)], ["inner", "middle", "outer", "lois"])
        # A non-empty domain goes only with cascade, subtree and all.
        r = n.oomgr("insert domain sub.%s;\ninsert person deep@sub.%s password=Pw-3;\n"
                    % (fqdn, fqdn), **login)
        self.assertOk(r)
        r = n.oomgr("delete domain sub.%s;\n" % fqdn)
        self.assertOneLineError(r, "domain sub.%s is not empty: objects deep (PERSON)" % fqdn)
        r = n.oomgr("delete domain lists.com cascade;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Deleted successfully.\n")
        self.assertEqual(n.value("SELECT count(*) FROM domain WHERE fqdn LIKE '%lists.com'"), "0")


class BatchTest(DirectoryCase):
    """Scripts and stdin run their directory statements in batches."""

    def names(self, fqdn):
        return [o[0] for o in self.objects(fqdn)]

    def test_error_in_the_middle(self):
        n = self.node
        text = ("insert person b1 password=Pw-1;\n"
                "insert dl list1 member=b1;\n"
                "-- the dl fails after creating itself: its savepoint undoes that\n"
                "insert dl list2 member=b1,ghost;\n"
                "insert person b3 password=Pw-3;\n")
        for batch in ("500", "1", "2"):
            for mode in ("stdin", "script"):
                fqdn = self.make_domain("mid%s-%s.com" % (batch, mode))
                if mode == "stdin":
                    r = n.oomgr(text, "--batch=" + batch, login="ADMIN//" + fqdn)
                    where = "stdin"
                else:
                    where = self.script("mid.ofc", text)
                    r = n.oomgr("", "--batch=" + batch, "@" + where, login="ADMIN//" + fqdn)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stdout, "Inserted successfully.\n" * 2)
                self.assertEqual(r.stderr, "%s:4: no object named 'ghost' in %s\n" % (where, fqdn))
                # Before the error: committed. The failing one and after: not.
                self.assertEqual(self.names(fqdn), ["list1", "b1"], (batch, mode))
        # --continue: every statement runs; the failing one alone is undone.
        fqdn = self.make_domain("midc.com")
        r = n.oomgr(text, "--continue", login="ADMIN//" + fqdn)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "Inserted successfully.\n" * 3)
        self.assertEqual(self.names(fqdn), ["list1", "b1", "b3"])

    def test_batch_boundaries_and_other_statements(self):
        n = self.node
        fqdn = self.make_domain("bounds.com")
        # Batches of 2; a session statement and a parse error between batchable ones.
        text = ("insert location l1;\n"
                "insert location l2;\n"
                "insert location l3;\n"
                "whoami\n"
                "insert location l4;\n"
                "insert location l5 colour=red;\n"
                "insert location l6;\n")
        path = self.script("bounds.ofc", text)
        r = n.oomgr("", "--batch=2", "@" + path, login="ADMIN//" + fqdn)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "Inserted successfully.\n" * 3 +
                         "Login: ADMIN Node: ESNODE Domain: BOUNDS.COM\n"
                         "Inserted successfully.\n")
        self.assertEqual(r.stderr, "%s:6: unknown keyword 'colour' for insert location "
                                   "(it takes: name, member, description, domain)\n" % path)
        self.assertEqual(self.names(fqdn), ["l1", "l2", "l3", "l4"])
        # A later statement sees what an earlier one of its batch did.
        fqdn = self.make_domain("sees.com")
        r = n.oomgr("insert role r1;\ninsert person s1 password=Pw-1 roles=r1;\n"
                    "modify role r1 newname=r2;\ndisp person format=csv;\n",
                    login="ADMIN//" + fqdn)
        self.assertOk(r)
        self.assertTrue(r.stdout.endswith("s1,,,ESNODE,unlimited,,,,r2,\n"), r.stdout)
        r = n.oomgr("", "--batch=0")
        self.assertOneLineError(r, "--batch must be a number from 1 to 100000")
        self.assertEqual(r.returncode, 2)

    def test_pipe_answers_each_statement(self):
        """A program feeding statements one at a time over a pipe gets each
        answer before it sends the next: batching never waits for input."""
        fqdn = self.make_domain("pipe.com")
        env = dict(os.environ, OFC_OOMGR_PASSWORD=PW)
        p = subprocess.Popen([OOMGR, "-c", self.node.home.config, "ADMIN//" + fqdn],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        try:
            for i in range(3):
                p.stdin.write("insert location p%d;\n" % i)
                p.stdin.flush()
                r, _, _ = select.select([p.stdout], [], [], 20)
                self.assertTrue(r, "no answer to statement %d while stdin stays open" % i)
                self.assertEqual(p.stdout.readline(), "Inserted successfully.\n")
            p.stdin.close()
            self.assertEqual(p.wait(timeout=20), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(self.names(fqdn), ["p0", "p1", "p2"])

    def test_terminal_one_transaction_each_no_password_in_history(self):
        fqdn = self.make_domain("tty.com")
        home = tempfile.mkdtemp(prefix="ofc-dir-home-")
        self.addCleanup(shutil.rmtree, home, True)
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover (child)
            env = dict(os.environ, HOME=home, TERM="xterm", OFC_OOMGR_PASSWORD=PW)
            try:
                os.execve(OOMGR, ["oomgr", "-c", self.node.home.config, "ADMIN//" + fqdn], env)
            finally:
                os._exit(127)

        def read_until(pattern, timeout=20):
            buf = b""
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                r, _, _ = select.select([fd], [], [], 0.2)
                if not r:
                    continue
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                buf += data
                if pattern.encode() in buf:
                    return buf.decode(errors="replace")
            self.fail("no %r from oomgr; got %r" % (pattern, buf))

        try:
            read_until("IOFCMGR> ")
            os.write(fd, b"insert person hist1 password=Secret-123 lastname=Hist;\n")
            self.assertIn("Inserted successfully.", read_until("IOFCMGR> "))
            # An error at the terminal does not end the session nor undo the last statement.
            os.write(fd, b"insert person hist1 password=Other-456;\n")
            self.assertIn("oomgr: an object named 'hist1' already exists",
                          read_until("IOFCMGR> "))
            os.write(fd, b"disp person hist*;\n")
            self.assertIn("hist1", read_until("IOFCMGR> "))
            os.write(fd, b"exit\n")
            _, status = os.waitpid(pid, 0)
            pid = 0
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        finally:
            if pid:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            os.close(fd)
        # libedit writes blanks as \040.
        text = open(os.path.join(home, ".oomgr_history")).read().replace("\\040", " ")
        self.assertIn("disp person hist*;", text)
        self.assertNotIn("Secret-123", text)
        self.assertNotIn("Other-456", text)
        self.assertNotIn("password", text)
        self.assertEqual(self.names(fqdn), ["hist1"])


if __name__ == "__main__":
    unittest.main()
