package postlogin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/cote-mail/cote/pkg/anvil"
)

// AnvilSocket is anvil's socket for post-login processes, relative to
// base_dir (0600, owned by mail_uid: settings/services.go).
const AnvilSocket = "anvil-postlogin"

// anvilDialTimeout bounds connecting to anvil; it is local and answers
// from memory.
const anvilDialTimeout = 5 * time.Second

// errUserIPLimit refuses a login over mail_max_userip_connections.
var errUserIPLimit = errors.New("too many connections from this user and IP")

// limitText is the client's text for a refusal over the limit, in
// Dovecot's words (login-common's), with the limit in effect.
func limitText(limit int) string {
	return fmt.Sprintf("Maximum number of connections from user+IP exceeded (mail_max_userip_connections=%d)", limit)
}

// userIPLimit is mail_max_userip_connections for this login: the userdb
// may override the setting with a field of the same name, as Dovecot's
// userdb can override any setting. 0 means no limit.
func (s *Server) userIPLimit(fields map[string]string) (int, error) {
	if v, ok := fields["mail_max_userip_connections"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("userdb mail_max_userip_connections=%q is not a number", v)
		}
		return n, nil
	}
	return s.root.Int("mail_max_userip_connections"), nil
}

// admit counts the session with anvil: it refuses with errUserIPLimit
// when user already holds limit sessions of this protocol from ip (across
// all processes), and otherwise registers it; release unregisters it.
// anvil is advisory, as in Dovecot: when it cannot be reached the login
// goes on, uncounted, and the failure is logged.
func (s *Server) admit(ctx context.Context, user string, ip netip.Addr, limit int, log *zap.Logger) (release func(), err error) {
	// One LOOKUP+CONNECT at a time in this process, so two logins of
	// the same user here cannot both pass a limit that has room for one.
	// Across processes the window is one round trip, as in Dovecot.
	s.anvilMu.Lock()
	defer s.anvilMu.Unlock()
	c, err := s.anvilClient(ctx)
	if err != nil {
		log.Warn("anvil unreachable: session not counted", zap.Error(err))
		return func() {}, nil
	}
	if limit > 0 {
		n, err := c.Lookup(s.proto.Name, user, ip)
		if err != nil {
			log.Warn("anvil lookup failed: connection limit not checked", zap.Error(err))
		} else if n >= limit {
			return nil, errUserIPLimit
		}
	}
	pid := os.Getpid()
	if err := c.Connect(pid, s.proto.Name, user, ip); err != nil {
		// The client keeps the entry and re-sends it when it redials.
		log.Warn("anvil connect failed", zap.Error(err))
	} else if _, err := c.Lookup(s.proto.Name, user, ip); err != nil {
		// CONNECT has no reply; a request that has one, on the same
		// connection, returns once anvil has counted it, so a login in
		// another process that starts after this one returns sees it.
		log.Warn("anvil lookup failed", zap.Error(err))
	}
	return func() {
		if err := c.Disconnect(pid, s.proto.Name, user, ip); err != nil {
			log.Warn("anvil disconnect failed", zap.Error(err))
		} else if _, err := c.Lookup(s.proto.Name, user, ip); err != nil {
			// As after CONNECT: once release returns, the freed slot
			// is visible, so a client that logs out and at once logs
			// in again at the limit is not refused.
			log.Warn("anvil lookup failed", zap.Error(err))
		}
	}, nil
}

// anvilClient returns the process's anvil connection, dialling it on
// first use (and again after a failed dial). s.anvilMu is held.
func (s *Server) anvilClient(ctx context.Context) (*anvil.Client, error) {
	if s.anvil != nil {
		return s.anvil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, anvilDialTimeout)
	defer cancel()
	c, err := anvil.Dial(ctx, s.cfg.Anvil)
	if err != nil {
		return nil, err
	}
	s.anvil = c
	return c, nil
}
