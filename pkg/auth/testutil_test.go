package auth

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cote-mail/cote/pkg/settings"
)

// writeFile writes data to dir/name and returns the path.
func writeFile(t testing.TB, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// observedLog returns a debug-level logger whose entries the test can read.
func observedLog() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// logText renders every entry with its fields, for grepping.
func logText(logs *observer.ObservedLogs) string {
	var b strings.Builder
	for _, e := range logs.AllUntimed() {
		b.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			b.WriteString(" " + k + "=")
			b.WriteString(strings.ReplaceAll(strings.TrimSpace(fmtAny(v)), "\n", " "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func nopLog() *zap.Logger { return zap.NewNop() }

type settingsConfig = settings.Config

func mustLoad(t testing.TB, path string) *settings.Config {
	t.Helper()
	c, err := settings.Load(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
