package format

import (
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Separators of a Maildir file name (maildir-storage.h MAILDIR_INFO_SEP,
// MAILDIR_FLAGS_SEP / MAILDIR_EXTRA_SEP).
const (
	infoSep  = ':'
	flagsSep = ','
)

// stdFlags maps each standard flag to its letter, in ASCII order.
var stdFlags = [...]struct {
	f Flags
	c byte
}{{FlagDraft, 'D'}, {FlagFlagged, 'F'}, {FlagPassed, 'P'}, {FlagReplied, 'R'}, {FlagSeen, 'S'}, {FlagTrashed, 'T'}}

// String returns the flag letters in ASCII order, e.g. "FS".
func (f Flags) String() string {
	var b []byte
	for _, sf := range stdFlags {
		if f&sf.f != 0 {
			b = append(b, sf.c)
		}
	}
	return string(b)
}

// BaseOf returns a file name's base: everything before the first ':'.
func BaseOf(name string) string {
	if i := strings.IndexByte(name, infoSep); i >= 0 {
		return name[:i]
	}
	return name
}

// ParseFilename splits a Maildir file name (no directory part) into its
// base, ,S= and ,W= sizes, and the flags and keyword letters of a ":2,"
// info. Names without an info part (new/ mail, or from other MDAs) parse
// with HasInfo false. It never fails: what it does not understand is kept
// so String reproduces an equivalent name.
func ParseFilename(name string) Filename {
	f := Filename{Base: BaseOf(name), Size: -1, VSize: -1}
	f.Size = sizeField(f.Base, 'S')
	f.VSize = sizeField(f.Base, 'W')
	i := strings.LastIndexByte(name, infoSep)
	if i < 0 {
		return f
	}
	info := name[i+1:]
	if !strings.HasPrefix(info, "2,") {
		f.Info = info
		return f
	}
	f.HasInfo = true
	set := info[2:]
	if j := strings.IndexByte(set, flagsSep); j >= 0 {
		f.Extra, set = set[j:], set[:j]
	}
	var kw [MaxKeywords]bool
	var other []byte
	for k := 0; k < len(set); k++ {
		c := set[k]
		switch {
		case c >= 'a' && c <= 'z':
			kw[c-'a'] = true
		default:
			known := false
			for _, sf := range stdFlags {
				if sf.c == c {
					f.Flags |= sf.f
					known = true
				}
			}
			if !known {
				other = append(other, c)
			}
		}
	}
	for k, on := range kw {
		if on {
			f.Keywords = append(f.Keywords, byte('a'+k))
		}
	}
	f.Other = string(other)
	return f
}

// sizeField returns the value of ",<key>=<digits>" in base, or -1
// (maildir_filename_get_size: the digits must end the base or be followed
// by another ',' field).
func sizeField(base string, key byte) int64 {
	pat := string([]byte{flagsSep, key, '='})
	i := strings.Index(base, pat)
	if i < 0 {
		return -1
	}
	s := base[i+3:]
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 || (end < len(s) && s[end] != flagsSep) {
		return -1
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// String formats the name: Base, then ":2," with the flag letters, keyword
// letters and unknown flags merged in ASCII order (as Dovecot writes them,
// maildir_filename_flags_full_set), then Extra. A name with HasInfo false
// and an empty Info is just Base.
func (f Filename) String() string {
	if !f.HasInfo {
		if f.Info != "" {
			return f.Base + ":" + f.Info
		}
		return f.Base
	}
	return f.Base + ":2," + f.FlagString() + f.Extra
}

// FlagString returns the flag characters of the ":2," info in the order
// Dovecot writes them: ASCII order, standard flags deduplicated.
func (f Filename) FlagString() string {
	b := make([]byte, 0, 8+len(f.Keywords)+len(f.Other))
	b = append(b, f.Flags.String()...)
	var seen [MaxKeywords]bool
	for _, c := range f.Keywords {
		if c >= 'a' && c <= 'z' && !seen[c-'a'] {
			seen[c-'a'] = true
			b = append(b, c)
		}
	}
	b = append(b, f.Other...)
	sort.SliceStable(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b)
}

// WithSizes appends ",S=<size>" and ",W=<vsize>" to a base name, as Dovecot
// names saved messages (maildir-save.c); a negative size is left out.
func WithSizes(base string, size, vsize int64) string {
	if size >= 0 {
		base += ",S=" + strconv.FormatInt(size, 10)
	}
	if vsize >= 0 {
		base += ",W=" + strconv.FormatInt(vsize, 10)
	}
	return base
}

// EscapeHostname makes a host name safe inside a Maildir file name: '/'
// becomes "\057" and ':' becomes "\072" (the escapes of the Maildir
// specification, cr.yp.to/proto/maildir.html, used by Courier and Python's
// mailbox module), since '/' would be a path separator and ':' starts the
// info.
func EscapeHostname(host string) string {
	if !strings.ContainsAny(host, "/:") {
		return host
	}
	r := strings.NewReplacer("/", `\057`, ":", `\072`)
	return r.Replace(host)
}

// BaseGenerator makes unique base names "<secs>.M<usecs>P<pid>.<host>" the
// way Dovecot does (maildir_filename_generate): within one process the
// (secs, usecs) pair strictly increases, bumping usecs when the clock has
// not moved, so the names of one process never collide. Safe for
// concurrent use.
type BaseGenerator struct {
	mu   sync.Mutex
	last time.Time // truncated to microseconds
	pid  string
	host string
}

// NewBaseGenerator returns a generator for this process (os.Getpid and the
// escaped os.Hostname).
func NewBaseGenerator() *BaseGenerator {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return NewBaseGeneratorFor(os.Getpid(), host)
}

// NewBaseGeneratorFor returns a generator for a given pid and host name
// (escaped here).
func NewBaseGeneratorFor(pid int, host string) *BaseGenerator {
	return &BaseGenerator{pid: strconv.Itoa(pid), host: EscapeHostname(host)}
}

// Next returns a new base name for time now.
func (g *BaseGenerator) Next(now time.Time) string {
	t := now.Truncate(time.Microsecond)
	g.mu.Lock()
	if !t.After(g.last) {
		t = g.last.Add(time.Microsecond)
	}
	g.last = t
	g.mu.Unlock()
	us := t.Nanosecond() / 1000
	return strconv.FormatInt(t.Unix(), 10) + ".M" + strconv.Itoa(us) + "P" + g.pid + "." + g.host
}

// CompareNames orders file names as Dovecot assigns UIDs to new files
// (maildir_filename_sort_cmp): by the leading seconds, then by the M<usecs>
// of the unique part when both have one, then by base name.
func CompareNames(a, b string) int {
	sa, ra := leadingNumber(a)
	sb, rb := leadingNumber(b)
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	ua, oka := nameUsecs(ra)
	ub, okb := nameUsecs(rb)
	if oka && okb && ua != ub {
		if ua < ub {
			return -1
		}
		return 1
	}
	return strings.Compare(BaseOf(ra), BaseOf(rb))
}

func leadingNumber(s string) (uint64, string) {
	var n uint64
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + uint64(s[i]-'0')
		i++
	}
	return n, s[i:]
}

// nameUsecs finds "M<digits>" in the ".<unique>." part following the
// seconds.
func nameUsecs(rest string) (uint64, bool) {
	if rest == "" || rest[0] != '.' {
		return 0, false
	}
	for i := 1; i < len(rest) && rest[i] != '.' && rest[i] != infoSep; i++ {
		if rest[i] == 'M' {
			n, _ := leadingNumber(rest[i+1:])
			return n, true
		}
	}
	return 0, false
}

// SizeCounter is an io.Writer that counts a message's physical size and its
// virtual size: the size with every bare LF counted as CRLF, which is
// RFC822.SIZE (RFC 3501 §2.3.4) and Dovecot's ,W= value.
type SizeCounter struct {
	Size, VSize int64
	lastCR      bool
}

// Write counts p; it never fails.
func (c *SizeCounter) Write(p []byte) (int, error) {
	c.Size += int64(len(p))
	c.VSize += int64(len(p))
	prevCR := c.lastCR
	for i, b := range p {
		if b == '\n' {
			if !(i == 0 && prevCR) && !(i > 0 && p[i-1] == '\r') {
				c.VSize++
			}
		}
	}
	if len(p) > 0 {
		c.lastCR = p[len(p)-1] == '\r'
	}
	return len(p), nil
}

// Sizes reads r to the end and returns its physical and virtual sizes.
func Sizes(r io.Reader) (size, vsize int64, err error) {
	var c SizeCounter
	_, err = io.Copy(&c, r)
	return c.Size, c.VSize, err
}
