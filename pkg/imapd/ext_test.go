package imapd

import (
	"bufio"
	"compress/flate"
	"io"
	"net"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// quotaServer is a server with QUOTA on and a user limited to 10 KiB and
// 3 messages, holding the two test messages.
func quotaServer(t *testing.T) *testServer {
	ts := newTestServer(t, Config{Quota: true})
	ts.mu.Lock()
	ts.quotaRules = []string{"*:storage=10K:messages=3"}
	ts.mu.Unlock()
	ts.deliver(t, "INBOX", testDate, msg1, msg2)
	return ts
}

func rawSession(t *testing.T, ts *testServer) *imapRunner {
	c := ts.dial(t)
	r := &imapRunner{t: t, w: c, br: bufio.NewReader(c)}
	if l, err := r.br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* PREAUTH") {
		t.Fatalf("greeting %q, %v", l, err)
	}
	return r
}

func TestQuota(t *testing.T) {
	ts := quotaServer(t)
	r := rawSession(t, ts)
	steps := []struct {
		name, cmd string
		untagged  []string
		done      string
	}{
		{"capability", "CAPABILITY", nil, "OK"},
		// RFC 9208 §4.3's example, on cote's single root.
		{"getquotaroot", "GETQUOTAROOT INBOX", []string{`* QUOTAROOT INBOX "User quota"`, `* QUOTA "User quota" (STORAGE 1 10 MESSAGE 2 3)`}, "OK Getquotaroot completed."},
		{"getquotaroot other", "GETQUOTAROOT Trash", []string{`* QUOTAROOT Trash "User quota"`, `* QUOTA "User quota" (STORAGE 1 10 MESSAGE 2 3)`}, "OK"},
		{"getquotaroot missing", "GETQUOTAROOT Nope", nil, "NO [NONEXISTENT]"},
		{"getquota", `GETQUOTA "User quota"`, []string{`* QUOTA "User quota" (STORAGE 1 10 MESSAGE 2 3)`}, "OK Getquota completed."},
		{"getquota unknown", `GETQUOTA "other"`, nil, "NO [NONEXISTENT]"},
		// RFC 9208 §4.1's example: refused, limits are configuration.
		{"setquota", `SETQUOTA "User quota" (STORAGE 512)`, nil, "NO [NOPERM]"},
		{"setquota syntax", `SETQUOTA "User quota" (STORAGE)`, nil, "BAD"},
		{"status deleted-storage", "STATUS INBOX (MESSAGES DELETED DELETED-STORAGE)", []string{`* STATUS INBOX (MESSAGES 2 DELETED 0 DELETED-STORAGE 0)`}, "OK"},
		{"select", "SELECT INBOX", nil, "OK"},
		{"store deleted", `STORE 2 +FLAGS.SILENT (\Deleted)`, nil, "OK"},
		{"status deleted-storage after", "STATUS INBOX (DELETED DELETED-STORAGE)", []string{`* STATUS INBOX (DELETED 1 DELETED-STORAGE 0)`}, "OK"},
		{"copy fits", "COPY 1 Trash", nil, "OK"},
		// Three messages: a fourth breaks the MESSAGE limit.
		{"copy over quota", "COPY 1 Trash", nil, "NO [OVERQUOTA]"},
		{"append over quota", "APPEND Trash {5+}\r\nHi\r\n", nil, "NO [OVERQUOTA]"},
	}
	for _, st := range steps {
		lines, done := r.cmd(st.cmd)
		if !strings.Contains(done, " "+st.done) {
			t.Errorf("%s: done %q, want %q (untagged %q)", st.name, done, st.done, lines)
		}
		if st.name == "capability" {
			for _, c := range []string{" QUOTA ", " QUOTA=RES-STORAGE ", " QUOTA=RES-MESSAGE "} {
				if len(lines) != 1 || !strings.Contains(lines[0]+" ", c) {
					t.Errorf("capability %q lacks %q", lines, c)
				}
			}
			continue
		}
		for _, want := range st.untagged {
			if !contains(lines, want) {
				t.Errorf("%s: untagged %q lack %q", st.name, lines, want)
			}
		}
	}
}

func TestQuotaOff(t *testing.T) {
	ts := newTestServer(t, Config{})
	ts.deliver(t, "INBOX", testDate, msg1)
	r := rawSession(t, ts)
	lines, _ := r.cmd("CAPABILITY")
	if strings.Contains(lines[0], "QUOTA") || strings.Contains(lines[0], "COMPRESS") {
		t.Errorf("capability %q advertises a disabled extension", lines[0])
	}
	for _, cmd := range []string{"GETQUOTAROOT INBOX", `GETQUOTA ""`, `SETQUOTA "" ()`, "COMPRESS DEFLATE", "STATUS INBOX (DELETED-STORAGE)"} {
		if _, done := r.cmd(cmd); !strings.Contains(done, " BAD ") {
			t.Errorf("%s: %q, want BAD", cmd, done)
		}
	}
}

// deflateConn is the client side of COMPRESS=DEFLATE.
type deflateConn struct {
	net.Conn
	zr io.ReadCloser
	zw *flate.Writer
}

func (d *deflateConn) Read(p []byte) (int, error) { return d.zr.Read(p) }
func (d *deflateConn) Write(p []byte) (int, error) {
	n, err := d.zw.Write(p)
	if err == nil {
		err = d.zw.Flush()
	}
	return n, err
}

