package peer

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// Sink is a running smtp-sink (Postfix's test server that accepts and
// discards mail): driven with the delivery workload it gives the client
// side's ceiling, what the load generator and loopback can do at most.
type Sink struct {
	Addr string
	cmd  *exec.Cmd
}

// StartSink starts `smtp-sink [-L] 127.0.0.1:PORT 256` (with -L it speaks
// LMTP) and returns once it accepts connections.
func StartSink(lmtp bool) (*Sink, error) {
	bin, err := exec.LookPath("smtp-sink")
	if err != nil {
		bin = "/usr/sbin/smtp-sink"
		if _, serr := exec.LookPath(bin); serr != nil {
			return nil, fmt.Errorf("smtp-sink is not installed (apt-get install postfix): %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{addr, "256"}
	if lmtp {
		args = append([]string{"-L"}, args...)
	}
	if os.Geteuid() == 0 {
		// smtp-sink refuses to run as root without a user to become.
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Sink{Addr: addr, cmd: cmd}
	// smtp-sink does not tell when it listens: try to connect for a
	// while (it binds within milliseconds; the bound is for a loaded
	// machine).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("smtp-sink did not start listening: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills smtp-sink and reaps it.
func (s *Sink) Stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}
