package maildir

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/message"
	"github.com/cote-mail/cote/pkg/storage"
)

// The benchmarks of issue 4 (`make bench`; figures in the closing note):
// a 100,000-message Maildir (benchN) is built once per run in a temp
// directory by BenchmarkMailbox100k, whose sub-benchmarks share it, and
// removed when it ends. Where Dovecot's imap binary is installed, the
// Dovecot sub-benchmarks time the same operations on the same Maildir in
// PREAUTH mode, one process per iteration (so they include its start-up,
// which Dovecot/Logout measures alone).

// benchN is the mailbox size (the 100,000); -short uses 10,000.
func benchN() int {
	if testing.Short() {
		return 10000
	}
	return 100000
}

// dovecotIMAP is Debian's dovecot-imapd binary.
const dovecotIMAP = "/usr/lib/dovecot/imap"

// dovecotUID runs Dovecot, which refuses mail access as root: nobody.
const dovecotUID = 65534

// benchMsg is message i of the fixture: a real-world-shaped
// multipart/alternative message (encoded words, several addresses).
func benchMsg(i int) []byte {
	return []byte(fmt.Sprintf(`Return-Path: <list-bounces+%d@lists.example.org>
Received: from mx.example.org (mx.example.org [192.0.2.%d])
	by mail.example.net with ESMTPS id %08x
	for <user@example.net>; Tue, 3 Mar 2026 10:%02d:%02d +0100
Message-ID: <%d.%08x@mail.example.org>
Date: Tue, 3 Mar 2026 10:%02d:%02d +0100
From: =?UTF-8?Q?Ren=C3=A9_Dupont?= <rene%d@example.org>
To: "User Name" <user@example.net>, list@lists.example.org
Cc: undisclosed-recipients:;
Subject: [list] Weekly report number %d =?ISO-8859-1?Q?caf=E9?=
In-Reply-To: <%d.prev@mail.example.org>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b%d"

--b%d
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hello,

this is report %d. Figures are attached below.
Regards, Ren=C3=A9

--b%d
Content-Type: text/html; charset=utf-8

<html><body><p>Hello,</p><p>this is report %d.</p></body></html>

--b%d--
`, i, i%250, i, i/60%60, i%60, i, i, i/60%60, i%60, i%500, i, i-1, i, i, i, i, i, i))
}

// bigFixture builds the 100k Maildir under dir: files straight in cur/
// (as a migrated Maildir has them), a tenth unread, some flagged, and
// directory times an hour back (a mailbox of that size was not all
// written in the last seconds).
func bigFixture(b *testing.B, dir string, n int) string {
	b.Helper()
	home := filepath.Join(dir, "home")
	root := filepath.Join(home, "Maildir")
	if err := os.MkdirAll(home, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := makeMaildir(root, false); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				body := benchMsg(i)
				flags := "S"
				switch {
				case i%10 == 0:
					flags = ""
				case i%7 == 0:
					flags = "FS"
				}
				name := fmt.Sprintf("%d.M%dP%d.bench,S=%d,W=%d:2,%s", 1600000000+i, i, 1000+w, len(body), len(body)+bytes.Count(body, []byte("\n")), flags)
				p := filepath.Join(root, "cur", name)
				if err := os.WriteFile(p, body, 0o600); err != nil {
					errc <- err
					return
				}
				it := t0.Add(time.Duration(i) * time.Millisecond)
				os.Chtimes(p, it, it)
			}
		}(w)
	}
	wg.Wait()
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
	ageDirs(b, root)
	return home
}

// ageDirs sets the times of new/ and cur/ an hour back, past the window
// in which a sync must distrust an unchanged mtime.
func ageDirs(b *testing.B, root string) {
	b.Helper()
	old := time.Now().Add(-time.Hour)
	for _, sub := range []string{"new", "cur"} {
		if err := os.Chtimes(filepath.Join(root, sub), old, old); err != nil {
			b.Fatal(err)
		}
	}
}

func benchOpen(b *testing.B, home string) (*storage.User, storage.Mailbox, *Driver) {
	b.Helper()
	d := New(nil)
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		b.Fatal(err)
	}
	mb, err := u.Open("INBOX", false)
	if err != nil {
		b.Fatal(err)
	}
	return u, mb, d
}

