// Command testsvc is a service for pkg/master's tests, spawned through the
// ipc contract like a real one. It greets each client with
// "hello SERVICE PID" and echoes lines until the client closes. On control
// "overflow" it ends its oldest client with "bye overflow". Flags (given
// through the service's `executable` setting) make it misbehave:
//
//	-crash    exit 1 at once, before saying ready
//	-nodrop   say "ready" without dropping privileges (fails the /proc check)
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/service"
)

func main() {
	for _, a := range os.Args[1:] {
		switch a {
		case "-crash":
			fmt.Fprintln(os.Stderr, "testsvc: crashing on purpose")
			os.Exit(1)
		case "-nodrop":
			st := os.NewFile(ipc.FDStatus, "status")
			ipc.WriteMessage(st, ipc.Message{Verb: ipc.StatusReady, N: 10})
			// Wait for the master to kill us, or for its control pipe EOF.
			ctl := os.NewFile(ipc.FDControl, "control")
			buf := make([]byte, 64)
			for {
				if _, err := ctl.Read(buf); err != nil {
					os.Exit(0)
				}
			}
		}
	}
	service.Main(func(ctx context.Context, rt *service.Runtime) error {
		rt.Log.Info("testsvc serving")
		var mu sync.Mutex
		var conns []net.Conn // oldest first
		rt.OnOverflow(func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(conns) == 0 {
				return false
			}
			fmt.Fprintf(conns[0], "bye overflow\r\n")
			conns[0].SetDeadline(time.Now())
			conns = conns[1:]
			return true
		})
		return rt.Serve(ctx, func(ctx context.Context, c net.Conn, l *service.Listener) {
			defer c.Close()
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			defer func() {
				mu.Lock()
				defer mu.Unlock()
				for i, x := range conns {
					if x == c {
						conns = append(conns[:i], conns[i+1:]...)
						break
					}
				}
			}()
			fmt.Fprintf(c, "hello %s %d %s\r\n", rt.Name, os.Getpid(), l.Name)
			go func() {
				<-ctx.Done()
				c.Close()
			}()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				fmt.Fprintf(c, "echo %s\r\n", sc.Text())
			}
		})
	})
}
