package log

import (
	"bytes"
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

var t0 = time.Date(2026, 1, 2, 15, 4, 5, 123e6, time.UTC)

func TestParseLineFormat(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{
			name: "service JSON line with fields in order",
			line: `{"level":"info","ts":1767366245.123,"msg":"connection closed","remote":"192.0.2.1:5123","reason":"client said LOGOUT","n":3,"tls":true}`,
			want: `2026-01-02T15:04:05.123+00:00 info imap-login[42]: connection closed remote=192.0.2.1:5123 reason="client said LOGOUT" n=3 tls=true` + "\n",
		},
		{
			name: "own service and pid dropped, foreign ones renamed",
			line: `{"level":"warn","ts":1767366245.123,"msg":"m","service":"imap-login","pid":42,"x":1}`,
			want: `2026-01-02T15:04:05.123+00:00 warn imap-login[42]: m x=1` + "\n",
		},
		{
			name: "a child cannot claim another identity",
			line: `{"level":"warn","ts":1767366245.123,"msg":"m","service":"auth","pid":1}`,
			want: `2026-01-02T15:04:05.123+00:00 warn imap-login[42]: m child_service=auth child_pid=1` + "\n",
		},
		{
			name: "non-JSON line kept verbatim at error level",
			line: `panic: runtime error: index out of range [3] with length 3`,
			want: `2026-01-02T15:04:05.123+00:00 error imap-login[42]: panic: runtime error: index out of range [3] with length 3` + "\n",
		},
		{
			name: "JSON without msg is not ours: verbatim",
			line: `{"level":"info"}`,
			want: `2026-01-02T15:04:05.123+00:00 error imap-login[42]: {"level":"info"}` + "\n",
		},
		{
			name: "unknown level: verbatim",
			line: `{"level":"loud","msg":"x"}`,
			want: `2026-01-02T15:04:05.123+00:00 error imap-login[42]: {"level":"loud","msg":"x"}` + "\n",
		},
		{
			name: "trailing garbage: verbatim",
			line: `{"level":"info","msg":"x"} extra`,
			want: `2026-01-02T15:04:05.123+00:00 error imap-login[42]: {"level":"info","msg":"x"} extra` + "\n",
		},
		{
			name: "missing ts uses arrival time; newline in message escaped",
			line: `{"level":"error","msg":"two\nlines","obj":{"a": [1, 2]},"empty":"","q":"say \"hi\""}`,
			want: `2026-01-02T15:04:05.123+00:00 error imap-login[42]: two\nlines obj={"a":[1,2]} empty="" q="say \"hi\""` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FormatLine(ParseLine([]byte(tt.line), "imap-login", 42, t0))
			if got != tt.want {
				t.Errorf("\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRelay(t *testing.T) {
	var buf bytes.Buffer
	s := NewWriterSink(&buf)
	in := `{"level":"info","ts":1767366245.123,"msg":"a"}` + "\n" +
		"goroutine 1 [running]:\n" +
		strings.Repeat("x", maxLine+5) + "\n" +
		`{"level":"info","ts":1767366245.123,"msg":"no newline at EOF"}`
	s.Relay(strings.NewReader(in), "svc", 7)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 5 (the long line cut in two):\n%s", len(lines), buf.String())
	}
	if !strings.HasSuffix(lines[0], "info svc[7]: a") || !strings.HasSuffix(lines[1], "error svc[7]: goroutine 1 [running]:") ||
		!strings.HasSuffix(lines[4], "info svc[7]: no newline at EOF") {
		t.Errorf("unexpected lines:\n%s", buf.String())
	}
}

func TestMasterLogger(t *testing.T) {
	var buf bytes.Buffer
	l := NewMaster(NewWriterSink(&buf), zapcore.InfoLevel)
	l.Debug("hidden")
	l.Warn("service imap-login: throttling", zap.String("service", "imap-login"), zap.Int("pid", 9))
	got := buf.String()
	want := " warn master[" // pid varies
	if !strings.Contains(got, want) || !strings.HasSuffix(got, "]: service imap-login: throttling service=imap-login pid=9\n") {
		t.Errorf("got %q", got)
	}
	if strings.Contains(got, "hidden") {
		t.Error("debug line written at info level")
	}
}

func TestReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cote.log")
	s, err := OpenSink(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write(Entry{Time: t0, Level: "info", Service: "master", PID: 1, Msg: "before"})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	s.Write(Entry{Time: t0, Level: "info", Service: "master", PID: 1, Msg: "still old"})
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	s.Write(Entry{Time: t0, Level: "info", Service: "master", PID: 1, Msg: "after"})
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "before") || !strings.Contains(string(old), "still old") || strings.Contains(string(old), "after") {
		t.Errorf("rotated file: %q", old)
	}
	if string(cur) != "2026-01-02T15:04:05.123+00:00 info master[1]: after\n" {
		t.Errorf("new file: %q", cur)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestOpenSinkErrors(t *testing.T) {
	tests := []struct {
		name, path, facility, want string
	}{
		{name: "bad facility", path: PathSyslog, facility: "nosuch", want: `syslog_facility: unknown facility "nosuch"`},
		{name: "unwritable path", path: "/nonexistent-dir/x.log", want: "log_path: open /nonexistent-dir/x.log: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenSink(Options{Path: tt.path, Facility: tt.facility})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"level":"info","ts":1767366245.123,"msg":"a","k":"v w"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e := ParseLine(line, "svc", 1, t0)
		out := FormatLine(e)
		// One entry is always exactly one line.
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Fatalf("entry spans lines: %q", out)
		}
		if !strings.Contains(out, " svc[1]: ") {
			t.Fatalf("identity lost: %q", out)
		}
	})
}

func TestMain(m *testing.M) {
	// Timestamps render in local time; pin it so expected lines hold on
	// any machine.
	time.Local = time.UTC
	os.Exit(m.Run())
}

func TestTimestamp(t *testing.T) {
	at := time.Date(2026, 3, 7, 9, 5, 3, 45e6, time.UTC)
	for _, tc := range []struct{ layout, want string }{
		{DefaultTimestamp, "2026-03-07T09:05:03.045+00:00 "},
		{"%b %d %H:%M:%S ", "Mar 07 09:05:03 "},
		{"%e|%j|%y|%C|%a %A %B|%I%p|%s|%%|%F %T|%z", " 7|066|26|20|Sat Saturday March|09AM|1772874303|%|2026-03-07 09:05:03|+0000"},
	} {
		ts, err := ParseTimestamp(tc.layout)
		if err != nil {
			t.Fatalf("ParseTimestamp(%q): %v", tc.layout, err)
		}
		if got := ts.Format(at); got != tc.want {
			t.Errorf("Format(%q) = %q, want %q", tc.layout, got, tc.want)
		}
	}
	for _, bad := range []string{"%Q", "ends in %"} {
		if _, err := ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%q): no error", bad)
		}
	}
}

func TestLevelRouting(t *testing.T) {
	dir := t.TempDir()
	main, info, debug := filepath.Join(dir, "main.log"), filepath.Join(dir, "info.log"), filepath.Join(dir, "debug.log")
	s, err := OpenSink(Options{Path: main, InfoPath: info, DebugPath: debug, Timestamp: "%H "})
	if err != nil {
		t.Fatal(err)
	}
	for _, lvl := range []string{"error", "warn", "info", "debug"} {
		s.Write(Entry{Time: t0, Level: lvl, Service: "master", PID: 1, Msg: lvl})
	}
	s.Close()
	for path, want := range map[string]string{
		main:  "15 error master[1]: error\n15 warn master[1]: warn\n",
		info:  "15 info master[1]: info\n",
		debug: "15 debug master[1]: debug\n",
	} {
		got, _ := os.ReadFile(path)
		if string(got) != want {
			t.Errorf("%s = %q, want %q", filepath.Base(path), got, want)
		}
	}
	// Without info/debug paths everything shares log_path.
	s, err = OpenSink(Options{Path: main})
	if err != nil {
		t.Fatal(err)
	}
	if s.main != s.info || s.info != s.debug || len(s.outs) != 1 {
		t.Fatal("default routing opened several outputs")
	}
	s.Close()
}

// With log_path = syslog, lines carry instance_name as the tag and the
// entry's level as the severity, under syslog_facility.
func TestSyslogIdent(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	old := syslogNew
	syslogNew = func(p syslog.Priority, tag string) (*syslog.Writer, error) {
		return syslog.Dial("unixgram", sock, p, tag)
	}
	t.Cleanup(func() { syslogNew = old })
	s, err := OpenSink(Options{Path: PathSyslog, Facility: "local3", Ident: "mx1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(Entry{Time: t0, Level: "warn", Service: "imap-login", PID: 7, Msg: "hello"}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := string(buf[:n])
	// <PRI> = facility local3 (19) * 8 + warning (4) = 156.
	if !strings.HasPrefix(got, "<156>") || !strings.Contains(got, " mx1[") || !strings.HasSuffix(strings.TrimSpace(got), "imap-login[7]: hello") {
		t.Fatalf("syslog datagram %q", got)
	}
}
