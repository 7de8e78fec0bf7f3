package authproto

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func parseCmd(t *testing.T, line string) (*ClientCommand, error) {
	t.Helper()
	args, err := ParseLine([]byte(line))
	if err != nil {
		return nil, err
	}
	return ParseClientCommand(args)
}

func TestParseClientCommand(t *testing.T) {
	big := strings.Repeat("A", (MaxSASLResponse+1+2)/3*4) // base64 of > 8 KiB
	tests := []struct {
		name string
		line string
		want *ClientCommand
		err  error
	}{
		{"version", "VERSION\t1\t2", &ClientCommand{Kind: CmdVersion, Major: 1, Minor: 2}, nil},
		{"version newer minor", "VERSION\t1\t3", &ClientCommand{Kind: CmdVersion, Major: 1, Minor: 3}, nil},
		{"version other major", "VERSION\t2\t0", nil, ErrVersion},
		{"version garbage", "VERSION\tx\t0", nil, ErrMalformed},
		{"cpid", "CPID\t4242", &ClientCommand{Kind: CmdCPID, PID: 4242}, nil},
		{"cpid zero", "CPID\t0", nil, ErrMalformed},
		{"auth minimal", "AUTH\t1\tPLAIN\tservice=imap",
			&ClientCommand{Kind: CmdAuth, ID: 1, Auth: &Request{Mech: "PLAIN", Service: "imap"}}, nil},
		{"auth full", "AUTH\t7\tPLAIN\tservice=smtp\tsecured\tvalid-client-cert\tno-penalty\tlip=192.0.2.1\tlport=587\trip=2001:db8::1\trport=40000\tlocal_name=mail.example.com\tsession=abc\tcote_cbind_type=tls-exporter\tcote_cbind=AQID\tcote_cert_user=bob\tresp=AGJvYgBzZWNyZXQ=",
			&ClientCommand{Kind: CmdAuth, ID: 7, Auth: &Request{
				Mech: "PLAIN", Service: "smtp", Secured: true, ValidClientCert: true, NoPenalty: true,
				Local:     netip.MustParseAddrPort("192.0.2.1:587"),
				Remote:    netip.MustParseAddrPort("[2001:db8::1]:40000"),
				LocalName: "mail.example.com", CBindType: "tls-exporter", CBind: []byte{1, 2, 3}, CertUser: "bob",
				InitialResponse: []byte("\x00bob\x00secret"),
				Extra:           Fields{{Key: "session", Value: "abc", HasValue: true}},
			}}, nil},
		{"auth empty resp", "AUTH\t2\tPLAIN\tservice=imap\tresp=",
			&ClientCommand{Kind: CmdAuth, ID: 2, Auth: &Request{Mech: "PLAIN", Service: "imap", InitialResponse: []byte{}}}, nil},
		{"auth postfix style", "AUTH\t3\tLOGIN\tservice=smtp\tnologin\tlip=\trip=",
			&ClientCommand{Kind: CmdAuth, ID: 3, Auth: &Request{Mech: "LOGIN", Service: "smtp", Extra: Fields{{Key: "nologin"}}}}, nil},
		{"auth v4-mapped", "AUTH\t4\tPLAIN\tservice=imap\trip=::ffff:192.0.2.9",
			&ClientCommand{Kind: CmdAuth, ID: 4, Auth: &Request{Mech: "PLAIN", Service: "imap", Remote: netip.MustParseAddrPort("192.0.2.9:0")}}, nil},
		{"auth no service", "AUTH\t1\tPLAIN", nil, ErrMalformed},
		{"auth empty service", "AUTH\t1\tPLAIN\tservice=", nil, ErrMalformed},
		{"auth id zero", "AUTH\t0\tPLAIN\tservice=imap", nil, ErrMalformed},
		{"auth id negative", "AUTH\t-1\tPLAIN\tservice=imap", nil, ErrMalformed},
		{"auth id overflow", "AUTH\t4294967296\tPLAIN\tservice=imap", nil, ErrMalformed},
		{"auth no mech", "AUTH\t1", nil, ErrMalformed},
		{"auth bad ip", "AUTH\t1\tPLAIN\tservice=imap\trip=300.1.1.1", nil, ErrMalformed},
		{"auth bad port", "AUTH\t1\tPLAIN\tservice=imap\trip=192.0.2.1\trport=70000", nil, ErrMalformed},
		{"auth port without ip", "AUTH\t1\tPLAIN\tservice=imap\trport=1", nil, ErrMalformed},
		{"auth bad base64", "AUTH\t1\tPLAIN\tservice=imap\tresp=!!!", nil, ErrMalformed},
		{"auth oversized resp", "AUTH\t1\tPLAIN\tservice=imap\tresp=" + big, nil, ErrTooLarge},
		{"auth bad cbind type", "AUTH\t1\tSCRAM-SHA-256-PLUS\tservice=imap\tcote_cbind_type=tls-unique\tcote_cbind=AQID", nil, ErrMalformed},
		{"auth cbind without type", "AUTH\t1\tSCRAM-SHA-256-PLUS\tservice=imap\tcote_cbind=AQID", nil, ErrMalformed},
		{"cont", "CONT\t5\tZGF0YQ==", &ClientCommand{Kind: CmdCont, ID: 5, Data: []byte("data")}, nil},
		{"cont empty", "CONT\t5\t", &ClientCommand{Kind: CmdCont, ID: 5, Data: []byte{}}, nil},
		{"cont missing data", "CONT\t5", nil, ErrMalformed},
		{"cont oversized", "CONT\t5\t" + big, nil, ErrTooLarge},
		{"cancel", "CANCEL\t9", &ClientCommand{Kind: CmdCancel, ID: 9}, nil},
		{"unknown", "HELLO\t1", nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCmd(t, tt.line)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			if tt.err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got.Auth, tt.want.Auth)
			}
		})
	}
}

func TestRequestArgsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    Request
	}{
		{"minimal", Request{Mech: "PLAIN", Service: "imap"}},
		{"everything", Request{
			Mech: "SCRAM-SHA-256-PLUS", Service: "imap", Secured: true, ValidClientCert: true, NoPenalty: true,
			Local: netip.MustParseAddrPort("127.0.0.1:993"), Remote: netip.MustParseAddrPort("[::1]:5555"),
			LocalName: "imap.example.org", InitialResponse: []byte("p=tls-exporter,,n=user,r=abc"),
			CBindType: "tls-server-end-point", CBind: bytes.Repeat([]byte{7}, 32), CertUser: "user\twith tab",
			Extra: Fields{{Key: "session", Value: "s1", HasValue: true}, {Key: "debug"}},
		}},
		{"empty initial response", Request{Mech: "PLAIN", Service: "pop3", InitialResponse: []byte{}}},
		{"ip without port", Request{Mech: "PLAIN", Service: "smtp", Remote: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCmd(t, string(FormatLine(tt.r.Args(42)...)))
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != 42 || !reflect.DeepEqual(*got.Auth, tt.r) {
				t.Fatalf("round trip:\n got  %+v\n want %+v", *got.Auth, tt.r)
			}
		})
	}
}

func TestReplyRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    Reply
		line string
	}{
		{"cont", Reply{Kind: KindCont, Data: []byte("Username:")}, "CONT\t3\tVXNlcm5hbWU6\n"},
		{"cont empty", Reply{Kind: KindCont, Data: []byte{}}, "CONT\t3\t\n"},
		{"ok", Reply{Kind: KindOK, User: "bob@example.com"}, "OK\t3\tuser=bob@example.com\n"},
		{"ok with data and fields", Reply{Kind: KindOK, User: "bob", Data: []byte("v=xyz"), Fields: Fields{{Key: "original_user", Value: "Bob", HasValue: true}}},
			"OK\t3\tuser=bob\toriginal_user=Bob\tresp=dj14eXo=\n"},
		{"fail bare", Reply{Kind: KindFail}, "FAIL\t3\n"},
		{"fail all", Reply{Kind: KindFail, User: "bob", Temp: true, NoLogin: true, Reason: "try\tlater", Fields: Fields{{Key: "code", Value: "temp_fail", HasValue: true}}},
			"FAIL\t3\tuser=bob\tcode=temp_fail\ttemp\tnologin\treason=try\001tlater\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := tt.r.Line(3)
			if string(line) != tt.line {
				t.Fatalf("Line = %q, want %q", line, tt.line)
			}
			args, err := ParseLine(line)
			if err != nil {
				t.Fatal(err)
			}
			id, got, err := ParseReply(args)
			if err != nil || id != 3 {
				t.Fatalf("ParseReply = %d, %v", id, err)
			}
			if !reflect.DeepEqual(got, tt.r) {
				t.Fatalf("round trip:\n got  %+v\n want %+v", got, tt.r)
			}
		})
	}
}

