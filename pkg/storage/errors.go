package storage

import (
	"errors"
	"fmt"
)

// Error kinds. Protocol sessions map them to response codes with
// errors.Is (IMAP: NONEXISTENT, ALREADYEXISTS, NOPERM, OVERQUOTA,
// EXPUNGEISSUED, INUSE, TOOBIG, UNAVAILABLE; RFC 5530).
var (
	ErrNotFound  = errors.New("no such mailbox or message")
	ErrExists    = errors.New("mailbox already exists")
	ErrNoPerm    = errors.New("permission denied")
	ErrOverQuota = errors.New("quota exceeded")
	ErrExpunged  = errors.New("message was expunged")
	ErrInUse     = errors.New("mailbox is in use")
	ErrTooBig    = errors.New("message too big")
	// ErrTemporary is a failure that may go away by itself (a lock
	// timeout, a full disk, an I/O error): the client may retry later.
	ErrTemporary = errors.New("temporary failure")
	// ErrInvalid is a request the store cannot honour as given (a bad
	// mailbox name, deleting INBOX).
	ErrInvalid = errors.New("invalid request")
)

// Error is a storage failure: its Kind is one of the Err* values above
// and Err the underlying cause, which is for the log only (it may name
// paths; clients get a message derived from Kind).
type Error struct {
	Op      string // "create", "save", "rename", ...
	Mailbox string // the mailbox name as the client gave it, "" if none
	Kind    error
	Err     error
}

func (e *Error) Error() string {
	s := e.Op
	if e.Mailbox != "" {
		s += " " + fmt.Sprintf("%q", e.Mailbox)
	}
	s += ": " + e.Kind.Error()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap makes errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Errorf builds an *Error; drivers use it so every error carries a kind.
func Errorf(op, mailbox string, kind, cause error) error {
	return &Error{Op: op, Mailbox: mailbox, Kind: kind, Err: cause}
}

// KindOf returns the kind of err: one of the Err* values, ErrTemporary
// for an error that carries none (an unexpected I/O failure must not be
// reported to a client as its own fault).
func KindOf(err error) error {
	for _, k := range []error{ErrNotFound, ErrExists, ErrNoPerm, ErrOverQuota, ErrExpunged, ErrInUse, ErrTooBig, ErrInvalid, ErrTemporary} {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrTemporary
}
