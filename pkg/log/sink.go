package log

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// PathSyslog and PathStderr are the log_path values that are not files.
const (
	PathSyslog = "syslog"
	PathStderr = "/dev/stderr"
)

// maxLine bounds one relayed service line. A longer line is cut there and
// the rest is relayed as further lines, so a runaway child cannot make the
// master buffer without bound.
const maxLine = 64 << 10

// Entry is one log line as the sink writes it.
type Entry struct {
	Time    time.Time
	Level   string // "debug", "info", "warn", "error", "fatal"
	Service string // "master" for the master's own lines
	PID     int
	Msg     string
	Fields  []Field // in the order the process wrote them
}

// Field is one key=value pair of an Entry. Raw values (compact JSON of
// numbers, booleans, objects) are written as they are; others are quoted
// where needed.
type Field struct {
	Key, Value string
	Raw        bool
}

// Sink writes the log lines of the master and of every service to
// log_path, info_log_path and debug_log_path. It is safe for concurrent use:
// each child's stderr is relayed by its own goroutine.
type Sink struct {
	mu sync.Mutex
	// main takes errors and warnings (log_path), info the info lines
	// (info_log_path, else log_path), debug the debug lines
	// (debug_log_path, else info_log_path), as Dovecot routes them.
	main, info, debug *output
	outs              []*output // each distinct output once, for reopen and close
	stamp             *Timestamp
}

// output is one destination: a file, syslog or stderr.
type output struct {
	path     string
	facility syslog.Priority
	ident    string         // syslog tag
	w        io.Writer      // where file-format lines go (nil with syslog)
	file     *os.File       // the opened log file; nil for stderr, which is never closed
	sys      *syslog.Writer // path = syslog
}

// syslogNew connects to the local syslog daemon; tests point it at their
// own socket.
var syslogNew = syslog.New

// Options are the logging settings the sink honours.
type Options struct {
	Path      string // log_path: a file, PathSyslog or PathStderr
	InfoPath  string // info_log_path; "" means Path
	DebugPath string // debug_log_path; "" means the info path
	Facility  string // syslog_facility; "" means mail
	Timestamp string // log_timestamp (strftime); "" means DefaultTimestamp
	Ident     string // instance_name: the syslog tag; "" means "cote"
}

