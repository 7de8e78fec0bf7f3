package imapd

import (
	"errors"
	"fmt"
	"strconv"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/imap"
	"github.com/cote-mail/cote/pkg/storage"
)

// badError is a command the server cannot parse or accept as written:
// tagged BAD.
type badError struct{ msg string }

func (e *badError) Error() string { return "bad command: " + e.msg }

func bad(format string, args ...any) error { return &badError{msg: fmt.Sprintf(format, args...)} }

// noError is a well-formed command that fails for a reason the client
// can act on: tagged NO with an optional response code.
type noError struct{ code, msg string }

func (e *noError) Error() string { return "no: [" + e.code + "] " + e.msg }

func no(code, format string, args ...any) error {
	return &noError{code: code, msg: fmt.Sprintf(format, args...)}
}

// respond writes the tagged completion of a failed command. It is the one
// place where errors become responses. A returned error ends the session
// (an I/O failure).
func (s *Session) respond(tag, name string, err error) error {
	var be *badError
	var ne *noError
	var se *storage.Error
	var ae *imap.ArgError
	switch {
	case errors.As(err, &ae):
		if ae.Status == "BAD" {
			s.bad++
			s.w.Tagged(tag, "BAD", ae.Code, "Error in IMAP command "+name+": "+ae.Msg+".")
		} else {
			s.w.Tagged(tag, ae.Status, ae.Code, ae.Msg+".")
		}
	case errors.As(err, &be):
		s.bad++
		s.w.Tagged(tag, "BAD", "", "Error in IMAP command "+name+": "+be.msg)
	case errors.As(err, &ne):
		s.w.Tagged(tag, "NO", ne.code, ne.msg)
	case errors.As(err, &se) || isStorageKind(err):
		code, text := storageResponse(err)
		if code == "SERVERBUG" || code == "UNAVAILABLE" {
			s.log.Error("command failed", zap.String("command", name), zap.Error(err))
		}
		s.w.Tagged(tag, "NO", code, text)
	case isIOError(err):
		return err
	default:
		s.log.Error("command failed", zap.String("command", name), zap.Error(err))
		s.w.Tagged(tag, "NO", "SERVERBUG", "Internal error occurred. Refer to server log for more information.")
	}
	return nil
}

func isStorageKind(err error) bool {
	for _, k := range []error{storage.ErrNotFound, storage.ErrExists, storage.ErrNoPerm, storage.ErrOverQuota,
		storage.ErrExpunged, storage.ErrInUse, storage.ErrTooBig, storage.ErrInvalid, storage.ErrTemporary} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// errIO marks a failure to talk to the client: the session ends.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

func isIOError(err error) bool {
	var ie *ioError
	return errors.As(err, &ie)
}

// storageResponse maps a storage error kind to the response code and text
// of RFC 5530; texts follow Dovecot's where it has one.
func storageResponse(err error) (code, text string) {
	switch storage.KindOf(err) {
	case storage.ErrNotFound:
		return "NONEXISTENT", "Mailbox doesn't exist."
	case storage.ErrExists:
		return "ALREADYEXISTS", "Mailbox already exists."
	case storage.ErrNoPerm:
		return "NOPERM", "Permission denied."
	case storage.ErrOverQuota:
		return "OVERQUOTA", "Quota exceeded (mailbox for user is full)."
	case storage.ErrExpunged:
		return "EXPUNGEISSUED", "Some of the requested messages no longer exist."
	case storage.ErrInUse:
		return "INUSE", "Mailbox is in use."
	case storage.ErrTooBig:
		return "TOOBIG", "Message too large."
	case storage.ErrInvalid:
		return "CANNOT", "Operation not possible."
	}
	return "UNAVAILABLE", "Temporary failure, try again later."
}

func itoa(n uint32) string   { return strconv.FormatUint(uint64(n), 10) }
func itoa64(n int64) string  { return strconv.FormatInt(n, 10) }
func utoa64(n uint64) string { return strconv.FormatUint(n, 10) }
