package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/cote-mail/cote/pkg/testkit"
)

// serveFake accepts connections on a loopback listener and runs serve on
// each until the test ends.
func serveFake(t *testing.T, serve func(c net.Conn)) (host string, port int) {
	t.Helper()
	addr := testkit.ServeLoopback(t, func(c net.Conn) {
		defer c.Close()
		serve(c)
	})
	h, p, _ := net.SplitHostPort(addr)
	port, _ = strconv.Atoi(p)
	return h, port
}

// brokenIMAP greets, then answers every command with "OK" but SELECT with
// an EXISTS count that FETCH contradicts: a server that lies about its
// mailbox.
func brokenIMAP(c net.Conn) {
	r := bufio.NewReader(c)
	io.WriteString(c, "* OK fake\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, cmd, _ := strings.Cut(strings.TrimSpace(line), " ")
		out := tag + " OK done\r\n"
		switch {
		case strings.HasPrefix(cmd, "SELECT"):
			out = "* 2 EXISTS\r\n" + out
		case strings.HasPrefix(cmd, "FETCH"):
			out = "* 7 FETCH (FLAGS ())\r\n" + out
		case cmd == "IDLE":
			out = "+ idling\r\n"
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

// brokenLMTP accepts every command but refuses every message after DATA.
func brokenLMTP(c net.Conn) {
	r := bufio.NewReader(c)
	io.WriteString(c, "220 fake\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		out := "250 ok\r\n"
		if strings.TrimSpace(line) == "DATA" {
			io.WriteString(c, "354 go on\r\n")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			out = "451 4.3.0 lost it\r\n"
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

// brokenPOP3 announces in STAT more octets than its one message has.
func brokenPOP3(c net.Conn) {
	r := bufio.NewReader(c)
	io.WriteString(c, "+OK fake\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		out := "+OK\r\n"
		switch strings.TrimSpace(line) {
		case "STAT":
			out = "+OK 1 5000\r\n"
		case "RETR 1":
			out = "+OK\r\nSubject: short\r\n\r\nbody\r\n.\r\n"
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

// TestCLIReportsBrokenServers runs subcommands as a user would against
// servers that answer wrongly: each must count errors and end with
// errSawErrors (exit status 3), never pass.
func TestCLIReportsBrokenServers(t *testing.T) {
	ih, ip := serveFake(t, brokenIMAP)
	lh, lp := serveFake(t, brokenLMTP)
	ph, pp := serveFake(t, brokenPOP3)
	imapArgs := []string{"--host", ih, "--port", strconv.Itoa(ip), "--users", "u", "--password", "p"}
	tests := []struct {
		name string
		cmd  func() *cobra.Command
		args []string
	}{
		{"imap mix", newIMAPCmd, append([]string{"--clients", "2", "--duration", "300ms", "--progress", "never"}, imapArgs...)},
		{"bigmailbox", newBigMailboxCmd, append([]string{"--count", "2", "--duration", "300ms", "--progress", "never"}, imapArgs...)},
		{"lmtp", newLMTPCmd, []string{"--addr", net.JoinHostPort(lh, strconv.Itoa(lp)), "--rcpt", "a@x", "--duration", "300ms", "--progress", "never"}},
		{"smtp", newSMTPCmd, []string{"--addr", net.JoinHostPort(lh, strconv.Itoa(lp)), "--rcpt", "a@x", "--duration", "300ms", "--progress", "never"}},
		{"pop3", newPOP3Cmd, []string{"--host", ph, "--port", strconv.Itoa(pp), "--users", "u", "--password", "p", "--duration", "300ms", "--progress", "never"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := tc.cmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetArgs(tc.args)
			if err := cmd.Execute(); !errors.Is(err, errSawErrors) {
				t.Fatalf("Execute: %v, want errSawErrors\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "errors: ") || strings.Contains(out.String(), "errors: none") {
				t.Errorf("report does not show the errors:\n%s", out.String())
			}
		})
	}
}