// OpenSink opens the configured outputs. An info or debug path equal to
// another output shares it.
func OpenSink(o Options) (*Sink, error) {
	fac, err := Facility(o.Facility)
	if err != nil {
		return nil, err
	}
	layout := o.Timestamp
	if layout == "" {
		layout = DefaultTimestamp
	}
	stamp, err := ParseTimestamp(layout)
	if err != nil {
		return nil, fmt.Errorf("log_timestamp: %w", err)
	}
	s := &Sink{stamp: stamp}
	ident := o.Ident
	if ident == "" {
		ident = "cote"
	}
	get := func(setting, path string) (*output, error) {
		for _, out := range s.outs {
			if out.path == path {
				return out, nil
			}
		}
		out := &output{path: path, facility: fac, ident: ident}
		if err := out.open(setting); err != nil {
			return nil, err
		}
		s.outs = append(s.outs, out)
		return out, nil
	}
	infoPath, debugPath := o.InfoPath, o.DebugPath
	if infoPath == "" {
		infoPath = o.Path
	}
	if debugPath == "" {
		debugPath = infoPath
	}
	if s.main, err = get("log_path", o.Path); err == nil {
		if s.info, err = get("info_log_path", infoPath); err == nil {
			s.debug, err = get("debug_log_path", debugPath)
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// NewWriterSink writes to w in the file format with the default timestamp
// and never reopens it; used by tests and by programs that log to a stream
// they own.
func NewWriterSink(w io.Writer) *Sink {
	stamp, _ := ParseTimestamp(DefaultTimestamp)
	out := &output{path: PathStderr, w: w}
	return &Sink{main: out, info: out, debug: out, outs: []*output{out}, stamp: stamp}
}

var facilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL,
	"daemon": syslog.LOG_DAEMON, "auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG,
	"lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS, "uucp": syslog.LOG_UUCP,
	"cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// Facility maps a syslog_facility name to its priority bits.
func Facility(name string) (syslog.Priority, error) {
	if name == "" {
		return syslog.LOG_MAIL, nil
	}
	f, ok := facilities[name]
	if !ok {
		return 0, fmt.Errorf("syslog_facility: unknown facility %q", name)
	}
	return f, nil
}

func (o *output) open(setting string) error {
	switch o.path {
	case PathStderr:
		o.w = os.Stderr
	case PathSyslog:
		w, err := syslogNew(o.facility|syslog.LOG_INFO, o.ident)
		if err != nil {
			return fmt.Errorf("%s: syslog: %w", setting, err)
		}
		o.sys = w
	default:
		f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("%s: %w", setting, err)
		}
		o.file, o.w = f, f
	}
	return nil
}

// Reopen closes and reopens every log file so that logrotate's rename takes
// effect; for syslog it reconnects, for stderr it does nothing.
func (s *Sink) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, o := range s.outs {
		if o.path == PathStderr {
			continue
		}
		old, oldSys := o.file, o.sys
		if err := o.open("log_path"); err != nil {
			// Keep writing to the old file rather than losing lines.
			errs = append(errs, err)
			continue
		}
		if old != nil {
			old.Close()
		}
		if oldSys != nil {
			oldSys.Close()
		}
	}
	return errors.Join(errs...)
}

// Close closes the log files and the syslog connection.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, o := range s.outs {
		if o.file != nil {
			errs = append(errs, o.file.Close())
		}
		if o.sys != nil {
			errs = append(errs, o.sys.Close())
		}
		o.file, o.sys, o.w = nil, nil, nil
	}
	return errors.Join(errs...)
}

// Write writes one entry to the output of its level. Errors are returned
// but a logging failure must never stop the caller's work.
func (s *Sink) Write(e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.main
	switch e.Level {
	case "info":
		o = s.info
	case "debug":
		o = s.debug
	}
	if o.sys != nil {
		line := formatBody(e)
		switch e.Level {
		case "debug":
			return o.sys.Debug(line)
		case "info":
			return o.sys.Info(line)
		case "warn":
			return o.sys.Warning(line)
		case "fatal", "panic", "dpanic":
			return o.sys.Crit(line)
		default:
			return o.sys.Err(line)
		}
	}
	if o.w == nil {
		return errors.New("log: sink is closed")
	}
	_, err := io.WriteString(o.w, s.stamp.Format(e.Time)+e.Level+" "+formatBody(e)+"\n")
	return err
}

// FormatLine renders e in the file format documented in doc.go with the
// default timestamp:
//
//	2026-01-02T15:04:05.000+00:00 info imap-login[1234]: msg key=value key2="a b"
func FormatLine(e Entry) string {
	return defaultStamp.Format(e.Time) + e.Level + " " + formatBody(e) + "\n"
}

// formatBody is the line without timestamp and level: syslog adds its own.
func formatBody(e Entry) string {
	var b strings.Builder
	b.WriteString(e.Service)
	b.WriteByte('[')
	b.WriteString(strconv.Itoa(e.PID))
	b.WriteString("]: ")
	b.WriteString(sanitize(e.Msg))
	for _, f := range e.Fields {
		b.WriteByte(' ')
		b.WriteString(sanitize(f.Key))
		b.WriteByte('=')
		if f.Raw {
			b.WriteString(sanitize(f.Value))
		} else {
			b.WriteString(quoteValue(f.Value))
		}
	}
	return b.String()
}

// sanitize keeps one entry on one line: a child could otherwise forge log
// lines with an embedded newline.
func sanitize(s string) string {
	if !strings.ContainsAny(s, "\n\r") {
		return s
	}
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

func quoteValue(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\"=\n\r\\") {
		return strconv.Quote(v)
	}
	return v
}

