package format_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage/maildir/format"
	"github.com/cote-mail/cote/pkg/testkit"
)

// dovecotIMAP is where Debian's dovecot-imapd installs the imap binary,
// which speaks IMAP on stdin/stdout in PREAUTH mode (REFERENCE-PEERS.md).
const dovecotIMAP = "/usr/lib/dovecot/imap"

// mailOwner is the account the reference Dovecot runs as.
type mailOwner struct {
	uid, gid int
	user     string
	group    string
}

func requireDovecot(t *testing.T) mailOwner {
	t.Helper()
	testkit.RequireTool(t, dovecotIMAP, "dovecot-imapd")
	testkit.RequireRoot(t)
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gname := "nogroup"
	g, err := user.LookupGroup(gname)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	return mailOwner{uid: uid, gid: gid, user: u.Username, group: gname}
}

// newMaildir returns an empty Maildir the unprivileged Dovecot can use.
func newMaildir(t *testing.T, o mailOwner) string {
	t.Helper()
	base := t.TempDir()
	// t.TempDir's directories are 0700 root; Dovecot runs as nobody.
	for d := base; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, "Maildir")
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	chownTree(t, dir, o)
	return dir
}

func chownTree(t *testing.T, dir string, o mailOwner) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, o.uid, o.gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runDovecot feeds script (IMAP commands using LITERAL+) to the reference
// imap process on the Maildir and returns its output. It fails the test if
// a tagged response is not OK.
func runDovecot(t *testing.T, dir string, o mailOwner, script string, opts ...string) string {
	t.Helper()
	out := runDovecotRaw(t, dir, o, script, opts...)
	for _, line := range strings.Split(out, "\r\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] != "*" && f[1] != "OK" {
			t.Fatalf("dovecot refused a command: %s\nfull output:\n%s", line, out)
		}
	}
	return out
}

// runDovecotRaw is runDovecot without the check of tagged responses; opts
// are extra -o settings.
func runDovecotRaw(t *testing.T, dir string, o mailOwner, script string, opts ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dovecotIMAP,
		"-o", "mail_location=maildir:"+dir,
		"-o", "namespace/inbox/separator=/",
		"-o", "mail_uid="+o.user, "-o", "mail_gid="+o.group,
		"-o", "first_valid_uid=0", "-o", "first_valid_gid=0")
	for _, opt := range opts {
		cmd.Args = append(cmd.Args, "-o", opt)
	}
	cmd.Env = []string{"HOME=" + dir, "USER=" + o.user, "PATH=/usr/bin:/bin"}
	// A bytes.Reader makes exec use a pipe, which Dovecot's ioloop needs
	// (it cannot epoll a regular file).
	cmd.Stdin = bytes.NewReader([]byte(script))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("dovecot imap: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	return out.String()
}

func appendCmd(tag, box, flags, msg string) string {
	return fmt.Sprintf("%s APPEND %s (%s) {%d+}\r\n%s\r\n", tag, box, flags, len(msg), msg)
}

