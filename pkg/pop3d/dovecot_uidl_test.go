package pop3d

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/testkit"
)

// requireDovecot skips (fails under CI) when Dovecot's pop3 cannot run.
func requireDovecot(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(dovecotPOP3); err != nil {
		if testkit.InCI() {
			t.Fatalf("%s is missing (apt-get install dovecot-pop3d)", dovecotPOP3)
		}
		t.Skipf("%s is missing (apt-get install dovecot-pop3d)", dovecotPOP3)
	}
	testkit.RequireRoot(t)
	testkit.RequireUser(t, "nobody")
}

// dovecotWith plays input to Dovecot's pop3 with extra settings
// ("name=value") on home/Maildir, after giving the tree to nobody.
func dovecotWith(t *testing.T, home, input string, opts ...string) string {
	t.Helper()
	if err := chownNobody(home); err != nil {
		t.Fatal(err)
	}
	cmd := dovecotCommand(home)
	for _, o := range opts {
		cmd.Args = append(cmd.Args, "-o", o)
	}
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("dovecot pop3 %v: %v\n%s", opts, err, errb.String())
	}
	return out.String()
}

// coteSession plays input to a cote session and returns what follows
// the greeting.
func coteSession(t *testing.T, h *harness, cfg Config, input string) string {
	t.Helper()
	cli, done := h.serve(t, cfg, []byte(input))
	var got bytes.Buffer
	if _, err := got.ReadFrom(cli); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(got.String(), "+OK Logged in.\r\n")
}

