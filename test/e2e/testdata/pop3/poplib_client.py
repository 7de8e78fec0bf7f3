# Python's poplib (an independent POP3 client) against the real suite:
# USER/PASS, TOP, UIDL, LIST, RETR of every message, DELE + RSET (nothing
# deleted), APOP, STLS with DELE + QUIT (message 1 deleted), pop3s.
# Prints one JSON object; the Go test compares it with what it delivered.
import base64, json, poplib, ssl, sys

host, port, sport, user, pw, cafile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
ctx = ssl.create_default_context(cafile=cafile)
out = {}

def b64(lines):
    return base64.b64encode(b"".join(l + b"\r\n" for l in lines)).decode()

p = poplib.POP3(host, port, timeout=15)
p.user(user)
p.pass_(pw)
out["stat"] = list(p.stat())
out["list"] = [l.decode() for l in p.list()[1]]
out["uidl"] = [l.decode() for l in p.uidl()[1]]
out["uidl2"] = p.uidl(2).decode()
out["top"] = b64(p.top(1, 1)[1])
out["retr"] = []
for i in range(1, out["stat"][0] + 1):
    resp, lines, octets = p.retr(i)
    out["retr"].append(b64(lines))
p.dele(1)
out["stat_after_dele"] = list(p.stat())
p.rset()
out["quit_rset"] = p.quit().decode()

p = poplib.POP3(host, port, timeout=15)
p.apop(user, pw)
out["apop_stat"] = list(p.stat())
p.quit()

p = poplib.POP3(host, port, timeout=15)
p.stls(ctx)
p.user(user)
p.pass_(pw)
p.dele(1)
out["quit_dele"] = p.quit().decode()

p = poplib.POP3_SSL(host, sport, context=ctx, timeout=15)
p.user(user)
p.pass_(pw)
out["ssl_stat"] = list(p.stat())
out["ssl_uidl"] = [l.decode() for l in p.uidl()[1]]
p.quit()
print(json.dumps(out))
