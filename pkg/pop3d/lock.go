package pop3d

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFileName is the session lock of pop3_lock_session, in the INBOX's
// control directory. Dovecot names its dotlock dovecot-pop3-session.lock;
// cote's is an flock on a file of its own, so a stale Dovecot dotlock
// never blocks cote and cote's file never looks like a held dotlock to
// Dovecot.
const LockFileName = "cote-pop3-session.lock"

// LockSession takes the POP3 session lock in dir without waiting: a
// second session on the same mailbox, in this process or another, gets
// ErrLocked (Dovecot's pop3_lock_session answers it with [IN-USE]). The
// lock is an flock, so a crashed process never leaves it held.
func LockSession(dir string) (release func(), err error) {
	// A new user's INBOX directory may not exist before the first
	// delivery.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pop3 session lock: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, LockFileName), os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pop3 session lock: %w", err)
	}
	// flock locks belong to the open file description, so two sessions
	// of one process exclude each other too.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("pop3 session lock: %w", err)
	}
	return func() { f.Close() }, nil
}
