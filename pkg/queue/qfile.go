package queue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// fileMagic is the first line of every queue file; the number is the format version.
const fileMagic = "COTEQ 1\n"

// sizeLine is the second line: the body size in a fixed width so Commit can patch it in place.
const sizeFmt = "size %020d\n"
const sizeLineLen = len("size ") + 20 + 1

// ErrCorrupt marks a queue file that cannot be parsed.
var ErrCorrupt = errors.New("queue: corrupt queue file")

// Recipient status as recorded in the file's progress records.
type RcptState int

const (
	Pending   RcptState = iota // not delivered yet (maybe deferred with LastStatus set)
	Delivered                  // accepted by the next hop: never delivered again
	Failed                     // permanent failure (or expired): a bounce is owed
	Bounced                    // the failure has been reported in a queued DSN (or none was owed)
)

func (s RcptState) String() string {
	switch s {
	case Pending:
		return "pending"
	case Delivered:
		return "delivered"
	case Failed:
		return "failed"
	case Bounced:
		return "bounced"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// RcptStatus is the recorded progress of one recipient.
type RcptStatus struct {
	State  RcptState
	Time   time.Time
	Status string // enhanced status code, e.g. "5.1.1"
	Diag   string // the remote reply or local reason
	MTA    string // the host that answered ("" when none)
	// Attempt is when the first LMTP transaction for this recipient started (an "attempt"
	// record); zero when none did. Later LMTP transactions ask lmtp to skip the recipient
	// if the message is already in its mailbox (see doc.go, the duplicate window).
	Attempt time.Time
}

// Progress is everything appended after the body.
type Progress struct {
	Rcpts    []RcptStatus // one per Envelope.Rcpts
	Attempts int
	Next     time.Time // next attempt (zero: now)
	Warned   bool      // a delay warning was queued
}

// QFile is a parsed queue file.
type QFile struct {
	Env        Envelope
	BodyOffset int64
	BodySize   int64
	Progress   Progress
	ValidLen   int64 // length up to the last complete record
}

// escape keeps every field a single token: bytes below '!' , '%' and DEL become %XX; the empty
// string is "-" (a literal "-" is "%2D").
func escape(s string) string {
	if s == "" {
		return "-"
	}
	if s == "-" {
		return "%2D"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '%' || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescape(s string) (string, error) {
	if s == "-" {
		return "", nil
	}
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", ErrCorrupt
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", ErrCorrupt
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// encodeHeader renders the magic, size placeholder and envelope, ending with the blank line.
func encodeHeader(env Envelope, size int64) []byte {
	var b bytes.Buffer
	b.WriteString(fileMagic)
	fmt.Fprintf(&b, sizeFmt, size)
	fmt.Fprintf(&b, "from %s\n", escape(env.From))
	fmt.Fprintf(&b, "received %d\n", env.Received.UnixNano())
	fmt.Fprintf(&b, "client %s %s %s\n", escape(env.ClientAddr), escape(env.ClientHelo), escape(env.AuthUser))
	fmt.Fprintf(&b, "dsn %s %s\n", escape(env.RET), escape(env.EnvID))
	fmt.Fprintf(&b, "flags %s %s\n", boolStr(env.SMTPUTF8), boolStr(env.EightBitMIME))
	for _, r := range env.Rcpts {
		fmt.Fprintf(&b, "rcpt %s %s %s\n", escape(r.Addr), escape(r.ORcpt), escape(strings.Join(r.Notify, ",")))
	}
	b.WriteString("\n")
	return b.Bytes()
}

// record renders one progress record line.
func recordDone(i int, st RcptStatus) string {
	return fmt.Sprintf("%s %d %d %s %s %s\n", stateWord(st.State), i, st.Time.UnixNano(),
		escape(st.Status), escape(st.MTA), escape(st.Diag))
}

func stateWord(s RcptState) string {
	switch s {
	case Delivered:
		return "done"
	case Failed:
		return "fail"
	case Bounced:
		return "bounced"
	}
	return "defer"
}

func wordState(w string) (RcptState, bool) {
	switch w {
	case "done":
		return Delivered, true
	case "fail":
		return Failed, true
	case "bounced":
		return Bounced, true
	case "defer":
		return Pending, true
	}
	return 0, false
}

// ParseFile parses a whole queue file held in memory. Trailing bytes after the last complete
// record (a crash during an append) are ignored; ValidLen says where they start.
func ParseFile(data []byte) (*QFile, error) {
	q := &QFile{}
	r := bufio.NewReader(bytes.NewReader(data))
	line := func() (string, error) {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", ErrCorrupt
		}
		return l[:len(l)-1], nil
	}
	off := int64(0)
	l, err := line()
	if err != nil || l+"\n" != fileMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	off += int64(len(l) + 1)
	l, err = line()
	if err != nil || len(l)+1 != sizeLineLen || !strings.HasPrefix(l, "size ") {
		return nil, fmt.Errorf("%w: bad size line", ErrCorrupt)
	}
	off += int64(len(l) + 1)
	q.BodySize, err = strconv.ParseInt(l[5:], 10, 64)
	if err != nil || q.BodySize < 0 {
		return nil, fmt.Errorf("%w: bad size", ErrCorrupt)
	}
	seen := map[string]bool{}
	for {
		l, err = line()
		if err != nil {
			return nil, fmt.Errorf("%w: truncated envelope", ErrCorrupt)
		}
		off += int64(len(l) + 1)
		if l == "" {
			break
		}
		f := strings.Split(l, " ")
		vals := make([]string, len(f)-1)
		for i, v := range f[1:] {
			if vals[i], err = unescape(v); err != nil {
				return nil, fmt.Errorf("%w: bad escape in %q", ErrCorrupt, f[0])
			}
		}
		want := map[string]int{"from": 1, "received": 1, "client": 3, "dsn": 2, "flags": 2, "rcpt": 3}
		n, ok := want[f[0]]
		if !ok || len(vals) != n {
			return nil, fmt.Errorf("%w: bad envelope line %q", ErrCorrupt, f[0])
		}
		if f[0] != "rcpt" {
			if seen[f[0]] {
				return nil, fmt.Errorf("%w: repeated %q", ErrCorrupt, f[0])
			}
			seen[f[0]] = true
		}
		switch f[0] {
		case "from":
			q.Env.From = vals[0]
		case "received":
			ns, err := strconv.ParseInt(vals[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: bad received", ErrCorrupt)
			}
			q.Env.Received = time.Unix(0, ns)
		case "client":
			q.Env.ClientAddr, q.Env.ClientHelo, q.Env.AuthUser = vals[0], vals[1], vals[2]
		case "dsn":
			q.Env.RET, q.Env.EnvID = vals[0], vals[1]
		case "flags":
			q.Env.SMTPUTF8, q.Env.EightBitMIME = vals[0] == "1", vals[1] == "1"
		case "rcpt":
			rc := Recipient{Addr: vals[0], ORcpt: vals[1]}
			if vals[2] != "" {
				rc.Notify = strings.Split(vals[2], ",")
			}
			q.Env.Rcpts = append(q.Env.Rcpts, rc)
		}
	}
	if !seen["from"] || len(q.Env.Rcpts) == 0 {
		return nil, fmt.Errorf("%w: envelope without sender or recipients", ErrCorrupt)
	}
	q.BodyOffset = off
	if int64(len(data))-off < q.BodySize {
		return nil, fmt.Errorf("%w: body shorter than its size", ErrCorrupt)
	}
	q.Progress.Rcpts = make([]RcptStatus, len(q.Env.Rcpts))
	rest := data[off+q.BodySize:]
	q.ValidLen = off + q.BodySize
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break // a record cut by a crash: ignored, truncated by the next writer
		}
		if err := q.applyRecord(string(rest[:i])); err != nil {
			return nil, err
		}
		q.ValidLen += int64(i + 1)
		rest = rest[i+1:]
	}
	return q, nil
}

func (q *QFile) applyRecord(l string) error {
	f := strings.Split(l, " ")
	bad := fmt.Errorf("%w: bad record %.40q", ErrCorrupt, l)
	switch f[0] {
	case "next":
		if len(f) != 3 {
			return bad
		}
		ns, err1 := strconv.ParseInt(f[1], 10, 64)
		n, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return bad
		}
		q.Progress.Next = time.Unix(0, ns)
		q.Progress.Attempts = n
		return nil
	case "warned":
		q.Progress.Warned = true
		return nil
	case "attempt":
		if len(f) != 3 {
			return bad
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return bad
		}
		for _, w := range strings.Split(f[2], ",") {
			i, err := strconv.Atoi(w)
			if err != nil || i < 0 || i >= len(q.Progress.Rcpts) {
				return bad
			}
			q.Progress.Rcpts[i].markAttempt(time.Unix(0, ns))
		}
		return nil
	}
	st, ok := wordState(f[0])
	if !ok || len(f) != 6 {
		return bad
	}
	i, err := strconv.Atoi(f[1])
	if err != nil || i < 0 || i >= len(q.Progress.Rcpts) {
		return bad
	}
	ns, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return bad
	}
	var vals [3]string
	for k := range vals {
		if vals[k], err = unescape(f[3+k]); err != nil {
			return bad
		}
	}
	cur := q.Progress.Rcpts[i].State
	// Terminal states never go back: a done recipient stays done whatever follows.
	if cur == Delivered || cur == Bounced || (cur == Failed && st == Pending) {
		return nil
	}
	q.Progress.Rcpts[i] = RcptStatus{State: st, Time: time.Unix(0, ns), Status: vals[0], MTA: vals[1], Diag: vals[2], Attempt: q.Progress.Rcpts[i].Attempt}
	return nil
}

// markAttempt records that an LMTP transaction for the recipient started at t; the first one
// is kept: a transaction whose reply was lost (a connection cut after the data, recorded as a
// deferral) may have stored the message, so the bound of the resume check never moves later.
func (r *RcptStatus) markAttempt(t time.Time) {
	if r.Attempt.IsZero() {
		r.Attempt = t
	}
}

// recordAttempt is the "attempt" record for recipients idx.
func recordAttempt(t time.Time, idx []int) string {
	ws := make([]string, len(idx))
	for k, i := range idx {
		ws[k] = strconv.Itoa(i)
	}
	return "attempt " + strconv.FormatInt(t.UnixNano(), 10) + " " + strings.Join(ws, ",") + "\n"
}

// Body returns a reader over the message bytes of a file held in r.
func (q *QFile) Body(r io.ReaderAt) io.Reader {
	return io.NewSectionReader(r, q.BodyOffset, q.BodySize)
}
