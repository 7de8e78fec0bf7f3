package testkit

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer is a line server on 127.0.0.1:0 that greets, then answers
// each command line per a tiny script: "CAP" -> two lines, "NOOP" -> OK,
// "TLS" -> OK then a TLS handshake, "BYE" -> close, "LF" -> a line ending in
// a bare LF, "SILENT" -> nothing, "ECHO x" -> x.
func fakeServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert := selfSigned(t)
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-done; c.Close() }()
				serveFake(c, cert)
			}()
		}
	}()
	return l.Addr().String()
}

func serveFake(c net.Conn, cert tls.Certificate) {
	var conn net.Conn = c
	br := bufio.NewReader(conn)
	w := func(s string) { conn.Write([]byte(s)) }
	w("* OK fake ready\r\n")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		switch {
		case cmd == "CAP":
			w("* CAPABILITY IMAP4rev1 STARTTLS\r\n* extra line\r\nOK cap\r\n")
		case cmd == "NOOP":
			w("OK noop\r\n")
		case cmd == "TLS":
			w("OK begin TLS\r\n")
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}})
			if tc.Handshake() != nil {
				return
			}
			conn = tc
			br = bufio.NewReader(tc)
		case cmd == "BYE":
			w("* BYE\r\n")
			return
		case cmd == "LF":
			w("bare\n")
		case cmd == "SILENT":
		case strings.HasPrefix(cmd, "ECHO "):
			w(strings.TrimPrefix(cmd, "ECHO ") + "\r\n")
		default:
			w("BAD " + cmd + "\r\n")
		}
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestTranscriptRun(t *testing.T) {
	addr := fakeServer(t)
	tests := []struct {
		name    string
		tr      string
		vars    map[string]string
		wantErr string // substring of the error; "" for success
	}{
		{
			name: "exact, regexp and skip",
			tr: `# a comment
S: * OK fake ready

C: CAP
S~ \* CAPABILITY .*STARTTLS
S... OK cap
C: NOOP
S...~ OK n.op
`,
		},
		{
			name: "variables",
			tr: `S: * OK ${product} ready
C: ECHO ${word} $${literal}
S: hello $${literal}
`,
			vars: map[string]string{"product": "fake", "word": "hello"},
		},
		{
			name: "starttls then commands",
			tr: `S~ \* OK .*
C: TLS
S: OK begin TLS
!starttls
C: NOOP
S: OK noop
`,
		},
		{
			name: "eof after bye",
			tr: `S~ .*
C: BYE
S: * BYE
!eof
`,
		},
		{
			name: "exact mismatch names file and line",
			tr: `S: * OK fake ready
C: NOOP
S: OK not this
`,
			wantErr: "t.tr:3: want \"OK not this\"\n got \"OK noop\"",
		},
		{
			name:    "regexp is anchored to the whole line",
			tr:      "S~ OK fake\n",
			wantErr: "t.tr:1: want a line matching",
		},
		{
			name: "bare LF is refused",
			tr: `S~ .*
C: LF
S: bare
`,
			wantErr: "t.tr:3: want \"bare\", read: server line \"bare\\n\" does not end in CRLF",
		},
		{
			name: "read deadline",
			tr: `S~ .*
C: SILENT
S: never
`,
			wantErr: "i/o timeout",
		},
		{
			name: "eof expected but line came",
			tr: `S~ .*
C: NOOP
!eof
`,
			wantErr: "t.tr:3: want the server to close, got \"OK noop\"",
		},
		{
			name: "skip reaches eof",
			tr: `S~ .*
C: BYE
S... never
`,
			wantErr: "t.tr:3: skipping to \"never\", read: EOF",
		},
		{
			name:    "unknown variable",
			tr:      "C: ${nope}\n",
			wantErr: "t.tr:1: unknown variable ${nope}",
		},
		{
			name: "history in the failure",
			tr: `S~ .*
C: NOOP
S: nope
`,
			wantErr: "last lines exchanged:\n  S: * OK fake ready\n  C: NOOP\n  S: OK noop",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := ParseTranscript("t.tr", []byte(tc.tr))
			if err != nil {
				t.Fatal(err)
			}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = tr.Run(conn, TranscriptOptions{Vars: tc.vars, ReadTimeout: 2 * time.Second})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tc.wantErr)
			}
		})
	}
}