func TestParseReplyErrors(t *testing.T) {
	tests := []struct{ name, line string }{
		{"short", "OK"},
		{"bad id", "OK\tx\tuser=a"},
		{"zero id", "FAIL\t0"},
		{"unknown", "MAYBE\t1"},
		{"cont no data", "CONT\t1"},
		{"cont bad base64", "CONT\t1\t***"},
		{"ok bad resp", "OK\t1\tuser=a\tresp=***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, err := ParseLine([]byte(tt.line))
			if err == nil {
				_, _, err = ParseReply(args)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestHandshake(t *testing.T) {
	h := Handshake{
		Mechs: []Mech{{Name: "PLAIN", Plaintext: true}, {Name: "SCRAM-SHA-256", MutualAuth: true}, {Name: "CRAM-MD5", Dictionary: true, Active: true}},
		SPID:  1234, CUID: 56, Cookie: "0123456789abcdef0123456789abcdef",
	}
	var buf bytes.Buffer
	if err := WriteClientHandshake(&buf, h); err != nil {
		t.Fatal(err)
	}
	want := "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tSCRAM-SHA-256\tmutual-auth\nMECH\tCRAM-MD5\tdictionary\tactive\nSPID\t1234\nCUID\t56\nCOOKIE\t0123456789abcdef0123456789abcdef\nDONE\n"
	if buf.String() != want {
		t.Fatalf("handshake:\n%q\nwant\n%q", buf.String(), want)
	}
	got, err := readClientHandshake(NewConn(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("read back %+v, want %+v", got, h)
	}
	if err := WriteClientHandshake(&buf, Handshake{Cookie: "short"}); err == nil {
		t.Fatal("a short cookie was accepted")
	}
}

func TestReadHandshakeErrors(t *testing.T) {
	const tail = "SPID\t1\nCUID\t1\nCOOKIE\t0123456789abcdef0123456789abcdef\nDONE\n"
	tests := []struct {
		name, in string
		err      error
	}{
		{"not version first", "MECH\tPLAIN\n" + tail, ErrMalformed},
		{"major 2", "VERSION\t2\t0\n" + tail, ErrVersion},
		{"no cookie", "VERSION\t1\t2\nSPID\t1\nCUID\t1\nDONE\n", ErrMalformed},
		{"bad cookie", "VERSION\t1\t2\nSPID\t1\nCUID\t1\nCOOKIE\txyz\nDONE\n", ErrMalformed},
		{"bad spid", "VERSION\t1\t2\nSPID\t-3\nCUID\t1\nCOOKIE\t0123456789abcdef0123456789abcdef\nDONE\n", ErrMalformed},
		{"mech without name", "VERSION\t1\t2\nMECH\n" + tail, ErrMalformed},
		{"endless", "VERSION\t1\t2\n" + strings.Repeat("X\n", maxHandshakeLines+1), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readClientHandshake(NewConn(bytes.NewBufferString(tt.in)))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
		})
	}
	// Unknown lines and flags are skipped (forward compatibility).
	h, err := readClientHandshake(NewConn(bytes.NewBufferString("VERSION\t1\t3\nMECH\tX\tanonymous\tnew-flag\nFUTURE\tthing\n" + tail)))
	if err != nil || len(h.Mechs) != 1 || h.Mechs[0] != (Mech{Name: "X"}) {
		t.Fatalf("forward-compatible handshake: %+v, %v", h, err)
	}
}
