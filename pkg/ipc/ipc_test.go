package ipc

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestListenersRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []ListenerSpec
		enc   string
	}{
		{"none", nil, ""},
		{"plain", []ListenerSpec{{Name: "imap"}}, "imap"},
		{"flags", []ListenerSpec{{Name: "imap"}, {Name: "imaps", SSL: true}, {Name: "auth-client", Unix: true}},
			"imap:imaps+ssl:auth-client+unix"},
		{"all flags", []ListenerSpec{{Name: "x", Unix: true, SSL: true, HAProxy: true}}, "x+unix+ssl+haproxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := EncodeListeners(tc.specs); got != tc.enc {
				t.Fatalf("EncodeListeners = %q, want %q", got, tc.enc)
			}
			got, err := ParseListeners(tc.enc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.specs) {
				t.Fatalf("ParseListeners(%q) = %+v, want %+v", tc.enc, got, tc.specs)
			}
		})
	}
}

func TestParseListenersErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{":imap", `ipc: empty listener name in ":imap"`},
		{"imap+tls", `ipc: unknown listener flag "tls" in "imap+tls"`},
	} {
		if _, err := ParseListeners(tc.in); err == nil || err.Error() != tc.want {
			t.Errorf("ParseListeners(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestRestrictRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Restrict
	}{
		{"keep", NoRestrict},
		{"login", Restrict{UID: 65534, GID: 65534, Groups: []int{}, Chroot: "/run/cote/login",
			RlimitData: 256 << 20, GoMemLimit: 230 << 20}},
		{"groups", Restrict{UID: 8, GID: 12, Groups: []int{12, 100}}},
		{"system user", Restrict{UID: -1, GID: -1, RootUntilHandoff: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRestrict(tc.r.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.r) {
				t.Fatalf("round trip: got %+v, want %+v", got, tc.r)
			}
		})
	}
}

func TestParseRestrictErrors(t *testing.T) {
	for _, in := range []string{"uid=x", "gid=1.5", "groups=1,a", "rlimit_data=-1", "%zz"} {
		if _, err := ParseRestrict(in); err == nil {
			t.Errorf("ParseRestrict(%q): no error", in)
		}
	}
}

func TestMessages(t *testing.T) {
	var b strings.Builder
	for _, m := range []Message{{Verb: StatusReady, N: 1000}, {Verb: StatusAvail, N: 0}, {Verb: StatusDone},
		{Verb: ControlStop}, {Verb: ControlShutdown}, {Verb: ControlOverflow}} {
		if err := WriteMessage(&b, m); err != nil {
			t.Fatal(err)
		}
	}
	if want := "ready 1000\navail 0\ndone\nstop\nshutdown\noverflow\n"; b.String() != want {
		t.Fatalf("wire = %q, want %q", b.String(), want)
	}
	r := bufio.NewReader(strings.NewReader(b.String()))
	for _, want := range []Message{{Verb: StatusReady, N: 1000}, {Verb: StatusAvail}, {Verb: StatusDone},
		{Verb: ControlStop}, {Verb: ControlShutdown}, {Verb: ControlOverflow}} {
		got, err := ReadMessage(r)
		if err != nil || got != want {
			t.Fatalf("ReadMessage = %+v, %v; want %+v", got, err, want)
		}
	}
}

func TestReadMessageErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"unknown verb", "hello\n"},
		{"negative", "avail -1\n"},
		{"not a number", "ready x\n"},
		{"argument to done", "done 1\n"},
		{"argument to overflow", "overflow 1\n"},
		{"too long", "avail " + strings.Repeat("1", 100) + "\n"},
		{"unterminated", "stop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := ReadMessage(bufio.NewReader(strings.NewReader(tc.in))); err == nil {
				t.Fatalf("ReadMessage(%q) = %+v, want an error", tc.in, m)
			}
		})
	}
}

func TestSealedMemfd(t *testing.T) {
	data := []byte(strings.Repeat("settings ", 20000)) // past a pipe's 64 KiB
	f, err := SealedMemfd("cote-test", data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadSnapshot(f)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(data) {
		t.Fatalf("snapshot differs: %d bytes, want %d", len(got), len(data))
	}
	if _, err := f.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("a sealed memfd accepted a write")
	}
}

func TestProcCredsSelf(t *testing.T) {
	threads, root, err := ProcCreds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) == 0 || root == "" {
		t.Fatalf("ProcCreds: %d threads, root %q", len(threads), root)
	}
	uid := os.Getuid()
	for _, th := range threads {
		if th.UIDs[0] != uid {
			t.Fatalf("thread %d: uid %d, want %d", th.TID, th.UIDs[0], uid)
		}
	}
	// The test process has no restriction applied: a record asking for
	// another uid must be refused, one keeping everything accepted.
	if err := (Restrict{UID: uid + 1, GID: -1}).Check(os.Getpid()); err == nil {
		t.Fatal("Check accepted a wrong uid")
	}
	if err := NoRestrict.Check(os.Getpid()); err != nil && root == "/" {
		t.Fatalf("Check(NoRestrict): %v", err)
	}
}

func FuzzReadMessage(f *testing.F) {
	for _, s := range []string{"ready 1\n", "avail 0\n", "done\n", "stop\n", "shutdown\n", "x\n", "avail 99999999999999999999\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ReadMessage(bufio.NewReader(strings.NewReader(in)))
		if err != nil {
			return
		}
		var b strings.Builder
		if err := WriteMessage(&b, m); err != nil {
			t.Fatal(err)
		}
		m2, err := ReadMessage(bufio.NewReader(strings.NewReader(b.String())))
		if err != nil || m2 != m {
			t.Fatalf("round trip of %q: %+v, %v", in, m2, err)
		}
	})
}

func FuzzParseRestrict(f *testing.F) {
	f.Add(NoRestrict.Encode())
	f.Add(Restrict{UID: 1, GID: 2, Groups: []int{3}, Chroot: "/x", RlimitData: 5}.Encode())
	f.Add("groups=&uid=")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseRestrict(in)
		if err != nil {
			return
		}
		r2, err := ParseRestrict(r.Encode())
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip of %q: %+v -> %+v, %v", in, r, r2, err)
		}
	})
}

func FuzzParseListeners(f *testing.F) {
	for _, s := range []string{"imap:imaps+ssl", "a+unix+haproxy", "", ":", "x+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		specs, err := ParseListeners(in)
		if err != nil {
			return
		}
		again, err := ParseListeners(EncodeListeners(specs))
		if err != nil || !reflect.DeepEqual(again, specs) {
			t.Fatalf("round trip of %q: %+v, %v", in, again, err)
		}
	})
}