// writeMaildir creates home/Maildir with files (relative names) and, when
// uidlist is not "", a dovecot-uidlist.
func writeMaildir(t *testing.T, home string, files map[string]string, uidlist string) {
	t.Helper()
	md := filepath.Join(home, "Maildir")
	for _, d := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(md, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if uidlist != "" {
		if err := os.WriteFile(filepath.Join(md, "dovecot-uidlist"), []byte(uidlist), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const uidlListing = "UIDL\r\nLIST\r\nQUIT\r\n"

// TestDovecotUIDLFormats: each pop3_uidl_format cote supports gives
// Dovecot's UIDL list on the same Maildir, %f and %g included (the file
// name up to ":2,", with ",S="; the uidlist's G extension, else that
// name); %m, which Dovecot's Maildir cannot serve either, is refused.
func TestDovecotUIDLFormats(t *testing.T) {
	requireDovecot(t)
	h := newHarness(t)
	writeMaildir(t, h.home, map[string]string{
		"new/1700000001.M1P1.host":        msg1,
		"cur/1700000002.M2P1.host,S=5:2,": "a: b\n",
		"cur/1700000003.M3P1.host:2,S":    msg3,
		"new/1700000004.M4P1.host":        msg2, // not in the uidlist yet
	}, "3 V1700000000 N4 G0123456789abcdef0123456789abcdef\n"+
		"1 :1700000001.M1P1.host\n"+
		"2 G4a7b0c0d1e2f30415263748596a7b8c9 :1700000002.M2P1.host,S=5\n"+
		"3 :1700000003.M3P1.host\n")
	for _, f := range []string{"%f", "%g", "%u%v", "%08Xu%08Xv", "%v-%f", "%Lg.%u", "%08Xv%g%u"} {
		want := dovecotWith(t, h.home, uidlListing, "pop3_uidl_format="+f)
		if !strings.Contains(want, "+OK Logging out") {
			t.Fatalf("%s: dovecot pop3 answered:\n%s", f, want)
		}
		cfg, err := NewConfig(Settings{UIDLFormat: f})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if got := coteSession(t, h, cfg, uidlListing); got != want {
			t.Errorf("%s: cote and Dovecot differ:\n%s\nDovecot:\n%s", f, lineDiff(want, got), want)
		}
	}
	if out := dovecotWith(t, h.home, uidlListing, "pop3_uidl_format=%u%m"); strings.Contains(out, "\r\n.\r\n") {
		t.Errorf("Dovecot served %%m on a Maildir:\n%s", out)
	}
	if _, err := NewConfig(Settings{UIDLFormat: "%u%m"}); err == nil {
		t.Error("NewConfig accepted %m")
	}
}

// TestDovecotStoredUIDLs: UIDLs Dovecot stored with pop3_save_uidl
// (dovecot-uidlist P: empty for "the file name" under %f, the UIDL
// itself otherwise) win over pop3_uidl_format and X-UIDL headers, and a
// stored POP3 order (O, as a migration writes it) orders the listing, in
// cote as in Dovecot; cote's own sessions and deliveries keep them.
func TestDovecotStoredUIDLs(t *testing.T) {
	requireDovecot(t)
	h := newHarness(t)
	md := filepath.Join(h.home, "Maildir")
	writeMaildir(t, h.home, map[string]string{
		"new/1700000001.M1P1.host":     msg1, // X-UIDL: legacy-1
		"new/1700000002.M2P1.host":     msg2,
		"cur/1700000003.M3P1.host:2,S": msg3,
	}, "")
	// cote indexes the Maildir before any UIDL is stored.
	if out := coteSession(t, h, Config{}, uidlListing); !strings.HasSuffix(out, "+OK Logging out.\r\n") {
		t.Fatalf("cote: %s", out)
	}
	// Dovecot stores %f UIDLs for these three (empty P) ...
	dovecotWith(t, h.home, "UIDL\r\nQUIT\r\n", "pop3_save_uidl=yes", "pop3_uidl_format=%f")
	// ... and its default format's for two more.
	writeMaildir(t, h.home, map[string]string{
		"new/1700000004.M4P1.host": "Subject: four\r\n\r\n4\r\n",
		"new/1700000005.M5P1.host": "Subject: five\r\n\r\n5\r\n",
	}, "")
	dovecotWith(t, h.home, "UIDL\r\nQUIT\r\n", "pop3_save_uidl=yes")
	ul, err := os.ReadFile(filepath.Join(md, "dovecot-uidlist"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`(?m) P(\S*) `).FindAll(ul, -1)); n != 5 {
		t.Fatalf("Dovecot stored %d UIDLs, want 5:\n%s", n, ul)
	}
	// A migration's POP3 order on UIDs 2 and 5 (Dovecot's pop3 does not
	// write O itself), and one message without a stored UIDL.
	s := regexp.MustCompile(`(?m)^2 `).ReplaceAllString(string(ul), "2 O2 ")
	s = regexp.MustCompile(`(?m)^5 `).ReplaceAllString(s, "5 O1 ")
	if err := os.WriteFile(filepath.Join(md, "dovecot-uidlist"), []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	writeMaildir(t, h.home, map[string]string{"new/1700000006.M6P1.host": "X-UIDL: six\r\n\r\n6\r\n"}, "")

	opts := []string{"pop3_uidl_format=%u.%v", "pop3_reuse_xuidl=yes"}
	cfg, err := NewConfig(Settings{UIDLFormat: "%u.%v", ReuseXUIDL: true})
	if err != nil {
		t.Fatal(err)
	}
	want := dovecotWith(t, h.home, uidlListing, opts...)
	for _, w := range []string{"\r\n1 00000005", "\r\n2 1700000002.M2P1.host\r\n", "\r\n6 six\r\n", "\r\n3 1700000001.M1P1.host\r\n"} {
		if !strings.Contains(want, w) {
			t.Fatalf("Dovecot's listing lacks %q:\n%s", w, want)
		}
	}
	if got := coteSession(t, h, cfg, uidlListing); got != want {
		t.Fatalf("cote and Dovecot differ:\n%s\nDovecot:\n%s", lineDiff(want, got), want)
	}

	// cote deletes message 3 of the listing (UID 1) and delivers one
	// more: the stored UIDLs and orders of the rest stay, for both.
	if out := coteSession(t, h, cfg, "DELE 3\r\nQUIT\r\n"); !strings.HasSuffix(out, "+OK Logging out, messages deleted.\r\n") && !strings.HasSuffix(out, "+OK Logging out.\r\n") {
		t.Fatalf("cote DELE: %s", out)
	}
	h.deliver(t, "Subject: seven\r\n\r\n7\r\n")
	ul2, err := os.ReadFile(filepath.Join(md, "dovecot-uidlist"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"O2 ", "O1 ", " P :1700000002.M2P1.host"} {
		if !strings.Contains(string(ul2), w) {
			t.Errorf("dovecot-uidlist lost %q after cote's session and delivery:\n%s", w, ul2)
		}
	}
	want = dovecotWith(t, h.home, uidlListing, opts...)
	if strings.Contains(want, "1700000001.M1P1.host") {
		t.Fatalf("the deleted message is still listed:\n%s", want)
	}
	if got := coteSession(t, h, cfg, uidlListing); got != want {
		t.Errorf("after cote's changes, cote and Dovecot differ:\n%s\nDovecot:\n%s", lineDiff(want, got), want)
	}
}

// storedUIDLs returns the P extensions of a dovecot-uidlist by UID ("-"
// for none).
func storedUIDLs(t *testing.T, home string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, "Maildir", "dovecot-uidlist"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		out[f[0]] = "-"
		for _, e := range f[1:] {
			if strings.HasPrefix(e, "P") {
				out[f[0]] = e
			}
		}
	}
	return out
}

// TestDovecotSaveUIDL: with pop3_save_uidl, cote stores the UIDLs it
// sent in dovecot-uidlist exactly as Dovecot's pop3 does on a copy of the
// same Maildir (an empty P for a UIDL equal to the file name, X-UIDL
// values, stored ones left alone), and Dovecot then serves them.
func TestDovecotSaveUIDL(t *testing.T) {
	requireDovecot(t)
	for _, f := range []string{"%f", "%08Xu%08Xv"} {
		files := map[string]string{
			"new/1700000001.M1P1.host":     msg1, // X-UIDL: legacy-1
			"new/1700000002.M2P1.host":     msg2,
			"cur/1700000003.M3P1.host:2,S": msg3,
			"new/1700000004.M4P1.host":     "Subject: four\r\n\r\n4\r\n",
		}
		uidlist := "3 V1700000000 N5 G0123456789abcdef0123456789abcdef\n" +
			"1 :1700000001.M1P1.host\n2 :1700000002.M2P1.host\n3 Pkept :1700000003.M3P1.host\n4 :1700000004.M4P1.host\n"
		h, ref := newHarness(t), newHarness(t)
		writeMaildir(t, h.home, files, uidlist)
		writeMaildir(t, ref.home, files, uidlist)
		opts := []string{"pop3_uidl_format=" + f, "pop3_reuse_xuidl=yes", "pop3_save_uidl=yes"}
		want := dovecotWith(t, ref.home, uidlListing, opts...)
		cfg, err := NewConfig(Settings{UIDLFormat: f, ReuseXUIDL: true, SaveUIDL: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := coteSession(t, h, cfg, uidlListing); got != want {
			t.Fatalf("%s: cote and Dovecot differ:\n%s", f, lineDiff(want, got))
		}
		wantP, gotP := storedUIDLs(t, ref.home), storedUIDLs(t, h.home)
		if !reflect.DeepEqual(gotP, wantP) {
			t.Errorf("%s: stored UIDLs %v, Dovecot stored %v", f, gotP, wantP)
		}
		// Dovecot, with another format and no X-UIDL, serves what cote saved.
		if again := dovecotWith(t, h.home, uidlListing, "pop3_uidl_format=%u-%v"); again != want {
			t.Errorf("%s: Dovecot after cote's pop3_save_uidl:\n%s", f, lineDiff(want, again))
		}
	}
}
