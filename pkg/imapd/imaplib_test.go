package imapd

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// imaplibScript drives SORT, THREAD and the QUOTA commands with Python's
// imaplib (which has sort, thread, getquota and getquotaroot) and prints
// the data it parsed, one result a line.
const imaplibScript = `
import imaplib, sys
c = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
assert c.state == 'AUTH', c.state
for cap in ('SORT', 'THREAD=REFERENCES', 'QUOTA'):
    assert cap in c.capabilities, c.capabilities
c.select('INBOX', readonly=True)
typ, data = c.sort('(REVERSE DATE)', 'UTF-8', 'SUBJECT', 'lunch')
print(typ, data[0].decode())
typ, data = c.uid('SORT', '(SUBJECT)', 'UTF-8', 'UID', '1:4')
print(typ, data[0].decode())
typ, data = c.thread('REFERENCES', 'UTF-8', 'SUBJECT', 'orphan')
print(typ, data[0].decode())
typ, data = c.getquotaroot('INBOX')
print(typ, [d.decode() for d in data[0]], [d.decode() for d in data[1]])
typ, data = c.getquota('"User quota"')
print(typ, data[0].decode())
c.logout()
print('ok')
`

func TestImaplibSortThreadQuota(t *testing.T) {
	python := testkit.RequireTool(t, "python3", "python3")
	ts := newTestServer(t, Config{Quota: true})
	ts.mu.Lock()
	ts.quotaRules = []string{"*:storage=1M:messages=100"}
	ts.mu.Unlock()
	deliverCorpus(t, ts, readCorpus(t))
	host, port, _ := net.SplitHostPort(ts.ln.Addr().String())
	out, err := exec.Command(python, "-c", imaplibScript, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	want := []string{
		"OK 32 29 28 17 7 6 5",
		"OK 1 2 3 4",
		"OK ((11)(12)(30)(31))",
		`OK ['INBOX "User quota"'] ['"User quota" (STORAGE 15 1024 MESSAGE 35 100)']`,
		`OK "User quota" (STORAGE 15 1024 MESSAGE 35 100)`,
		"ok",
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("imaplib printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
