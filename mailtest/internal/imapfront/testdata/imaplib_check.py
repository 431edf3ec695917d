"""Drive the server with Python's imaplib and print what it saw as JSON.

imaplib reads the capabilities once, from the greeting (or one CAPABILITY
right after it), and never again after LOGIN: scripts that test
'IDLE' in M.capabilities, and Python 3.14's IMAP4.idle(), rely on that.
"""
import imaplib
import json
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
M = imaplib.IMAP4(host, port)
out["capabilities"] = list(M.capabilities)
out["idle_listed"] = "IDLE" in M.capabilities
typ, data = M.xatom("ID", '("name" "imaplib" "version" "%d.%d")' % sys.version_info[:2])
out["id"] = [typ] + [d.decode() if isinstance(d, bytes) else str(d) for d in M.untagged_responses.pop("ID", [])]
M.login(user, password)
out["capabilities_after_login"] = list(M.capabilities)
typ, data = M.getquotaroot("INBOX")
out["quotaroot"] = [typ] + [[x.decode() for x in part] for part in data]
M.select("INBOX")
typ, data = M.sort("(REVERSE DATE)", "UTF-8", "ALL")
out["sort"] = [typ, data[0].decode()]
typ, data = M.uid("SORT", "(SUBJECT)", "UTF-8", "ALL")
out["uid_sort"] = [typ, data[0].decode()]
typ, data = M.thread("REFERENCES", "UTF-8", "ALL")
out["thread"] = [typ, data[0].decode()]
# IDLE by hand (imaplib before 3.14 has no idle()): "+", then DONE.
tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
out["idle_cont"] = M.readline().decode().strip()
M.send(b"DONE\r\n")
out["idle_done"] = M.readline().decode().strip()
M.logout()
print(json.dumps(out))
