package message_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cote-mail/cote/pkg/message"
)

func sectionsName(eml string) string { return strings.TrimSuffix(eml, ".eml") + ".sections" }

// writeSections stores answers in item order: "ITEM\n" then "NO\n",
// "BAD\n" or "OK <n>\n" followed by n bytes and "\n".
func writeSections(items []string, res map[string][]byte) []byte {
	var b bytes.Buffer
	for _, it := range items {
		v := res[it]
		b.WriteString(it + "\n")
		if !bytes.HasPrefix(v, []byte("OK ")) {
			b.Write(v)
			b.WriteByte('\n')
			continue
		}
		fmt.Fprintf(&b, "OK %d\n", len(v)-3)
		b.Write(v[3:])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func readSections(t *testing.T, data []byte) ([]string, map[string][]byte) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(data))
	var items []string
	res := map[string][]byte{}
	for {
		it, err := br.ReadString('\n')
		if err == io.EOF {
			return items, res
		}
		if err != nil {
			t.Fatal(err)
		}
		it = strings.TrimSuffix(it, "\n")
		st, _ := br.ReadString('\n')
		st = strings.TrimSuffix(st, "\n")
		items = append(items, it)
		if !strings.HasPrefix(st, "OK ") {
			res[it] = []byte(st)
			continue
		}
		n, err := strconv.Atoi(st[3:])
		if err != nil {
			t.Fatalf("bad sections file at %q", it)
		}
		v := make([]byte, n+1)
		if _, err := io.ReadFull(br, v); err != nil {
			t.Fatal(err)
		}
		res[it] = append([]byte("OK "), v[:n]...)
	}
}

// coteSection answers one fetch item the way the goldens record it.
func coteSection(m *message.Message, item string) []byte {
	open := strings.IndexByte(item, '[')
	kind, spec := item[:open], item[open+1:len(item)-1]
	sec, err := message.ParseSection(spec)
	if err != nil {
		return []byte("BAD")
	}
	var v []byte
	switch kind {
	case "BODY":
		v = m.Fetch(sec)
	case "BINARY", "BINARY.SIZE":
		b, err := m.Binary(sec)
		if kind == "BINARY.SIZE" {
			var n int64
			n, err = m.BinarySize(sec)
			b = b[:min(int64(len(b)), n)]
		}
		switch {
		case errors.Is(err, message.ErrUnknownCTE):
			return []byte("NO [UNKNOWN-CTE]")
		case errors.Is(err, message.ErrInvalidContent):
			return []byte("NO [PARSE]")
		}
		v = b
		if kind == "BINARY.SIZE" {
			v = []byte(strconv.Itoa(len(b)))
		}
	}
	return append([]byte("OK "), v...)
}

func TestSectionsGolden(t *testing.T) {
	for _, f := range corpus(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if !haveDovecot() {
					t.Fatal("-update needs root and " + dovecotIMAP)
				}
				res := dovecotSections(t, raw, sectionItems)
				if err := os.WriteFile(sectionsName(f), writeSections(sectionItems, res), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(sectionsName(f))
			if err != nil {
				t.Fatalf("golden: %v (run go test -run TestSectionsGolden -update)", err)
			}
			items, want := readSections(t, data)
			m := message.Parse(raw)
			for _, it := range items {
				if got := coteSection(m, it); !bytes.Equal(got, want[it]) {
					t.Errorf("%s:\n got: %q\nwant: %q", it, got, want[it])
				}
			}
		})
	}
}
