package settings

import (
	"testing"
	"time"
)

func TestParseBool(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     bool
		err      string
	}{
		{"yes", "yes", true, ""},
		{"upper", "YES", true, ""},
		{"y", "y", true, ""},
		{"one", "1", true, ""},
		{"no", "no", false, ""},
		{"zero", "0", false, ""},
		{"bad", "maybe", false, "must be yes or no"},
		{"empty", "", false, "must be yes or no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseBool(tc.in)
			if errString(err) != tc.err || got != tc.want {
				t.Errorf("ParseBool(%q) = %v, %q; want %v, %q", tc.in, got, errString(err), tc.want, tc.err)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     uint64
		err      string
	}{
		{"bytes", "100", 100, ""},
		{"B", "100 B", 100, ""},
		{"k", "512k", 512 << 10, ""},
		{"kB", "512 kB", 512 << 10, ""},
		{"M", "256M", 256 << 20, ""},
		{"spaced", "10 M", 10 << 20, ""},
		{"G", "1G", 1 << 30, ""},
		{"T", "2T", 2 << 40, ""},
		{"unlimited", "unlimited", 0, ""},
		{"bad unit", "256Q", 0, `invalid size unit in "256Q" (use B, k, M, G or T)`},
		{"no number", "M", 0, `invalid size "M" (use a number with an optional unit B, k, M, G or T, or unlimited)`},
		{"overflow", "99999999999999999999", 0, `size "99999999999999999999" is too large`},
		{"shift overflow", "17179869184T", 0, `size "17179869184T" is too large`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if errString(err) != tc.err || got != tc.want {
				t.Errorf("ParseSize(%q) = %d, %q; want %d, %q", tc.in, got, errString(err), tc.want, tc.err)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     time.Duration
		err      string
	}{
		{"bare seconds", "30", 30 * time.Second, ""},
		{"secs", "30 secs", 30 * time.Second, ""},
		{"s", "2s", 2 * time.Second, ""},
		{"min", "1 min", time.Minute, ""},
		{"mins", "5 mins", 5 * time.Minute, ""},
		{"m", "5m", 5 * time.Minute, ""},
		{"hour", "1 hour", time.Hour, ""},
		{"hours", "12 hours", 12 * time.Hour, ""},
		{"days", "2 days", 48 * time.Hour, ""},
		{"weeks", "1 week", 7 * 24 * time.Hour, ""},
		{"ms", "500 ms", 500 * time.Millisecond, ""},
		{"msecs", "2000 msecs", 2 * time.Second, ""},
		{"zero", "0", 0, ""},
		{"dovecot infinity", "4294967295 secs", 4294967295 * time.Second, ""},
		{"bad unit", "5 fortnights", 0, `invalid time unit in "5 fortnights" (use ms, secs, mins, hours, days or weeks)`},
		{"no number", "min", 0, `invalid time "min" (use a number with a unit such as 30 secs, 5 mins, 1 hour)`},
		{"overflow", "999999999999 weeks", 0, `time "999999999999 weeks" is too large`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if errString(err) != tc.err || got != tc.want {
				t.Errorf("ParseDuration(%q) = %v, %q; want %v, %q", tc.in, got, errString(err), tc.want, tc.err)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     uint32
		err      string
	}{
		{"0600", "0600", 0o600, ""},
		{"0666", "0666", 0o666, ""},
		{"zero", "0", 0, ""},
		{"00", "00", 0, ""},
		{"no leading zero", "666", 0, `file mode "666" must be octal with a leading 0 (0666)`},
		{"not octal", "0999", 0, `invalid file mode "0999" (use octal such as 0600)`},
		{"too big", "017777", 0, `invalid file mode "017777" (use octal such as 0600)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMode(tc.in)
			if errString(err) != tc.err || got != tc.want {
				t.Errorf("ParseMode(%q) = %o, %q; want %o, %q", tc.in, got, errString(err), tc.want, tc.err)
			}
		})
	}
}

// TestCheckValue covers the per-type validation messages of the schema.
func TestCheckValue(t *testing.T) {
	for _, tc := range []struct {
		name, kind, key, in, want string
	}{
		{"uint ok", KindService, "client_limit", "10", ""},
		{"uint word", KindService, "client_limit", "many", `must be a number, not "many"`},
		{"uint unlimited", KindService, "process_limit", "unlimited", `must be a number ("unlimited" is not allowed here)`},
		{"uint zero", KindService, "client_limit", "0", "must be > 0 (remove it to use default_client_limit)"},
		{"port max", KindInetListener, "port", "65535", ""},
		{"port over", KindInetListener, "port", "65536", "must be 0..65535"},
		{"enum", KindRoot, "ssl_min_protocol", "SSLv9", `invalid value "SSLv9" (use SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 or ANY) (did you mean "SSLv3"?)`},
		{"list word", KindRoot, "auth_mechanisms", "plain logn", `unknown value "logn" (use plain, login, cram-md5, digest-md5, scram-sha-1, scram-sha-256, external, anonymous, apop, ntlm, gssapi, gss-spnego, otp, xoauth2, oauthbearer, winbind, rpa or skey) (did you mean "login"?)`},
		{"listen ok", KindRoot, "listen", "*, ::, 127.0.0.1, [::1], mail.example.com", ""},
		{"listen bad", KindRoot, "listen", "300.1.1.1/8", `invalid address "300.1.1.1/8" (use *, ::, an IP address or a host name)`},
		{"networks ok", KindRoot, "login_trusted_networks", "10.0.0.0/8 192.0.2.1 ::1", ""},
		{"user ok", KindRoot, "default_login_user", "cotenull", ""},
		{"user bad", KindRoot, "default_login_user", "bad user!", `invalid user or group name "bad user!"`},
		{"maildir", KindRoot, "mail_location", "maildir:~/Maildir", ""},
		{"no driver", KindRoot, "mail_location", "~/Maildir", `"~/Maildir" names no driver (use maildir:~/Maildir)`},
		{"executable relative", KindService, "executable", "bin/imap-login", `"bin/imap-login" must be an absolute path or a bare name in the libexec directory`},
		{"executable args", KindService, "executable", "imap-login -D", ""},
		{"separator", KindNamespace, "separator", "//", "must be a single character"},
		{"shared namespace", KindNamespace, "type", "shared", "only private namespaces are supported"},
		{"special use", KindMailbox, "special_use", `\Sent \Junk`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := lookup(tc.kind, tc.key)
			if s == nil {
				t.Fatalf("no schema row for %s %s", tc.kind, tc.key)
			}
			if got := checkValue(s, tc.in); got != tc.want {
				t.Errorf("checkValue(%s, %q) = %q, want %q", tc.key, tc.in, got, tc.want)
			}
		})
	}
}

func TestSameAsDefault(t *testing.T) {
	for _, tc := range []struct {
		name, v, def string
		want         bool
	}{
		{"exact", "no", "no", true},
		{"bool spelling", "n", "no", true},
		{"time units", "60 s", "1 mins", true},
		{"time other", "2 mins", "1 mins", false},
		{"size", "10M", "10 M", true},
		{"empty", "", "", true},
		{"set vs empty", "x", "", false},
		{"spaces", "fcntl  dotlock", "fcntl dotlock", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameAsDefault(tc.v, tc.def); got != tc.want {
				t.Errorf("sameAsDefault(%q, %q) = %v", tc.v, tc.def, got)
			}
		})
	}
}

func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"close", "login_greting", ` (did you mean "login_greeting"?)`},
		{"far", "zzzzzzzz", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := didYouMean(tc.in, namesOf(KindRoot)); got != tc.want {
				t.Errorf("didYouMean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
