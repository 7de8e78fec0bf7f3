package maildir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/storage"
)

// TestPOP3Info: the POP3 data of dovecot-uidlist (P: an empty value means
// the base name; O; G) reaches storage.POP3Info, a record whose base name
// is not the message's is ignored, and cote's rewrite of the uidlist (here
// forced by a damaged line) keeps P, O and unknown extensions.
func TestPOP3Info(t *testing.T) {
	home := t.TempDir()
	md := filepath.Join(home, "Maildir")
	for _, d := range []string{"new", "cur", "tmp"} {
		must(t, os.MkdirAll(filepath.Join(md, d), 0o700))
	}
	for _, n := range []string{"new/1.M1P1.h", "cur/2.M2P1.h,S=38:2,S", "new/3.M3P1.h", "new/4.M4P1.h"} {
		must(t, os.WriteFile(filepath.Join(md, n), []byte(testMsg), 0o600))
	}
	must(t, os.WriteFile(filepath.Join(md, "dovecot-uidlist"), []byte("3 V1700000000 N5 G0123456789abcdef0123456789abcdef\n"+
		"1 P :1.M1P1.h\n"+
		"2 Pstored-2 O7 Gguid2 Zkeep :2.M2P1.h,S=38\n"+
		"3 O1 :3.M3P1.h\n"+
		"4 Pnot-mine :4.OTHER\n"+
		"garbage line\n"), 0o600))
	u := openUser(t, home, newDriver(t), nil)
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	pm, ok := mb.(storage.POP3Mailbox)
	if !ok {
		t.Fatal("maildir mailbox is not a storage.POP3Mailbox")
	}
	got, err := pm.POP3Info(nil)
	if err != nil {
		t.Fatal(err)
	}
	// 4.M4P1.h got a new UID (5): the uidlist's UID 4 names another file.
	want := map[uint32]storage.POP3Info{
		1: {GUID: "1.M1P1.h", FileName: "1.M1P1.h", UIDL: "1.M1P1.h", HasUIDL: true},
		2: {GUID: "guid2", FileName: "2.M2P1.h,S=38", UIDL: "stored-2", HasUIDL: true, Order: 7},
		3: {GUID: "3.M3P1.h", FileName: "3.M3P1.h", Order: 1},
		5: {GUID: "4.M4P1.h", FileName: "4.M4P1.h"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("POP3Info:\n got %+v\nwant %+v", got, want)
	}
	appendMsgs(t, mb, 1, storage.AppendOptions{})
	ul, err := os.ReadFile(filepath.Join(md, "dovecot-uidlist"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"\n1 P :1.M1P1.h\n", " Pstored-2 ", " O7 ", " Zkeep ", "\n3 O1 :3.M3P1.h\n"} {
		if !strings.Contains(string(ul), w) {
			t.Errorf("rewritten dovecot-uidlist lost %q:\n%s", w, ul)
		}
	}
	if strings.Contains(string(ul), "garbage") {
		t.Errorf("the uidlist was not rewritten:\n%s", ul)
	}
}

// TestSavePOP3UIDLs: saved UIDLs become P extensions (empty for the base
// name), stored ones are kept, values a uidlist line cannot hold are
// skipped, and later reads see them.
func TestSavePOP3UIDLs(t *testing.T) {
	home := t.TempDir()
	u := openUser(t, home, newDriver(t), nil)
	mb, err := u.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	uids := appendMsgs(t, mb, 4, storage.AppendOptions{})
	if _, err := mb.Sync(); err != nil {
		t.Fatal(err)
	}
	pm := mb.(storage.POP3Mailbox)
	before, err := pm.POP3Info(nil)
	if err != nil {
		t.Fatal(err)
	}
	must(t, pm.SavePOP3UIDLs(map[uint32]string{uids[0]: "first", uids[1]: before[uids[1]].FileName, uids[2]: "has space"}))
	must(t, pm.SavePOP3UIDLs(map[uint32]string{uids[0]: "second", uids[3]: "fourth"}))
	got, err := pm.POP3Info(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]string{uids[0]: "first", uids[1]: before[uids[1]].FileName, uids[3]: "fourth"}
	for _, uid := range uids {
		w, ok := want[uid]
		if got[uid].HasUIDL != ok || got[uid].UIDL != w {
			t.Errorf("UID %d: %+v, want UIDL %q (stored %v)", uid, got[uid], w, ok)
		}
	}
	ul, err := os.ReadFile(filepath.Join(home, "Maildir", "dovecot-uidlist"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ul), " P :"+before[uids[1]].FileName+"\n") {
		t.Errorf("a UIDL equal to the base name is not stored as an empty P:\n%s", ul)
	}
	// A new message after the rewrite still gets the next UID.
	if n := appendMsgs(t, mb, 1, storage.AppendOptions{}); n[0] != uids[3]+1 {
		t.Errorf("next UID %d, want %d", n[0], uids[3]+1)
	}
}