// TestDovecotWritesWeRead lets the real Dovecot create a Maildir (messages
// with flags and keywords, folders with non-ASCII names, subscriptions) and
// checks that this package reads every file as Dovecot meant it.
func TestDovecotWritesWeRead(t *testing.T) {
	o := requireDovecot(t)
	dir := newMaildir(t, o)
	msgs := []string{
		"Subject: one\r\n\r\nbody\r\n",
		"Subject: two\nbare LF\n",
		"Subject: three\r\n\r\nno flags\r\n",
	}
	script := appendCmd("a1", "INBOX", `\Seen $Forwarded work`, msgs[0]) +
		appendCmd("a2", "INBOX", `\Flagged \Answered \Draft \Deleted work`, msgs[1]) +
		appendCmd("a3", "INBOX", "", msgs[2]) +
		"c1 CREATE \"&AMQ-rger/Sub\"\r\n" +
		"c2 CREATE \"&ZeVnLIqe-\"\r\n" +
		"s1 SUBSCRIBE \"&AMQ-rger/Sub\"\r\n" +
		"s2 SUBSCRIBE \"&ZeVnLIqe-\"\r\n" +
		"s3 SUBSCRIBE INBOX\r\n" +
		"z LOGOUT\r\n"
	out := runDovecot(t, dir, o, script)
	m := regexp.MustCompile(`APPENDUID (\d+) 1\]`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no APPENDUID in:\n%s", out)
	}
	validity, _ := strconv.ParseUint(m[1], 10, 32)

	u, err := format.ReadUidlist(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.UIDValidity != uint32(validity) || u.NextUID != 4 || !u.HasGUID || len(u.Problems) != 0 || len(u.Records) != 3 {
		t.Fatalf("uidlist %+v, want UIDVALIDITY %d NEXTUID 4 and 3 records", u, validity)
	}
	kw, err := format.ReadKeywords(dir)
	if err != nil {
		t.Fatal(err)
	}
	fwd, ok1 := kw.Letter("$Forwarded")
	work, ok2 := kw.Letter("work")
	if !ok1 || !ok2 || len(kw.Problems) != 0 {
		t.Fatalf("keywords %q", kw.Names)
	}
	want := []struct {
		flags format.Flags
		kws   []byte
	}{
		{format.FlagSeen, sortedLetters(fwd, work)},
		{format.FlagFlagged | format.FlagReplied | format.FlagDraft | format.FlagTrashed, []byte{work}},
		{0, nil},
	}
	files := listMessages(t, dir)
	for i, rec := range u.Records {
		if rec.UID != uint32(i+1) {
			t.Errorf("record %d uid %d", i, rec.UID)
		}
		name, ok := files[rec.Base]
		if !ok {
			t.Fatalf("uid %d: no file with base %q in %v", rec.UID, rec.Base, files)
		}
		f := format.ParseFilename(filepath.Base(name))
		if f.Flags != want[i].flags || !bytes.Equal(f.Keywords, want[i].kws) {
			t.Errorf("uid %d %s: flags %v keywords %q, want %v %q", rec.UID, name, f.Flags, f.Keywords, want[i].flags, want[i].kws)
		}
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		size, vsize, _ := format.Sizes(bytes.NewReader(data))
		if f.Size != size || f.VSize != vsize {
			t.Errorf("uid %d: name sizes S=%d W=%d, file %d/%d", rec.UID, f.Size, f.VSize, size, vsize)
		}
		if f.VSize != int64(len(strings.ReplaceAll(strings.ReplaceAll(msgs[i], "\r\n", "\n"), "\n", "\r\n"))) {
			t.Errorf("uid %d: W=%d is not the CRLF size of the message", rec.UID, f.VSize)
		}
	}

	var folders []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name, err := format.FolderName(e.Name(), '/')
		if err != nil {
			t.Errorf("folder %q: %v", e.Name(), err)
			continue
		}
		folders = append(folders, name)
		if _, err := os.Stat(filepath.Join(dir, e.Name(), format.MaildirFolderName)); err != nil {
			t.Errorf("folder %q: %v", e.Name(), err)
		}
		if d, err := format.FolderDir(name, '/'); err != nil || d != e.Name() {
			t.Errorf("FolderDir(%q) = %q, %v, want %q", name, d, err, e.Name())
		}
	}
	sort.Strings(folders)
	if wantF := []string{"Ärger/Sub", "日本語"}; !reflect.DeepEqual(folders, wantF) {
		t.Errorf("folders %q, want %q", folders, wantF)
	}
	subs, err := format.ReadSubscriptions(dir, '/')
	if err != nil {
		t.Fatal(err)
	}
	if wantS := []string{"Ärger/Sub", "日本語", "INBOX"}; !reflect.DeepEqual(subs, wantS) {
		t.Errorf("subscriptions %q, want %q", subs, wantS)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, format.SubscriptionsName))
	if got := format.MarshalSubscriptions(subs, '/'); !bytes.Equal(got, raw) {
		t.Errorf("our subscriptions encoding %q differs from Dovecot's %q", got, raw)
	}
	// Dovecot appends records without rewriting the header, so its N can
	// lag behind (readers raise it, as ParseUidlist does): compare the
	// record lines byte for byte, and the header fields we keep.
	rawU, _ := os.ReadFile(filepath.Join(dir, format.UidlistName))
	hdr, recLines, _ := bytes.Cut(rawU, []byte("\n"))
	if got, err := format.MarshalUidlistRecords(u.Records); err != nil || !bytes.Equal(got, recLines) {
		t.Errorf("our uidlist records %q differ from Dovecot's %q (%v)", got, recLines, err)
	}
	if wantHdr := fmt.Sprintf("3 V%d N", u.UIDValidity); !bytes.HasPrefix(hdr, []byte(wantHdr)) ||
		!bytes.HasSuffix(hdr, []byte(fmt.Sprintf(" G%x", u.GUID))) {
		t.Errorf("uidlist header %q, parsed %+v", hdr, u)
	}
	rawK, _ := os.ReadFile(filepath.Join(dir, format.KeywordsName))
	if got := kw.Marshal(); !bytes.Equal(got, rawK) {
		t.Errorf("our keywords encoding %q differs from Dovecot's %q", got, rawK)
	}
}

