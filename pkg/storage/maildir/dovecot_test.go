package maildir

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
	"github.com/cote-mail/cote/pkg/testkit"
)

// Driver-level interoperability with the real Dovecot 2.3 (Debian's
// dovecot-imapd, run in PREAUTH mode on stdin/stdout as
// format/dovecot_test.go does): a Maildir Dovecot built opens in cote with
// the same UIDs, UIDVALIDITY, flags, keywords, folders and subscriptions,
// and the reverse.

const interopIMAP = "/usr/lib/dovecot/imap"

type dovecotUser struct {
	uid, gid    int
	user, group string
}

func requireDovecot(t *testing.T) dovecotUser {
	t.Helper()
	testkit.RequireTool(t, interopIMAP, "dovecot-imapd")
	testkit.RequireRoot(t)
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	return dovecotUser{uid, gid, u.Username, "nogroup"}
}

// dovecotHome returns a home directory the unprivileged Dovecot can reach.
func dovecotHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	for d := home; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir(); d = filepath.Dir(d) {
		must(t, os.Chmod(d, 0o755))
	}
	return home
}

func giveTo(t *testing.T, dir string, o dovecotUser) {
	t.Helper()
	must(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, o.uid, o.gid)
	}))
}

// dovecot runs script against the Maildir (LITERAL+ APPENDs) and returns
// the output; every tagged response must be OK.
func dovecot(t *testing.T, root string, o dovecotUser, script string, opts ...string) string {
	t.Helper()
	giveTo(t, root, o)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, interopIMAP,
		"-o", "mail_location=maildir:"+root,
		"-o", "namespace/inbox/separator=/",
		"-o", "mail_uid="+o.user, "-o", "mail_gid="+o.group,
		"-o", "first_valid_uid=0", "-o", "first_valid_gid=0")
	for _, opt := range opts {
		cmd.Args = append(cmd.Args, "-o", opt)
	}
	cmd.Env = []string{"HOME=" + root, "USER=" + o.user, "PATH=/usr/bin:/bin"}
	cmd.Stdin = bytes.NewReader([]byte(script))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("dovecot imap: %v\n%s\n%s", err, out.String(), errb.String())
	}
	for _, line := range strings.Split(out.String(), "\r\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] != "*" && f[1] != "OK" {
			t.Fatalf("dovecot refused: %s\n%s", line, out.String())
		}
	}
	return out.String()
}

func dcAppend(tag, box, flags, msg string) string {
	return fmt.Sprintf("%s APPEND %s (%s) {%d+}\r\n%s\r\n", tag, box, flags, len(msg), msg)
}

// flagState is one message as a client sees it: UID and sorted flags
// (system flags and keywords, without \Recent).
type flagState struct {
	uid   uint32
	flags string
}

var fetchRE = regexp.MustCompile(`\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\)\)`)

