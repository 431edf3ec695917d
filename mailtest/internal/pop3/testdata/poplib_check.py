"""Drive the POP3 server with Python's poplib and print what it saw as JSON.

Usage: poplib_check.py HOST PORT USER PASSWORD
"""
import json
import poplib
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
p = poplib.POP3(host, port, timeout=10)
out = {"welcome": p.getwelcome().decode()}
out["capa"] = sorted(p.capa().keys())
out["user"] = p.user(user).decode()
out["pass"] = p.pass_(password).decode()
out["stat"] = list(p.stat())
resp, listing, _ = p.list()
out["list"] = [l.decode() for l in listing]
resp, uidls, _ = p.uidl()
out["uidl"] = [l.decode() for l in uidls]
out["retr"] = []
for i in range(1, len(listing) + 1):
    resp, lines, octets = p.retr(i)
    # poplib strips CRLF and unstuffs; rejoin to compare with the original.
    out["retr"].append({"resp": resp.decode(), "body": "\r\n".join(l.decode() for l in lines) + "\r\n"})
resp, lines, _ = p.top(1, 1)
out["top"] = [l.decode() for l in lines]
out["dele"] = p.dele(1).decode()
out["stat_after_dele"] = list(p.stat())
out["quit"] = p.quit().decode()
print(json.dumps(out))
