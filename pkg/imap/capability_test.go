package imap

import (
	"slices"
	"testing"
)

func TestOverrideCapabilities(t *testing.T) {
	own := []string{"IMAP4rev1", "IDLE", "NOTIFY"}
	cases := []struct {
		name, v string
		want    []string
	}{
		{name: "unset", v: "", want: own},
		{name: "blank", v: "   ", want: own},
		{name: "added", v: "+XFOO XBAR", want: []string{"IMAP4rev1", "IDLE", "NOTIFY", "XFOO", "XBAR"}},
		{name: "added twice", v: "+idle XFOO", want: []string{"IMAP4rev1", "IDLE", "NOTIFY", "XFOO"}},
		{name: "replaced", v: "IMAP4rev1 IDLE", want: []string{"IMAP4rev1", "IDLE"}},
		{name: "replaced rev2", v: "IMAP4rev2 UIDPLUS", want: []string{"IMAP4rev2", "UIDPLUS"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := OverrideCapabilities(own, c.v); !slices.Equal(got, c.want) {
				t.Errorf("OverrideCapabilities(%q) = %q, want %q", c.v, got, c.want)
			}
		})
	}
	if OverrideCapabilities(own, "+XFOO"); len(own) != 3 {
		t.Errorf("the server's own list was changed: %q", own)
	}
}