func sortedLetters(cs ...byte) []byte {
	sort.Slice(cs, func(i, j int) bool { return cs[i] < cs[j] })
	return cs
}

// listMessages maps base names to paths of the files in cur/ and new/.
func listMessages(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			files[format.BaseOf(e.Name())] = filepath.Join(dir, sub, e.Name())
		}
	}
	return files
}

// TestWeWriteDovecotReads builds a Maildir with this package only and
// checks that Dovecot sees the same UIDVALIDITY, UIDs, flags, keywords,
// folders and subscriptions, then that a message Dovecot appends gets the
// next UID while ours keep theirs.
func TestWeWriteDovecotReads(t *testing.T) {
	o := requireDovecot(t)
	dir := newMaildir(t, o)
	gen := format.NewBaseGenerator()
	kw := &format.Keywords{}
	label, err := kw.Add("$Label1")
	if err != nil {
		t.Fatal(err)
	}
	proj, _ := kw.Add("project")
	type msg struct {
		uid   uint32
		flags format.Flags
		kws   []byte
		body  string
		sub   string
	}
	msgs := []msg{
		{5, format.FlagSeen, []byte{label}, "Subject: a\n\nx\n", "cur"},
		{7, format.FlagFlagged | format.FlagReplied, []byte{label, proj}, "Subject: b\r\n\r\ny\r\n", "cur"},
		{8, 0, nil, "Subject: c\n\nnew mail\n", "new"},
	}
	u := &format.Uidlist{UIDValidity: 12345, NextUID: 10}
	now := time.Now()
	for _, m := range msgs {
		size, vsize, _ := format.Sizes(strings.NewReader(m.body))
		f := format.Filename{Base: format.WithSizes(gen.Next(now), size, vsize), Flags: m.flags, Keywords: m.kws, HasInfo: m.sub == "cur"}
		if err := format.WriteFileAtomic(filepath.Join(dir, m.sub), f.String(), []byte(m.body), 0o600); err != nil {
			t.Fatal(err)
		}
		u.Records = append(u.Records, format.UidlistRecord{UID: m.uid, Base: f.Base})
	}
	l, err := format.LockUidlist(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := format.WriteKeywords(dir, kw); err != nil {
		t.Fatal(err)
	}
	if err := format.WriteUidlist(l, u); err != nil {
		t.Fatal(err)
	}
	fdir, err := format.FolderDir("Ärger/Sub", '/')
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, fdir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := format.WriteFileAtomic(filepath.Join(dir, fdir), format.MaildirFolderName, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := format.UpdateSubscriptions(dir, '/', func([]string) []string { return []string{"INBOX", "Ärger/Sub"} }); err != nil {
		t.Fatal(err)
	}
	chownTree(t, dir, o)

	out := runDovecot(t, dir, o,
		"s SELECT INBOX\r\n"+
			"f UID FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n"+
			"l LIST \"\" \"*\"\r\n"+
			"ls LSUB \"\" \"*\"\r\n"+
			appendCmd("a", "INBOX", `\Seen project`, "Subject: d\r\n\r\nfrom dovecot\r\n")+
			"z LOGOUT\r\n")
	vsize := func(s string) int64 { _, v, _ := format.Sizes(strings.NewReader(s)); return v }
	for _, want := range []string{
		"[UIDVALIDITY 12345]",
		"[UIDNEXT 10]",
		fmt.Sprintf(`FETCH (UID 5 FLAGS (\Seen $Label1) RFC822.SIZE %d)`, vsize(msgs[0].body)),
		fmt.Sprintf(`FETCH (UID 7 FLAGS (\Answered \Flagged $Label1 project) RFC822.SIZE %d)`, vsize(msgs[1].body)),
		fmt.Sprintf(`FETCH (UID 8 FLAGS (\Recent) RFC822.SIZE %d)`, vsize(msgs[2].body)),
		`* LIST (\HasNoChildren) "/" &AMQ-rger/Sub`,
		`* LSUB () "/" &AMQ-rger/Sub`,
		`* LSUB () "/" INBOX`,
		"[APPENDUID 12345 10]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dovecot output lacks %q:\n%s", want, out)
		}
	}
	got, err := format.ReadUidlist(dir)
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, r := range got.Records {
		uids = append(uids, r.UID)
	}
	if !reflect.DeepEqual(uids, []uint32{5, 7, 8, 10}) || got.UIDValidity != 12345 || got.GUID != u.GUID || got.NextUID != 11 {
		t.Errorf("uidlist after Dovecot: uids %v %+v", uids, got)
	}
	for i, r := range got.Records[:3] {
		if r.Base != u.Records[i].Base {
			t.Errorf("uid %d base %q, want %q", r.UID, r.Base, u.Records[i].Base)
		}
	}
	kw2, _ := format.ReadKeywords(dir)
	if kw2.Names != kw.Names {
		t.Errorf("keywords changed by Dovecot: %q -> %q", kw.Names, kw2.Names)
	}
}

