package imapd

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// qresyncScript is an independent QRESYNC client on Python's imaplib with
// raw commands: it records the state of INBOX and goes offline, another
// connection makes N random changes (flags, expunges, new mail), then it
// reselects with QRESYNC, applies VANISHED (EARLIER) and the FETCH
// responses to its record, and compares with a fresh full fetch.
const qresyncScript = `
import imaplib, random, re, sys
host, port, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
random.seed(seed)
FETCH = re.compile(rb'\d+ \((.*)\)$')

def parse_fetch(d):
    body = FETCH.match(d).group(1).decode()
    uid = int(re.search(r'UID (\d+)', body).group(1))
    flags = frozenset(re.search(r'FLAGS \(([^)]*)\)', body).group(1).split()) - {'\\Recent'}
    m = re.search(r'MODSEQ \((\d+)\)', body)
    return uid, flags, int(m.group(1)) if m else None

def uidset(s):
    out = set()
    for part in s.split(','):
        a, _, b = part.partition(':')
        out.update(range(int(a), int(b or a) + 1))
    return out

def full(c):
    typ, data = c.uid('FETCH', '1:*', '(FLAGS)')
    assert typ == 'OK', data
    return {u: f for u, f, _ in (parse_fetch(d) for d in data if d)}

def connect():
    c = imaplib.IMAP4(host, port)
    typ, data = c._simple_command('ENABLE', 'QRESYNC')
    assert typ == 'OK', data
    return c

# Online: the client's record.
a = connect()
typ, data = a._simple_command('SELECT', 'INBOX')
a.state = 'SELECTED'
uv = int(a.untagged_responses['UIDVALIDITY'][-1])
hms = int(re.search(rb'HIGHESTMODSEQ (\d+)', b' '.join(a.untagged_responses['OK'])).group(1))
state = full(a)
a.logout()

# Offline: another session changes the mailbox.
b = connect()
b.select('INBOX')
flags = ['\\Seen', '\\Flagged', '\\Answered', '\\Deleted', '$Junk']
for i in range(n):
    uids = sorted(full(b))
    op = random.random()
    if op < 0.6 and uids:
        u = random.choice(uids)
        b.uid('STORE', str(u), random.choice(['+FLAGS', '-FLAGS']), '(%s)' % random.choice(flags))
    elif op < 0.8 and uids:
        u = random.choice(uids)
        b.uid('STORE', str(u), '+FLAGS.SILENT', '(\\Deleted)')
        b.uid('EXPUNGE', str(u))
    else:
        b.append('INBOX', None, None, b'Subject: new %d\r\n\r\nbody\r\n' % i)
b.logout()

# Back online: one QRESYNC SELECT.
a = connect()
known = ','.join(str(u) for u in sorted(state)) or '1'
typ, data = a._simple_command('SELECT', 'INBOX (QRESYNC (%d %d %s))' % (uv, hms, known))
assert typ == 'OK', data
a.state = 'SELECTED'
vanished = set()
for v in a.untagged_responses.pop('VANISHED', []):
    v = v.decode()
    assert v.startswith('(EARLIER) '), v
    vanished |= uidset(v[len('(EARLIER) '):])
fetched = 0
for d in a.untagged_responses.pop('FETCH', []):
    u, f, ms = parse_fetch(d)
    assert ms is not None and ms > hms, d
    state[u] = f
    fetched += 1
for u in vanished:
    state.pop(u, None)
# New mail, as clients find it: by UID above the last one known.
last = max(state.keys() | vanished | {0})
typ, data = a.uid('FETCH', '%d:*' % (last + 1), '(FLAGS)')
for d in data:
    if d:
        u, f, _ = parse_fetch(d)
        if u > last:
            state[u] = f
truth = full(a)
assert state == truth, (sorted(state.items()), sorted(truth.items()))
a.logout()
print('ok', len(truth), len(vanished) > 0, fetched > 0)
`

func TestQResyncImaplib(t *testing.T) {
	python := testkit.RequireTool(t, "python3", "python3")
	for _, tc := range []struct {
		name    string
		msgs, n int
		seed    int
		both    bool // the changes include expunges and flag changes
	}{
		{"few changes", 20, 5, 1, false},
		{"many changes", 40, 60, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{})
			msgs := make([]string, tc.msgs)
			for i := range msgs {
				msgs[i] = fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i, i)
			}
			ts.deliver(t, "INBOX", testDate, msgs...)
			host, port, _ := net.SplitHostPort(ts.ln.Addr().String())
			out, err := exec.Command(python, "-c", qresyncScript, host, port, fmt.Sprint(tc.n), fmt.Sprint(tc.seed)).CombinedOutput()
			if err != nil {
				t.Fatalf("python3: %v\n%s", err, out)
			}
			if !strings.HasPrefix(string(out), "ok ") || (tc.both && !strings.HasSuffix(strings.TrimSpace(string(out)), "True True")) {
				t.Errorf("imaplib printed %q", out)
			}
		})
	}
}
