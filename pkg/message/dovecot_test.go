package message_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// dovecotIMAP is Debian's dovecot-imapd binary, run in PREAUTH mode as the
// reference for ENVELOPE, BODYSTRUCTURE and sections.
const dovecotIMAP = "/usr/lib/dovecot/imap"

// haveDovecot reports whether the reference can run here (it needs root to
// switch to the nobody user).
func haveDovecot() bool {
	if os.Geteuid() != 0 {
		return false
	}
	if _, err := os.Stat(dovecotIMAP); err != nil {
		return false
	}
	_, err := user.Lookup("nobody")
	return err == nil
}

// dovecotFetch stores raw as the only message of a fresh Maildir, runs
// Dovecot's imap on it and returns the body of the "* 1 FETCH (...)"
// response to "FETCH 1 (items)", without the outer parentheses.
func dovecotFetch(t *testing.T, raw []byte, items string) []byte {
	t.Helper()
	out := runDovecot(t, raw, "f FETCH 1 ("+items+")\r\n")
	br := bufio.NewReader(bytes.NewReader(out))
	for {
		resp, err := readResponse(br)
		if err != nil {
			t.Fatalf("no FETCH response from dovecot: %v\n%s", err, out)
		}
		const pre = "* 1 FETCH ("
		if bytes.HasPrefix(resp, []byte(pre)) && bytes.HasSuffix(resp, []byte(")\r\n")) {
			return resp[len(pre) : len(resp)-3]
		}
	}
}

// runDovecot stores raw as the only message of a fresh Maildir, runs
// Dovecot's imap on it with cmds after a SELECT and returns its output.
func runDovecot(t *testing.T, raw []byte, cmds string) []byte {
	t.Helper()
	// t.TempDir's parent is private to root; the reference runs as nobody.
	dir, err := os.MkdirTemp("", "cote-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	md := filepath.Join(dir, "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(md, "cur", "1000000000.M1P1.test:2,S"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	nobody, _ := user.Lookup("nobody")
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dovecotIMAP,
		"-o", "mail_location=maildir:"+md,
		"-o", "mail_uid="+nobody.Uid, "-o", "mail_gid="+nobody.Gid,
		"-o", "first_valid_uid=0", "-o", "first_valid_gid=0",
		"-o", "log_path=/dev/null", "-o", "info_log_path=/dev/null")
	cmd.Env = []string{"HOME=" + md, "USER=nobody", "PATH=/usr/bin:/bin"}
	cmd.Stdin = bytes.NewBufferString("s SELECT INBOX\r\n" + cmds + "l LOGOUT\r\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dovecot imap: %v\n%s", err, out)
	}
	return out
}

// readResponse reads one response line, literals included.
func readResponse(br *bufio.Reader) ([]byte, error) {
	var resp []byte
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		resp = append(resp, line...)
		l := bytes.TrimSuffix(line, []byte("\r\n"))
		if len(l) == 0 || l[len(l)-1] != '}' {
			return resp, nil
		}
		open := bytes.LastIndexByte(l, '{')
		if open < 0 {
			return resp, nil
		}
		n, err := strconv.Atoi(string(l[open+1 : len(l)-1]))
		if err != nil {
			return resp, nil
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(br, lit); err != nil {
			return nil, err
		}
		resp = append(resp, lit...)
	}
}

// fetchItems is what the goldens hold, in the order Dovecot answers them.
const fetchItems = "ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE"

func goldenName(eml string) string { return eml[:len(eml)-len(".eml")] + ".golden" }

// sectionItems are fetched one per command from Dovecot, so that one
// NO does not hide the others; the goldens hold each answer.
var sectionItems = []string{
	"BODY[]", "BODY[HEADER]", "BODY[TEXT]", "BODY[1]", "BODY[1.MIME]", "BODY[1.1]",
	"BODY[1.2]", "BODY[2]", "BODY[2.MIME]", "BODY[2.HEADER]", "BODY[2.TEXT]", "BODY[2.1]",
	"BODY[2.2]", "BODY[3]", "BODY[1.2.2]", "BODY[HEADER.FIELDS (From Subject X-None)]",
	"BODY[HEADER.FIELDS.NOT (From Subject)]", "BODY[2.HEADER.FIELDS (Subject)]",
	"BINARY[]", "BINARY[1]", "BINARY[2]", "BINARY[3]", "BINARY.SIZE[1]", "BINARY.SIZE[2]",
	"BINARY[1.2.2]", "BINARY[2.1]",
}

// dovecotSections returns Dovecot's answer to each item: "NO", "BAD",
// "NIL", or the value (string, literal or number) as bytes after "OK ".
func dovecotSections(t *testing.T, raw []byte, items []string) map[string][]byte {
	t.Helper()
	var cmds bytes.Buffer
	for i, it := range items {
		fmt.Fprintf(&cmds, "f%d FETCH 1 (%s)\r\n", i, it)
	}
	out := runDovecot(t, raw, cmds.String())
	br := bufio.NewReader(bytes.NewReader(out))
	res := map[string][]byte{}
	// Dovecot runs pipelined commands in order but may batch their
	// tagged replies after several FETCH responses: queue the responses
	// and hand one to each OK (a NO or BAD command sends none).
	var pending [][]byte
	for {
		resp, err := readResponse(br)
		if err != nil {
			break
		}
		if bytes.HasPrefix(resp, []byte("* 1 FETCH (UID ")) {
			// A failed FETCH still reports the message's UID.
			continue
		}
		if bytes.HasPrefix(resp, []byte("* 1 FETCH (")) {
			pending = append(pending, resp)
			continue
		}
		var tag int
		var status string
		if n, _ := fmt.Sscanf(string(resp), "f%d %s", &tag, &status); n != 2 || tag >= len(items) {
			continue
		}
		it := items[tag]
		switch status {
		case "OK":
			if len(pending) == 0 {
				t.Fatalf("OK without a FETCH response for %s:\n%s", it, out)
			}
			res[it] = append([]byte("OK "), fetchValue(t, pending[0])...)
			pending = pending[1:]
		default:
			// Keep the response code: Dovecot tells bad content
			// ([PARSE]) from an unknown encoding ([UNKNOWN-CTE]).
			rest := string(resp[len(fmt.Sprintf("f%d %s ", tag, status)):])
			if strings.HasPrefix(rest, "[") {
				if i := strings.IndexByte(rest, ']'); i > 0 {
					status += " " + rest[:i+1]
				}
			}
			res[it] = []byte(status)
		}
	}
	if len(res) != len(items) {
		t.Fatalf("dovecot answered %d of %d items:\n%s", len(res), len(items), out)
	}
	return res
}

// fetchValue extracts the value of the one item of a FETCH response.
func fetchValue(t *testing.T, resp []byte) []byte {
	t.Helper()
	s := bytes.TrimSuffix(resp, []byte(")\r\n"))
	s = s[len("* 1 FETCH ("):]
	// Skip the item name, which may contain "(...)" inside brackets.
	if i := bytes.Index(s, []byte("] ")); i >= 0 {
		s = s[i+2:]
	}
	switch {
	case bytes.HasPrefix(s, []byte("~{")) || bytes.HasPrefix(s, []byte("{")):
		i := bytes.Index(s, []byte("}\r\n"))
		return s[i+3:]
	case bytes.HasPrefix(s, []byte(`"`)):
		v := s[1 : len(s)-1]
		return bytes.ReplaceAll(bytes.ReplaceAll(v, []byte(`\"`), []byte(`"`)), []byte(`\\`), []byte(`\`))
	}
	return s
}
