package auth

import (
	"context"
	"errors"
	"net/netip"
	"strconv"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/settings"
)

// Result is the outcome of one passdb or userdb lookup (Dovecot's
// PASSDB_RESULT_* and USERDB_RESULT_*).
type Result int

const (
	// ResultOK: the user exists (and, for a password check, the password
	// matched).
	ResultOK Result = iota
	// ResultMismatch: the user exists but the password is wrong, or an
	// extra field (allow_nets) refused the client.
	ResultMismatch
	// ResultUnknown: no such user in this database.
	ResultUnknown
	// ResultInternal: the database failed (unreadable file, worker down).
	ResultInternal
)

func (r Result) String() string {
	return [...]string{"ok", "password mismatch", "user unknown", "internal failure"}[r]
}

// errNoCredentials: the driver cannot return a stored password (pam).
var errNoCredentials = errors.New("auth: this passdb cannot look up credentials")

// Request is what a passdb or userdb lookup knows of the client.
type Request struct {
	User      string // the user name as the database sees it (after auth_username_format)
	Service   string
	Mech      string
	Local     netip.AddrPort
	Remote    netip.AddrPort
	Secured   bool
	ClientPID int
	// afterAuth: the lookup follows a successful authentication (the
	// static userdb then skips its existence check).
	afterAuth bool
}

// vars returns the `%` variables of r (Dovecot's user variables).
func (r *Request) vars() settings.Vars {
	v := settings.Vars{"user": r.User, "service": r.Service, "mechanism": r.Mech}
	if r.Local.Addr().IsValid() {
		v["lip"] = r.Local.Addr().Unmap().String()
		v["lport"] = strconv.Itoa(int(r.Local.Port()))
	} else {
		v["lip"], v["lport"] = "", ""
	}
	if r.Remote.Addr().IsValid() {
		v["rip"] = r.Remote.Addr().Unmap().String()
		v["rport"] = strconv.Itoa(int(r.Remote.Port()))
	} else {
		v["rip"], v["rport"] = "", ""
	}
	if r.Secured {
		v["secured"] = "secured"
	} else {
		v["secured"] = ""
	}
	if r.ClientPID > 0 {
		v["pid"] = strconv.Itoa(r.ClientPID)
	} else {
		v["pid"] = ""
	}
	return v
}

// passEntry is what a credentials lookup returns: the stored password
// ("{SCHEME}data", or data in Scheme), and the extra fields.
type passEntry struct {
	Password string
	Scheme   string // default scheme for a stored value without {SCHEME}
	Fields   authproto.Fields
}

// passDriver is one passdb driver. Drivers that hold hashes implement
// lookup; those that can only check a password (pam, shadow through the
// worker) implement verifyPlain, and lookup returns errNoCredentials.
type passDriver interface {
	// lookup returns the entry of r.User; Result says whether it exists.
	lookup(ctx context.Context, r *Request) (*passEntry, Result, error)
}

// plainVerifier is a passdb that checks a password itself (the worker
// drivers): the hash, if any, never reaches the auth process.
type plainVerifier interface {
	verifyPlain(ctx context.Context, r *Request, password string) (authproto.Fields, Result, error)
}

// userDriver is one userdb driver.
type userDriver interface {
	lookup(ctx context.Context, r *Request) (authproto.Fields, Result, error)
}

// userLister is a userdb that can list its users (LIST, `coteadm user -l`).
type userLister interface {
	list(ctx context.Context, fn func(user string) error) error
}