func closeAll(u *storage.User, mb storage.Mailbox, d *Driver) { mb.Close(); u.Close(); d.Close() }

// BenchmarkMailbox100k: open, sync, fetch and delivery on a 100,000
// message mailbox, and Dovecot on the same Maildir.
func BenchmarkMailbox100k(b *testing.B) {
	n := benchN()
	home := bigFixture(b, b.TempDir(), n)
	root := filepath.Join(home, "Maildir")
	haveDovecot := false
	if _, err := os.Stat(dovecotIMAP); err == nil && os.Geteuid() == 0 {
		haveDovecot = true
		// b.TempDir's parent is private to root: let nobody through.
		if err := os.Chmod(filepath.Dir(filepath.Dir(home)), 0o711); err != nil {
			b.Fatal(err)
		}
		// Dovecot first, as on a server migrating from it: cote then
		// takes over its dovecot-uidlist.
		chownTree(b, filepath.Dir(home), true)
		dovecotRun(b, home, "a SELECT INBOX\r\n")
	}
	closeAll(benchOpen(b, home)) // cote's index exists from here on

	b.Run("Rebuild", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			for _, f := range []string{indexName, logName} {
				os.Remove(filepath.Join(root, f))
			}
			b.StartTimer()
			closeAll(benchOpen(b, home))
		}
	})
	// OpenCold: a new process state (new Driver), the index read from
	// disk: what an imap process does on SELECT.
	b.Run("OpenCold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			closeAll(benchOpen(b, home))
		}
	})
	b.Run("SyncWarm", func(b *testing.B) {
		u, mb, d := benchOpen(b, home)
		defer closeAll(u, mb, d)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := mb.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FetchFlagsAll", func(b *testing.B) {
		u, mb, d := benchOpen(b, home)
		defer closeAll(u, mb, d)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w := bufio.NewWriterSize(io.Discard, 64<<10)
			if err := renderFlags(w, mb); err != nil {
				b.Fatal(err)
			}
			w.Flush()
		}
	})
	b.Run("FetchEnvelope1000", func(b *testing.B) {
		u, mb, d := benchOpen(b, home)
		defer closeAll(u, mb, d)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := envelopes(mb, 1000); err != nil {
				b.Fatal(err)
			}
		}
	})
	// DeliverOneSync: another process state (as lmtp) delivers one
	// message into the big mailbox, fsynced; then the session that has
	// it open syncs and sees it. Neither may rescan 100,000 names.
	b.Run("DeliverOneSync", func(b *testing.B) {
		u, mb, d := benchOpen(b, home)
		defer closeAll(u, mb, d)
		lu, lmb, ld := benchOpen(b, home)
		defer closeAll(lu, lmb, ld)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			sv, _ := lmb.BeginSave()
			if err := sv.Append(bytes.NewReader(benchMsg(n+i)), storage.AppendOptions{}); err != nil {
				b.Fatal(err)
			}
			if _, _, err := sv.Commit(); err != nil {
				b.Fatal(err)
			}
			ch, err := mb.Sync()
			if err != nil || ch.Exists == 0 {
				b.Fatalf("sync after delivery: %+v %v", ch, err)
			}
		}
	})

	if !haveDovecot {
		b.Log("dovecot imap not installed or not root: no Dovecot comparison")
		return
	}
	chownTree(b, filepath.Dir(home), false)
	b.Run("Dovecot/Logout", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dovecotRun(b, home, "")
		}
	})
	b.Run("Dovecot/SelectNoIndex", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			removeDovecotIndex(b, root)
			b.StartTimer()
			dovecotRun(b, home, "a SELECT INBOX\r\n")
		}
	})
	b.Run("Dovecot/Select", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dovecotRun(b, home, "a SELECT INBOX\r\n")
		}
	})
	b.Run("Dovecot/SelectFetchFlagsAll", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dovecotRun(b, home, "a SELECT INBOX\r\nb FETCH 1:* FLAGS\r\n")
		}
	})
	b.Run("Dovecot/SelectFetchEnvelope1000", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dovecotRun(b, home, "a SELECT INBOX\r\nb FETCH 1:1000 ENVELOPE\r\n")
		}
	})
}