// Relay copies the stderr of one service process into the sink until EOF,
// adding service and pid. JSON lines (pkg/log's service format) are
// decoded; any other line (a Go panic trace, say) is kept verbatim at error
// level, so nothing a child prints is lost.
func (s *Sink) Relay(r io.Reader, service string, pid int) {
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			s.Write(ParseLine(line, service, pid, time.Now()))
		}
		if err != nil {
			return
		}
	}
}

// readLine reads up to maxLine bytes of one line, without the newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull && len(buf) < maxLine {
			continue
		}
		if err == bufio.ErrBufferFull {
			err = nil
		}
		return bytes.TrimRight(buf, "\r\n"), err
	}
}

// ParseLine turns one service line into an Entry. now stamps non-JSON lines
// and JSON lines without a usable "ts".
func ParseLine(line []byte, service string, pid int, now time.Time) Entry {
	return parseLine(line, service, pid, now, false)
}

// parseLine is ParseLine; trusted (the master's own lines) keeps "service"
// and "pid" fields as they are.
func parseLine(line []byte, service string, pid int, now time.Time, trusted bool) Entry {
	e := Entry{Time: now, Level: "error", Service: service, PID: pid}
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' || !parseJSON(trimmed, &e, trusted) {
		e = Entry{Time: now, Level: "error", Service: service, PID: pid, Msg: string(line)}
	}
	return e
}

// parseJSON decodes one object keeping the order of its keys, which
// encoding/json's maps would lose.
func parseJSON(line []byte, e *Entry, trusted bool) bool {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	var fields []Field
	level, msg, haveMsg := "", "", false
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return false
		}
		key, ok := kt.(string)
		if !ok {
			return false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return false
		}
		switch key {
		case "level":
			if json.Unmarshal(raw, &level) != nil {
				return false
			}
		case "msg":
			if json.Unmarshal(raw, &msg) != nil {
				return false
			}
			haveMsg = true
		case "ts":
			var ts float64
			if json.Unmarshal(raw, &ts) == nil && ts > 0 && !math.IsInf(ts, 0) {
				// zap writes float seconds: round to the microsecond that
				// the float can carry, not below.
				sec, frac := math.Modf(ts)
				e.Time = time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3)
			}
		case "service", "pid":
			// The master adds these itself; a child cannot claim another
			// identity in the log.
			v, isRaw := renderJSON(raw)
			if trusted {
				fields = append(fields, Field{Key: key, Value: v, Raw: isRaw})
				break
			}
			if (key == "service" && v == e.Service) || (key == "pid" && v == strconv.Itoa(e.PID)) {
				break // the same as what the master adds
			}
			fields = append(fields, Field{Key: "child_" + key, Value: v, Raw: isRaw})
		default:
			v, isRaw := renderJSON(raw)
			fields = append(fields, Field{Key: key, Value: v, Raw: isRaw})
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return false
	}
	if dec.More() || !haveMsg {
		return false
	}
	switch level {
	case "debug", "info", "warn", "error", "fatal", "dpanic", "panic":
	default:
		return false
	}
	e.Level, e.Msg, e.Fields = level, msg, fields
	return true
}

// renderJSON returns a string's value (quoteValue re-quotes it where
// needed), or anything else as compact JSON with raw = true.
func renderJSON(raw json.RawMessage) (v string, isRaw bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, false
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String(), true
	}
	return string(raw), true
}

// NewMaster returns the master's own logger: its lines go through the same
// formatting as relayed service lines, with service "master" and its pid.
func NewMaster(s *Sink, level zapcore.Level) *zap.Logger {
	w := &sinkWriter{sink: s, service: "master", pid: os.Getpid()}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(ServiceEncoderConfig()), w, level)
	return zap.New(core)
}

// sinkWriter feeds encoded JSON lines of a zap core into the sink.
type sinkWriter struct {
	sink    *Sink
	service string
	pid     int
}

func (w *sinkWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.sink.Write(parseLine(line, w.service, w.pid, time.Now(), true))
	}
	return len(p), nil
}

func (w *sinkWriter) Sync() error { return nil }