// TestDovecotFlagNamesAndLocks: flag changes Dovecot makes rename files to
// exactly the names Filename.String gives, and Dovecot honours a
// dovecot-uidlist.lock this package holds.
func TestDovecotFlagNamesAndLocks(t *testing.T) {
	o := requireDovecot(t)
	dir := newMaildir(t, o)
	runDovecot(t, dir, o,
		appendCmd("a1", "INBOX", `\Seen`, "Subject: 1\r\n\r\nx\r\n")+
			appendCmd("a2", "INBOX", "", "Subject: 2\r\n\r\ny\r\n")+
			"s SELECT INBOX\r\n"+
			"f1 UID STORE 1 +FLAGS (zeta \\Deleted alpha \\Flagged)\r\n"+
			"f2 UID STORE 2 +FLAGS (alpha \\Answered)\r\n"+
			"z LOGOUT\r\n")
	kw, err := format.ReadKeywords(dir)
	if err != nil {
		t.Fatal(err)
	}
	u, err := format.ReadUidlist(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := listMessages(t, dir)
	want := map[uint32]struct {
		flags format.Flags
		kws   []string
	}{
		1: {format.FlagSeen | format.FlagTrashed | format.FlagFlagged, []string{"zeta", "alpha"}},
		2: {format.FlagReplied, []string{"alpha"}},
	}
	for _, r := range u.Records {
		path := files[r.Base]
		name := filepath.Base(path)
		f := format.ParseFilename(name)
		if f.String() != name {
			t.Errorf("uid %d: Dovecot wrote %q, we would write %q", r.UID, name, f.String())
		}
		var kws []byte
		for _, n := range want[r.UID].kws {
			c, ok := kw.Letter(n)
			if !ok {
				t.Fatalf("keyword %q not in dovecot-keywords %q", n, kw.Names)
			}
			kws = append(kws, c)
		}
		if f.Flags != want[r.UID].flags || !bytes.Equal(f.Keywords, sortedLetters(kws...)) {
			t.Errorf("uid %d %q: flags %v keywords %q", r.UID, name, f.Flags, f.Keywords)
		}
	}

	// With our lock held, Dovecot cannot add a message: it waits for the
	// lock (bounded here by mail_max_lock_timeout) and gives up.
	l, err := format.LockUidlist(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out := runDovecotRaw(t, dir, o, appendCmd("a3", "INBOX", "", "Subject: 3\r\n\r\nz\r\n")+"z LOGOUT\r\n",
		"mail_max_lock_timeout=1s")
	if strings.Contains(out, "a3 OK") {
		t.Errorf("Dovecot appended while we held dovecot-uidlist.lock:\n%s", out)
	}
	if err := l.Unlock(); err != nil {
		t.Fatalf("our lock was taken over by Dovecot: %v", err)
	}
	out = runDovecot(t, dir, o, appendCmd("a4", "INBOX", "", "Subject: 4\r\n\r\nz\r\n")+"z LOGOUT\r\n")
	if !strings.Contains(out, "APPENDUID") {
		t.Errorf("append after unlock:\n%s", out)
	}
}