// renderFlags writes `* n FETCH (FLAGS (...))` for every message, as the
// IMAP session would.
func renderFlags(w *bufio.Writer, mb storage.Mailbox) error {
	var line []byte
	seq := uint64(0)
	return mb.Messages(nil, func(m storage.Message) error {
		seq++
		line = append(line[:0], "* "...)
		line = strconv.AppendUint(line, seq, 10)
		line = append(line, " FETCH (FLAGS ("...)
		sp := false
		for _, f := range m.Flags.Names() {
			if sp {
				line = append(line, ' ')
			}
			line, sp = append(line, f...), true
		}
		for _, k := range m.Keywords {
			if sp {
				line = append(line, ' ')
			}
			line, sp = append(line, k...), true
		}
		line = append(line, "))\r\n"...)
		_, err := w.Write(line)
		return err
	})
}

// envelopes computes the ENVELOPE of the first n messages from the
// message files (no structure is cached at save yet).
func envelopes(mb storage.Mailbox, n int) error {
	uids := mb.UIDs()
	if len(uids) > n {
		uids = uids[:n]
	}
	for _, uid := range uids {
		body, err := mb.Open(uid)
		if err != nil {
			return err
		}
		m, err := message.ParseReaderAt(body, body.Size())
		body.Close()
		if err != nil {
			return err
		}
		if m.Root.Envelope == nil || m.Root.Envelope.Subject == nil {
			return fmt.Errorf("uid %d: no envelope", uid)
		}
	}
	return nil
}

// chownTree gives Dovecot's user the fixture: everything when all, else
// only the files at the top of the Maildir (cote's index files and the
// uidlist, which cote may have replaced).
func chownTree(b *testing.B, dir string, all bool) {
	b.Helper()
	if all {
		err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, dovecotUID, dovecotUID)
		})
		if err != nil {
			b.Fatal(err)
		}
		return
	}
	root := filepath.Join(dir, "home", "Maildir")
	ents, err := os.ReadDir(root)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		os.Lchown(filepath.Join(root, e.Name()), dovecotUID, dovecotUID)
	}
}

func removeDovecotIndex(b *testing.B, root string) {
	b.Helper()
	ents, err := os.ReadDir(root)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "dovecot.index") {
			os.Remove(filepath.Join(root, e.Name()))
		}
	}
}

// dovecotRun runs Dovecot's imap in PREAUTH mode on home with cmds, then
// LOGOUT, and waits for it to finish.
func dovecotRun(b *testing.B, home, cmds string) {
	b.Helper()
	conf := filepath.Join(filepath.Dir(home), "dovecot.conf")
	if _, err := os.Stat(conf); err != nil {
		c := "mail_location = maildir:~/Maildir\nssl = no\nlog_path = /dev/stderr\n"
		if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command(dovecotIMAP, "-c", conf)
	cmd.Env = []string{"HOME=" + home, "USER=nobody", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: dovecotUID, Gid: dovecotUID}}
	// Dovecot closes the session when its input ends, even with output
	// pending: keep stdin open until it has answered LOGOUT.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { io.WriteString(stdin, cmds+"z LOGOUT\r\n") }()
	br := bufio.NewReaderSize(stdout, 64<<10)
	ok := false
	for {
		line, err := br.ReadSlice('\n')
		if bytes.HasPrefix(line, []byte("z OK")) {
			ok = true
		}
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil || !ok {
		b.Fatalf("dovecot imap: %v, LOGOUT answered %v: %s", err, ok, stderr.String())
	}
}

func benchDeliver(b *testing.B, batch int) {
	home := b.TempDir()
	d := New(nil)
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir"},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	if err != nil {
		b.Fatal(err)
	}
	mb, _ := u.Open("INBOX", false)
	defer closeAll(u, mb, d)
	msg := benchMsg(1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sv, _ := mb.BeginSave()
		for j := 0; j < batch; j++ {
			if err := sv.Append(bytes.NewReader(msg), storage.AppendOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := sv.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliverOne is one message in one transaction, fsynced.
func BenchmarkDeliverOne(b *testing.B) { benchDeliver(b, 1) }

// BenchmarkDeliverBatch1000 is 1,000 messages in one transaction.
func BenchmarkDeliverBatch1000(b *testing.B) { benchDeliver(b, 1000) }
