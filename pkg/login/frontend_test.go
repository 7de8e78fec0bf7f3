package login

import (
	"slices"
	"testing"
)

func TestMechanisms(t *testing.T) {
	cases := []struct {
		name    string
		in, out []string
	}{
		{"empty", nil, nil},
		{"upper-cased in order", []string{"plain", "Login", "scram-sha-256"}, []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"}},
		{"each once", []string{"plain", "PLAIN", "login", "Plain"}, []string{"PLAIN", "LOGIN"}},
	}
	for _, c := range cases {
		if got := Mechanisms(c.in); !slices.Equal(got, c.out) {
			t.Errorf("%s: Mechanisms(%q) = %q, want %q", c.name, c.in, got, c.out)
		}
	}
}