func TestCompress(t *testing.T) {
	ts := newTestServer(t, Config{Compress: true})
	ts.deliver(t, "INBOX", testDate, msg1, msg2)
	c := ts.dial(t)
	br := bufio.NewReader(c)
	r := &imapRunner{t: t, w: c, br: br}
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	lines, _ := r.cmd("CAPABILITY")
	if !strings.Contains(lines[0], " COMPRESS=DEFLATE") {
		t.Fatalf("capability %q", lines[0])
	}
	if _, done := r.cmd("COMPRESS FOO"); !strings.Contains(done, " NO ") {
		t.Fatalf("unknown mechanism: %q", done)
	}
	if _, done := r.cmd("COMPRESS DEFLATE"); done != "t3 OK Begin compression." {
		t.Fatalf("compress: %q", done)
	}
	if br.Buffered() != 0 {
		t.Fatalf("data after the OK arrived uncompressed: %d bytes", br.Buffered())
	}
	zw, _ := flate.NewWriter(c, flate.BestSpeed)
	dc := &deflateConn{Conn: c, zr: flate.NewReader(br), zw: zw}
	r = &imapRunner{t: t, w: dc, br: bufio.NewReader(dc), n: r.n}
	lines, done := r.cmd("CAPABILITY")
	if !strings.Contains(done, "OK") || strings.Contains(lines[0], "COMPRESS") {
		t.Fatalf("compressed capability %q %q", lines, done)
	}
	if _, done := r.cmd("COMPRESS DEFLATE"); !strings.Contains(done, "NO [COMPRESSIONACTIVE]") {
		t.Fatalf("second compress: %q", done)
	}
	if _, done := r.cmd("SELECT INBOX"); !strings.Contains(done, "OK") {
		t.Fatal(done)
	}
	// A response larger than the session's buffer, then a small one:
	// each arrives whole without the client sending anything more.
	lines, done = r.cmd("FETCH 1:2 (BODY.PEEK[] BODY.PEEK[])")
	if !strings.Contains(done, "OK") || len(lines) < 2 {
		t.Fatalf("fetch: %q %q", lines, done)
	}
	if _, done := r.cmd("NOOP"); !strings.Contains(done, "OK") {
		t.Fatal(done)
	}
	// Pipelined commands in one compressed write.
	if _, err := io.WriteString(dc, "p1 NOOP\r\np2 SORT (SUBJECT) UTF-8 ALL\r\n"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "p2 ") {
		l, err := r.br.ReadString('\n')
		if err != nil {
			t.Fatalf("pipelined: %v after %q", err, got)
		}
		got = append(got, strings.TrimRight(l, "\r\n"))
	}
	if !contains(got, "* SORT 2 1") {
		t.Errorf("pipelined answers %q", got)
	}
	if _, done := r.cmd("LOGOUT"); !strings.Contains(done, "OK") {
		t.Fatal(done)
	}
}

// TestCompressPipelined: data sent before the OK cannot be told from
// compressed data, so COMPRESS with more input behind it is refused.
func TestCompressPipelined(t *testing.T) {
	ts := newTestServer(t, Config{Compress: true})
	c := ts.dial(t)
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "a COMPRESS DEFLATE\r\nb NOOP\r\n"); err != nil {
		t.Fatal(err)
	}
	r := &imapRunner{t: t, w: c, br: br}
	for _, want := range []string{"a BAD", "b OK"} {
		l, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, want) {
			t.Fatalf("got %q, %v; want %q", l, err, want)
		}
	}
	if _, done := r.cmd("NOOP"); !strings.Contains(done, "OK") {
		t.Fatal(done)
	}
}

// TestGoIMAPSortThreadQuota uses go-imap v2's client for SORT, THREAD
// and GETQUOTAROOT.
func TestGoIMAPSortThreadQuota(t *testing.T) {
	ts := newTestServer(t, Config{Quota: true})
	ts.mu.Lock()
	ts.quotaRules = []string{"*:storage=1M"}
	ts.mu.Unlock()
	deliverCorpus(t, ts, readCorpus(t))
	c := imapclient.New(ts.dial(t), nil)
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	for _, capName := range []goimap.Cap{"SORT", "THREAD=REFERENCES", "QUOTA"} {
		if !c.Caps().Has(capName) {
			t.Errorf("missing capability %s", capName)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	nums, err := c.Sort(&imapclient.SortOptions{
		SearchCriteria: &goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "lunch"}}},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeyDate, Reverse: true}},
	}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{32, 29, 28, 17, 7, 6, 5}; !equalNums(nums, want) {
		t.Errorf("sort = %v, want %v", nums, want)
	}
	threads, err := c.UIDThread(&imapclient.ThreadOptions{Algorithm: "REFERENCES", SearchCriteria: &goimap.SearchCriteria{
		Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "lunch"}}}}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	// (5 (6 29)(17))(32 (7)(28)), as Dovecot answers it.
	if len(threads) != 2 || !equalNums(threads[0].Chain, []uint32{5}) || len(threads[0].SubThreads) != 2 ||
		!equalNums(threads[0].SubThreads[0].Chain, []uint32{6, 29}) || !equalNums(threads[1].Chain, []uint32{32}) {
		t.Errorf("thread = %+v", threads)
	}
	qs, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].Root != "User quota" || qs[0].Resources[goimap.QuotaResourceStorage].Limit != 1024 {
		t.Errorf("quota = %+v", qs)
	}
}

func equalNums(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