// TestTranscriptPipe runs over an io.ReadWriter that is not a net.Conn: the
// read deadline then comes from a timer.
func TestTranscriptPipe(t *testing.T) {
	tests := []struct {
		name    string
		server  string // what the server side writes at once
		tr      string
		wantErr string
	}{
		{name: "lines", server: "a\r\nb\r\n", tr: "S: a\nS: b\n"},
		{name: "timeout", server: "a\r\n", tr: "S: a\nS: b\n", wantErr: "t.tr:2: want \"b\", read: read timed out after"},
		{name: "starttls needs a conn", server: "", tr: "!starttls\n", wantErr: "t.tr:1: !starttls needs a net.Conn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			defer pw.Close()
			pw.WriteString(tc.server)
			tr, err := ParseTranscript("t.tr", []byte(tc.tr))
			if err != nil {
				t.Fatal(err)
			}
			err = tr.Run(readWriter{pr, discard{}}, TranscriptOptions{ReadTimeout: 200 * time.Millisecond})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type readWriter struct {
	r *os.File
	w discard
}

func (rw readWriter) Read(p []byte) (int, error)  { return rw.r.Read(p) }
func (rw readWriter) Write(p []byte) (int, error) { return rw.w.Write(p) }

func TestParseTranscriptErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown directive", "X: foo\n", `t.tr:1: unknown transcript line "X: foo"`},
		{"missing space", "S:foo\n", `t.tr:1: unknown transcript line "S:foo"`},
		{"bad regexp", "\n\nS~ (\n", "t.tr:3: bad regexp: error parsing regexp"},
		{"unknown bang", "!tls\n", `t.tr:1: unknown transcript line "!tls"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTranscript("t.tr", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestParseTranscriptSteps(t *testing.T) {
	src := "C: a b \r\nS: \nS~ x+\nS... y\nS...~ z*\n  !starttls  \n!eof\n# c\nC:\n"
	tr, err := ParseTranscript("t.tr", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{1, StepSend, "a b "},
		{2, StepExpect, ""},
		{3, StepMatch, "x+"},
		{4, StepSkipTo, "y"},
		{5, StepSkipMatch, "z*"},
		{6, StepStartTLS, ""},
		{7, StepEOF, ""},
		{9, StepSend, ""},
	}
	if len(tr.Steps) != len(want) {
		t.Fatalf("steps %+v, want %+v", tr.Steps, want)
	}
	for i := range want {
		if tr.Steps[i] != want[i] {
			t.Errorf("step %d: %+v, want %+v", i, tr.Steps[i], want[i])
		}
	}
}

// FuzzParseTranscript: the parser reads files a test author writes; it
// must never panic, and whatever it accepts must carry valid line numbers.
func FuzzParseTranscript(f *testing.F) {
	f.Add([]byte("C: a1 NOOP\nS: a1 OK\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		tr, err := ParseTranscript("f.tr", src)
		if err != nil {
			return
		}
		n := strings.Count(string(src), "\n") + 1
		for _, st := range tr.Steps {
			if st.Line < 1 || st.Line > n {
				t.Fatalf("step line %d outside 1..%d", st.Line, n)
			}
		}
	})
}

// TestTranscriptFiles runs the example transcripts of testdata against the
// fake server, so the files stay valid documentation of the format.
func TestTranscriptFiles(t *testing.T) {
	addr := fakeServer(t)
	files, _ := filepath.Glob("testdata/*.tr")
	if len(files) == 0 {
		t.Fatal("no testdata/*.tr")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			RunTranscript(t, conn, f, TranscriptOptions{Vars: map[string]string{"name": "fake"}})
		})
	}
}
