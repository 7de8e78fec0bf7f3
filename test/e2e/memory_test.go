package e2e

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// largeMailScript: N clients (Python imaplib, threads) each APPEND a
// message with a base64 attachment of SIZE bytes at once, then each
// FETCHes BODY[] and BINARY[2] of one of them at once, and every answer
// must be OK with the right length.
const largeMailScript = `
import imaplib, threading, sys, base64
host, port, user, pw, n, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
att = bytes(range(256)) * (size // 256)
b64 = base64.encodebytes(att).replace(b"\n", b"\r\n")
msg = (b"Subject: large\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
       b"--b\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n"
       b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--b--\r\n")
errors = []
def run(fn):
    ts = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    [t.start() for t in ts]
    [t.join() for t in ts]
def save(i):
    try:
        c = imaplib.IMAP4(host, port); c.login(user, pw)
        typ, data = c.append("INBOX", None, None, msg)
        if typ != "OK": errors.append("APPEND %r" % data)
        c.logout()
    except Exception as e:
        errors.append("APPEND %s" % e)
def fetch(i):
    try:
        c = imaplib.IMAP4(host, port); c.login(user, pw); c.select("INBOX", readonly=True)
        typ, data = c.fetch(str(i + 1), "(BODY.PEEK[] BINARY.PEEK[2])")
        if typ != "OK": errors.append("FETCH %r" % data)
        else:
            got = [len(p) for part in data if isinstance(part, tuple) for p in part[1:]]
            if sorted(got) != sorted([len(msg), len(att)]): errors.append("FETCH lengths %r" % got)
        c.logout()
    except Exception as e:
        errors.append("FETCH %s" % e)
run(save)
run(fetch)
print("\n".join(errors) if errors else "ok")
`

// TestLargeMailConcurrency: one imap process serves many sessions and its
// vsz_limit is the whole process's, so sessions saving and fetching large
// messages at once must not add them up in its heap: with vsz_limit =
// 128M, six clients APPEND a 16 MiB message each at once (the store maps
// the written file to parse it), then FETCH BODY[] (mapped) and BINARY[2]
// (decoded within the process's memory budget, taking turns) of them at
// once. Every answer is complete and no imap process dies (before, the
// process ran out of memory and every session in it was dropped).
func TestLargeMailConcurrency(t *testing.T) {
	py := testkit.RequireTool(t, "python3", "python3")
	const user = "large@example.com"
	s := startMailSuiteWith(t, `plugin {
  quota_max_mail_size = 0
}
mail_max_userip_connections = 20
service imap {
  vsz_limit = 128M
}`, user)
	host, port, _ := strings.Cut(s.Addr("imap-login", "imap"), ":")
	out, err := exec.Command(py, "-c", largeMailScript, host, port, user, userPassword(user), "6", "12000000").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("clients: %v\n%s", err, out)
	}
	if l := regexp.MustCompile(`(?m)^.*(out of memory|service imap: process exited unexpectedly).*$`).FindString(s.LogText()); l != "" {
		t.Fatalf("an imap process died: %s", l)
	}
}
