package master

import (
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/settings"
)

// goMemLimitPercent is the share of vsz_limit handed to the Go runtime as
// GOMEMLIMIT: the collector works harder before RLIMIT_DATA makes an
// allocation fail, and 10% leaves room for stacks and runtime metadata.
const goMemLimitPercent = 90

// Users resolves user and group names. The production implementation reads
// /etc/passwd and /etc/group through os/user (the binaries are built
// without cgo); tests may substitute a table.
type Users interface {
	User(name string) (uid, gid int, groups []int, err error)
	Group(name string) (gid int, err error)
}

// SystemUsers resolves names through os/user.
type SystemUsers struct{}

// User returns the uid, primary gid and every group the user is a member
// of in /etc/group (the primary gid included).
func (SystemUsers) User(name string) (int, int, []int, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return 0, 0, nil, errors.New("no such user")
		}
		return 0, 0, nil, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("user %s: non-numeric uid %q", name, u.Uid)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("user %s: non-numeric gid %q", name, u.Gid)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("user %s: groups: %w", name, err)
	}
	groups := []int{gid}
	for _, s := range ids {
		if n, err := strconv.Atoi(s); err == nil {
			groups = append(groups, n)
		}
	}
	return uid, gid, groups, nil
}

// Group returns the gid of a group name (or a numeric gid as written).
func (SystemUsers) Group(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			return 0, errors.New("no such group")
		}
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

// mustNotRunAsRoot reports whether a service handles client or mail data
// and so must never run as root: login processes and every service a
// protocol enables (ARCHITECTURE.md, "Privilege drop").
func mustNotRunAsRoot(s settings.Service) bool {
	return s.Protocol != "" || strings.HasSuffix(s.Name, "-login")
}

// BuildRestrict turns a service's user, group, extra_groups, chroot and
// vsz_limit into the restriction record the service applies. privsep is
// false when the master is not root: then the service keeps the master's
// credentials and no chroot, and only the memory limits apply.
func BuildRestrict(s settings.Service, users Users, privsep bool) (ipc.Restrict, error) {
	r := ipc.NoRestrict
	r.RlimitData = s.VszLimit
	r.GoMemLimit = s.VszLimit / 100 * goMemLimitPercent
	if !privsep {
		return r, nil
	}
	r.Chroot = s.Chroot
	prefix := "service " + s.Name + ": "
	if s.User != "" {
		uid, gid, groups, err := users.User(s.User)
		if err != nil {
			return r, fmt.Errorf("%suser %s: %w", prefix, s.User, err)
		}
		// lmtp as root is an explicit choice (service lmtp { user =
		// root }): it then delivers every recipient through cmd/deliver's
		// helper running with the user's uid (system users).
		if uid == 0 && mustNotRunAsRoot(s) && s.Name != "lmtp" {
			return r, fmt.Errorf("%suser %s: login and mail processes must not run as root", prefix, s.User)
		}
		r.UID, r.GID, r.Groups = uid, gid, groups
	} else if mustNotRunAsRoot(s) {
		return r, fmt.Errorf("%suser: not set; login and mail processes must not run as root", prefix)
	}
	if s.Group != "" {
		gid, err := users.Group(s.Group)
		if err != nil {
			return r, fmt.Errorf("%sgroup %s: %w", prefix, s.Group, err)
		}
		r.GID = gid
		if r.UID >= 0 {
			r.Groups = append(r.Groups, gid)
		}
	}
	for _, g := range s.ExtraGroups {
		gid, err := users.Group(g)
		if err != nil {
			return r, fmt.Errorf("%sextra_groups %s: %w", prefix, g, err)
		}
		r.Groups = append(r.Groups, gid)
	}
	if r.Groups != nil {
		slices.Sort(r.Groups)
		r.Groups = slices.Compact(r.Groups)
	}
	return r, nil
}
