package storage

import (
	"errors"
	"testing"
)

func TestParseLocation(t *testing.T) {
	for _, c := range []struct {
		name, in, home string
		path           string
		params         map[string]string
		err            bool
	}{
		{name: "home", in: "maildir:~/Maildir", home: "/h/u", path: "/h/u/Maildir"},
		{name: "params", in: "maildir:/var/mail/u:LAYOUT=maildir++", path: "/var/mail/u", params: map[string]string{"LAYOUT": "maildir++"}},
		{name: "escaped colon", in: "maildir:/a::b", path: "/a:b"},
		{name: "no driver", in: "/var/mail", err: true},
		{name: "relative", in: "maildir:Maildir", err: true},
		{name: "no home", in: "maildir:~/Maildir", err: true},
		{name: "bad param", in: "maildir:/m:LAYOUT", err: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			loc, err := ParseLocation(c.in, c.home)
			if (err != nil) != c.err {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if loc.Driver != "maildir" || loc.Path != c.path {
				t.Fatalf("got %+v", loc)
			}
			for k, v := range c.params {
				if loc.Params[k] != v {
					t.Fatalf("param %s = %q", k, loc.Params[k])
				}
			}
		})
	}
}

func TestParseQuotaRule(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     Quota
		err      bool
	}{
		{name: "storage unit", in: "*:storage=1G", want: Quota{StorageBytes: 1 << 30}},
		{name: "storage kilobytes", in: "*:storage=100", want: Quota{StorageBytes: 100 << 10}},
		{name: "bytes", in: "*:bytes=1000", want: Quota{StorageBytes: 1000}},
		{name: "messages", in: "*:messages=50", want: Quota{Messages: 50}},
		{name: "both", in: "*:storage=1M:messages=5", want: Quota{StorageBytes: 1 << 20, Messages: 5}},
		{name: "per mailbox", in: "Trash:storage=+10M", err: true},
		{name: "percent", in: "*:storage=10%", err: true},
		{name: "ignore", in: "*:ignore", err: true},
		{name: "garbage", in: "*:storage=x", err: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var q Quota
			err := ParseQuotaRule(c.in, &q)
			if (err != nil) != c.err {
				t.Fatalf("err = %v", err)
			}
			if err == nil && q != c.want {
				t.Fatalf("got %+v, want %+v", q, c.want)
			}
		})
	}
	q := Quota{StorageBytes: 100, Messages: 2}
	if q.Exceeds(QuotaUsage{Bytes: 50, Messages: 1}, 50, 1) || !q.Exceeds(QuotaUsage{Bytes: 50, Messages: 1}, 51, 1) || !q.Exceeds(QuotaUsage{Messages: 2}, 0, 1) {
		t.Fatal("Exceeds is wrong")
	}
}

func TestValidStoreName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"INBOX", true}, {"a/b/c", true}, {"Grüße", true},
		{"", false}, {"a//b", false}, {"../x", false}, {"a/..", false}, {"a\x01", false},
		{"~x", false}, {"a*b", false}, {string([]byte{0xff}), false},
	} {
		if err := ValidStoreName(c.name); (err == nil) != c.ok {
			t.Errorf("ValidStoreName(%q) = %v", c.name, err)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	cause := errors.New("disk on fire")
	err := Errorf("save", "INBOX", ErrOverQuota, cause)
	if !errors.Is(err, ErrOverQuota) || !errors.Is(err, cause) || errors.Is(err, ErrNotFound) {
		t.Fatal("errors.Is does not see kind and cause")
	}
	if KindOf(err) != ErrOverQuota || KindOf(cause) != ErrTemporary {
		t.Fatal("KindOf")
	}
}

func TestFlags(t *testing.T) {
	f, ok := ParseFlag(`\seen`)
	if !ok || f != FlagSeen {
		t.Fatal("ParseFlag")
	}
	if _, ok := ParseFlag(`\Recent`); ok {
		t.Fatal(`\Recent is not a stored flag`)
	}
	if got := (FlagSeen | FlagDeleted).Names(); len(got) != 2 || got[0] != `\Deleted` {
		t.Fatalf("Names = %v", got)
	}
	for s, ok := range map[string]bool{"$Junk": true, "a(b": false, "": false, `x\`: false, "ü": false} {
		if ValidKeyword(s) != ok {
			t.Errorf("ValidKeyword(%q) != %v", s, ok)
		}
	}
}