// dovecotView selects each mailbox in Dovecot and returns its UIDVALIDITY
// and messages.
func dovecotView(t *testing.T, root string, o dovecotUser, boxes ...string) map[string][]flagState {
	t.Helper()
	var script strings.Builder
	for i, b := range boxes {
		fmt.Fprintf(&script, "s%d SELECT \"%s\"\r\nf%d UID FETCH 1:* (UID FLAGS)\r\n", i, format.EncodeMUTF7(b), i)
	}
	script.WriteString("z LOGOUT\r\n")
	out := dovecot(t, root, o, script.String())
	views := map[string][]flagState{}
	cur := ""
	for _, line := range strings.Split(out, "\r\n") {
		if m := regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`).FindStringSubmatch(line); m != nil {
			cur = boxes[len(views)]
			views[cur] = append(views[cur], flagState{flags: "UIDVALIDITY " + m[1]})
		}
		if m := fetchRE.FindStringSubmatch(line); m != nil {
			uid, _ := strconv.ParseUint(m[1], 10, 32)
			views[cur] = append(views[cur], flagState{uint32(uid), normFlags(strings.Fields(m[2]))})
		}
	}
	return views
}

func normFlags(fs []string) string {
	fs = slices.DeleteFunc(slices.Clone(fs), func(f string) bool { return strings.EqualFold(f, `\Recent`) })
	sort.Strings(fs)
	return strings.Join(fs, " ")
}

// coteView is dovecotView through storage.User.
func coteView(t *testing.T, u *storage.User, boxes ...string) map[string][]flagState {
	t.Helper()
	views := map[string][]flagState{}
	for _, b := range boxes {
		mb, err := u.Open(b, true)
		if err != nil {
			t.Fatalf("open %s: %v", b, err)
		}
		views[b] = append(views[b], flagState{flags: fmt.Sprintf("UIDVALIDITY %d", mb.UIDValidity())})
		must(t, mb.Messages(nil, func(m storage.Message) error {
			views[b] = append(views[b], flagState{m.UID, normFlags(append(m.Flags.Names(), m.Keywords...))})
			return nil
		}))
		mb.Close()
	}
	return views
}

func compareViews(t *testing.T, what string, got, want map[string][]flagState) {
	t.Helper()
	for box, w := range want {
		if !slices.Equal(got[box], w) {
			t.Errorf("%s: %s\n got  %v\n want %v", what, box, got[box], w)
		}
	}
}

// TestDovecotMaildirInCote: Dovecot appends with flags and keywords,
// creates folders, subscribes, stores and expunges; cote then sees the
// same mailboxes, UIDVALIDITYs, UIDs, flags, keywords and subscriptions,
// and a message it saves gets the UID Dovecot would have given.
func TestDovecotMaildirInCote(t *testing.T) {
	o := requireDovecot(t)
	home := dovecotHome(t)
	root := filepath.Join(home, "Maildir")
	must(t, os.MkdirAll(root, 0o700))
	dovecot(t, root, o,
		dcAppend("a1", "INBOX", `\Seen $Forwarded work`, "Subject: 1\r\n\r\none\r\n")+
			dcAppend("a2", "INBOX", `\Flagged`, "Subject: 2\n\ntwo\n")+
			dcAppend("a3", "INBOX", "", "Subject: 3\r\n\r\nthree\r\n")+
			dcAppend("a4", "INBOX", `\Draft`, "Subject: 4\r\n\r\nfour\r\n")+
			"c1 CREATE \"Archive/2024\"\r\n"+
			"c2 CREATE \"&AMQ-rger\"\r\n"+
			dcAppend("a5", "\"Archive/2024\"", `\Answered project`, "Subject: 5\r\n\r\nfive\r\n")+
			"u1 SUBSCRIBE \"Archive/2024\"\r\n"+
			"u2 SUBSCRIBE INBOX\r\n"+
			"s SELECT INBOX\r\n"+
			"st1 UID STORE 2 +FLAGS (\\Deleted later)\r\n"+
			"st2 UID STORE 3 +FLAGS (\\Seen)\r\n"+
			"st3 UID STORE 1 -FLAGS (work)\r\n"+
			"e EXPUNGE\r\n"+
			"z LOGOUT\r\n")
	boxes := []string{"INBOX", "Archive/2024", "Ärger"}
	want := dovecotView(t, root, o, boxes...)
	if len(want["INBOX"]) != 4 {
		t.Fatalf("dovecot's INBOX: %v", want["INBOX"])
	}

	d := newDriver(t)
	u := openUser(t, home, d, nil)
	compareViews(t, "cote reading Dovecot's Maildir", coteView(t, u, boxes...), want)
	list, err := u.List()
	must(t, err)
	var names []string
	for _, mi := range list {
		names = append(names, mi.Name)
	}
	if !slices.Equal(names, []string{"Archive", "Archive/2024", "INBOX", "Ärger"}) {
		t.Errorf("list %q", names)
	}
	subs, err := u.Subscriptions()
	must(t, err)
	if !slices.Equal(subs, []string{"Archive/2024", "INBOX"}) {
		t.Errorf("subscriptions %q", subs)
	}
	// Dovecot gave out UIDs 1-4 in INBOX: ours continues at 5.
	mb, err := u.Open("INBOX", false)
	must(t, err)
	if uids := appendMsgs(t, mb, 1, storage.AppendOptions{}); !slices.Equal(uids, []uint32{5}) {
		t.Errorf("cote's first UID after Dovecot's: %v", uids)
	}
	mb.Close()
}

// TestCoteMaildirInDovecot: cote saves, flags, copies and expunges, and
// Dovecot sees the same UIDs, flags and keywords; then a mutt-style change
// behind both servers' backs (flags renamed in a file name, a file
// removed, one delivered into new/) is seen alike by both.
func TestCoteMaildirInDovecot(t *testing.T) {
	o := requireDovecot(t)
	home := dovecotHome(t)
	root := filepath.Join(home, "Maildir")
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	must(t, u.Create("Work"))
	must(t, u.SetSubscribed("Work", true))
	inbox, err := u.Open("INBOX", false)
	must(t, err)
	uids := appendMsgs(t, inbox, 4, storage.AppendOptions{Flags: storage.FlagSeen, Keywords: []string{"$Label1"}})
	_, err = inbox.Store(uids[1:2], storage.StoreAdd, storage.FlagFlagged|storage.FlagAnswered, []string{"todo"}, 0)
	must(t, err)
	_, err = inbox.Store(uids[2:3], storage.StoreRemove, storage.FlagSeen, []string{"$Label1"}, 0)
	must(t, err)
	_, err = inbox.Store(uids[3:4], storage.StoreAdd, storage.FlagDeleted, nil, 0)
	must(t, err)
	_, err = inbox.Expunge(nil)
	must(t, err)
	work, err := u.Open("Work", false)
	must(t, err)
	_, _, err = inbox.Copy(work, uids[:2])
	must(t, err)
	inbox.Close()
	work.Close()

	boxes := []string{"INBOX", "Work"}
	ours := coteView(t, u, boxes...)
	compareViews(t, "Dovecot reading cote's Maildir", dovecotView(t, root, o, boxes...), ours)
	out := dovecot(t, root, o, "l LSUB \"\" \"*\"\r\nz LOGOUT\r\n")
	if !strings.Contains(out, `* LSUB () "/" Work`) {
		t.Errorf("Dovecot does not see the subscription:\n%s", out)
	}

	// mutt: marks INBOX uid 1 replied (a rename), deletes uid 2's file;
	// procmail: a new message in new/.
	files := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(root, sub))
		for _, e := range ents {
			files[parseName(e.Name()).Base] = filepath.Join(root, sub, e.Name())
		}
	}
	smb, err := u.Open("INBOX", true)
	must(t, err)
	mb := smb.(*mailbox)
	var bases []string
	for _, uid := range uids[:2] {
		mb.b.mu.Lock()
		bases = append(bases, mb.b.st.msgs[uid].base)
		mb.b.mu.Unlock()
	}
	mb.Close()
	p1 := files[bases[0]]
	must(t, os.Rename(p1, strings.Replace(p1, ":2,", ":2,R", 1)))
	must(t, os.Remove(files[bases[1]]))
	must(t, os.WriteFile(filepath.Join(root, "new", "1700000000.M1P1.mutt"), []byte("Subject: new\n\nx\n"), 0o600))
	// Whoever syncs first assigns the new UID; both must agree after.
	dv := dovecotView(t, root, o, "INBOX")
	compareViews(t, "after external changes", coteView(t, u, "INBOX"), dv)
	// UIDVALIDITY, uids 1 and 3, and the new file as uid 5 (4 was
	// expunged).
	if len(dv["INBOX"]) != 4 || dv["INBOX"][3].uid != 5 {
		t.Errorf("INBOX after external changes: %v", dv["INBOX"])
	}
}

// TestDovecotMaildirSize: with quota = maildir, the maildirsize cote keeps
// is the usage Dovecot's quota plugin reports, and a message Dovecot saves
// (updating maildirsize itself) is counted by cote.
func TestDovecotMaildirSize(t *testing.T) {
	o := requireDovecot(t)
	home := dovecotHome(t)
	root := filepath.Join(home, "Maildir")
	d := newDriver(t)
	u, err := storage.OpenUser(storage.UserConfig{Name: "u", Home: home, MailLocation: "maildir:~/Maildir",
		QuotaBackend: "maildir", QuotaRules: []string{"*:storage=1M", "*:messages=100"}},
		map[string]storage.Driver{"maildir": d.Open}, nil)
	must(t, err)
	defer u.Close()
	mb, err := u.Open("INBOX", false)
	must(t, err)
	sv, _ := mb.BeginSave()
	for i := 0; i < 3; i++ {
		must(t, sv.Append(strings.NewReader(strings.Repeat("x", 1000)+"\n"), storage.AppendOptions{}))
	}
	_, _, err = sv.Commit()
	must(t, err)
	mb.Close()
	quotaOpts := []string{"mail_plugins=quota imap_quota", "plugin/quota=maildir:User quota",
		"plugin/quota_rule=*:storage=1M", "plugin/quota_rule2=*:messages=100"}
	getquota := "q GETQUOTAROOT INBOX\r\nz LOGOUT\r\n"
	usageRE := regexp.MustCompile(`\* QUOTA "User quota" \(STORAGE (\d+) (\d+) MESSAGE (\d+) (\d+)\)`)
	parse := func(out string) []int64 {
		t.Helper()
		m := usageRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no QUOTA response:\n%s", out)
		}
		var v []int64
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			v = append(v, n)
		}
		return v
	}
	ours := func() []int64 {
		t.Helper()
		res, err := u.QuotaResources("User quota")
		must(t, err)
		return []int64{res[0].Usage, res[0].Limit, res[1].Usage, res[1].Limit}
	}
	if got, want := parse(dovecot(t, root, o, getquota, quotaOpts...)), ours(); !slices.Equal(got, want) {
		t.Errorf("Dovecot reports %v, cote %v", got, want)
	}
	dovecot(t, root, o, dcAppend("a", "INBOX", "", strings.Repeat("y", 3000)+"\r\n")+"z LOGOUT\r\n", quotaOpts...)
	us, err := u.Usage()
	must(t, err)
	// Dovecot stores LF line ends (mail_save_crlf = no): 3001 bytes.
	if us.Messages != 4 || us.Bytes != 3*1001+3001 {
		t.Errorf("cote's usage after Dovecot's save: %+v", us)
	}
	if got, want := parse(dovecot(t, root, o, getquota, quotaOpts...)), ours(); !slices.Equal(got, want) {
		t.Errorf("after Dovecot's save: Dovecot reports %v, cote %v", got, want)
	}
}

// TestDovecotReadsSharedDelivery: a message delivered once to two users
// through storage.Delivery (the second a hard link with other flags) is
// read by Dovecot in each Maildir with cote's UIDs, flags and content.
func TestDovecotReadsSharedDelivery(t *testing.T) {
	o := requireDovecot(t)
	base := dovecotHome(t)
	d := newDriver(t)
	// One word a line: the dovecot helper takes a line of two words
	// whose second is not OK for a refused command.
	msg := "Subject:shared\r\n\r\nhello\r\n"
	rcpts := []rcpt{
		{home: filepath.Join(base, "a")},
		{home: filepath.Join(base, "b"), opts: storage.AppendOptions{Flags: storage.FlagSeen, Keywords: []string{"$Label1"}}},
	}
	for _, r := range rcpts {
		must(t, os.MkdirAll(r.home, 0o755))
	}
	dl, errs := deliverShared(t, d, []byte(msg), rcpts)
	if dl.Linked() != 1 {
		t.Fatalf("linked %d, want 1", dl.Linked())
	}
	for i, r := range rcpts {
		must(t, errs[i])
		ours := coteView(t, openRcpt(t, d, r), "INBOX")
		root := filepath.Join(r.home, "Maildir")
		compareViews(t, "Dovecot reading a shared delivery", dovecotView(t, root, o, "INBOX"), ours)
		out := dovecot(t, root, o, "s EXAMINE INBOX\r\nf UID FETCH 1 BODY.PEEK[]\r\nz LOGOUT\r\n")
		if !strings.Contains(out, "{"+strconv.Itoa(len(msg))+"}\r\n"+msg) {
			t.Errorf("recipient %d: Dovecot's BODY[]:\n%s", i, out)
		}
	}
}
