package maildir

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
	"github.com/cote-mail/cote/pkg/storage/maildir/format"
)

// TestMailboxID: RFC 8474 §4.1: MAILBOXID is the uidlist's mailbox GUID,
// the same through a rename and for a selected and an unselected mailbox,
// new for a recreated mailbox, and made for a uidlist that lacks one.
func TestMailboxID(t *testing.T) {
	home := t.TempDir()
	d := newDriver(t)
	u := openUser(t, home, d, nil)
	root := filepath.Join(home, "Maildir")
	status := func(name string) string {
		t.Helper()
		st, err := u.Status(name)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(st.MailboxID) {
			t.Fatalf("%s: MAILBOXID %q", name, st.MailboxID)
		}
		return st.MailboxID
	}
	if err := u.Create("A"); err != nil {
		t.Fatal(err)
	}
	id := status("A")
	if again := status("A"); again != id {
		t.Fatalf("id changed: %s then %s", id, again)
	}
	ul, err := format.ReadUidlist(filepath.Join(root, ".A"))
	if err != nil || hex.EncodeToString(ul.GUID[:]) != id {
		t.Fatalf("uidlist GUID %x, id %s, %v", ul.GUID, id, err)
	}
	mb, err := u.Open("A", false)
	if err != nil {
		t.Fatal(err)
	}
	appendMsgs(t, mb, 1, storage.AppendOptions{})
	st, err := mb.Status()
	mb.Close()
	if err != nil || st.MailboxID != id {
		t.Fatalf("selected: %q %v, want %s", st.MailboxID, err, id)
	}
	if err := u.Rename("A", "B"); err != nil {
		t.Fatal(err)
	}
	if got := status("B"); got != id {
		t.Fatalf("after rename: %s, want %s", got, id)
	}
	if err := u.Delete("B"); err != nil {
		t.Fatal(err)
	}
	if err := u.Create("B"); err != nil {
		t.Fatal(err)
	}
	if got := status("B"); got == id {
		t.Fatalf("recreated mailbox kept id %s", id)
	}
	if inbox := status("INBOX"); inbox == id {
		t.Fatal("INBOX shares an id")
	}

	// A uidlist header without G (an old tool's) gets a GUID, kept.
	p := filepath.Join(root, ".B", format.UidlistName)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	hdr, rest, _ := strings.Cut(string(data), "\n")
	hdr = regexp.MustCompile(` G[0-9a-f]+`).ReplaceAllString(hdr, "")
	if err := os.WriteFile(p, []byte(hdr+"\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}
	made := status("B")
	if again := status("B"); again != made {
		t.Fatalf("made id not kept: %s then %s", made, again)
	}
	if data, _ := os.ReadFile(p); !strings.Contains(string(data), " G"+made) {
		t.Fatalf("uidlist not rewritten with the GUID: %q", data)
	}
}
