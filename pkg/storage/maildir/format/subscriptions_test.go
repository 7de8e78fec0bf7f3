package format

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
)

func TestSubscriptions(t *testing.T) {
	tests := []struct {
		name string
		in   string
		sep  byte
		want []string
		out  string // Marshal of want; "" means in
	}{
		{"dovecot v2", "V\t2\n\n&AMQ-rger\tSub\n&ZeVnLIqe-\nINBOX\n", '/', []string{"Ärger/Sub", "日本語", "INBOX"}, ""},
		{"dot separator", "V\t2\n\na\tb\n", '.', []string{"a.b"}, ""},
		{"tab escapes", "V\t2\n\na\x01tb\x011\n", '/', []string{"a\tb\x01"}, "V\t2\n\na&AAk-b&AAE-\n"},
		{"version 1", "Sent\n&AMQ-rger.Sub\ninbox\n", '/', []string{"Sent", "Ärger/Sub", "INBOX"}, "V\t2\n\nSent\n&AMQ-rger\tSub\nINBOX\n"},
		{"partial last line and blanks", "V\t2\n\nA\n\nB", '/', []string{"A", "B"}, "V\t2\n\nA\nB\n"},
		{"undecodable kept", "V\t2\n\n&AMQ\n", '/', []string{"&AMQ"}, "V\t2\n\n&-AMQ\n"},
		{"empty", "", '/', nil, "V\t2\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseSubscriptions([]byte(tc.in), tc.sep)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse = %q, want %q", got, tc.want)
			}
			out := tc.out
			if out == "" {
				out = tc.in
			}
			if m := string(MarshalSubscriptions(tc.want, tc.sep)); m != out {
				t.Errorf("Marshal = %q, want %q", m, out)
			}
		})
	}
}

func TestMarshalSubscriptionsDedup(t *testing.T) {
	got := string(MarshalSubscriptions([]string{"inbox", "A", "INBOX", "A", ""}, '/'))
	if want := "V\t2\n\nINBOX\nA\n"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

// TestUpdateSubscriptionsConcurrent: concurrent subscribers each add a name
// under the lock; none is lost.
func TestUpdateSubscriptionsConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- UpdateSubscriptions(dir, '/', func(names []string) []string {
				return append(names, fmt.Sprintf("box%02d", i))
			})
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	names, err := ReadSubscriptions(dir, '/')
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if len(names) != n || names[0] != "box00" || names[n-1] != fmt.Sprintf("box%02d", n-1) {
		t.Errorf("names = %q", names)
	}
	if _, err := os.Stat(filepath.Join(dir, SubscriptionsName+LockSuffix)); err == nil {
		t.Error("lock left behind")
	}
}
