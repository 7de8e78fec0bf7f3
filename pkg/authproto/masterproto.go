package authproto

import (
	"fmt"
	"strconv"
)

// MasterHandshake is the server's greeting on auth-master and auth-userdb:
// VERSION 1.0 and SPID (the auth server's pid; a REQUEST redeemer compares it
// with the SPID the login process saw).
func MasterHandshake(spid int) []byte {
	b := FormatLine("VERSION", strconv.Itoa(MasterMajor), strconv.Itoa(MasterMinor))
	return append(b, FormatLine("SPID", strconv.Itoa(spid))...)
}

// ParseMasterCommand parses one line a client sent on auth-master or
// auth-userdb. Which commands a socket allows is the server's decision
// (auth-userdb: USER and LIST only).
func ParseMasterCommand(args []string) (*MasterCommand, error) {
	if len(args) == 0 {
		return nil, ErrMalformed
	}
	cmd := &MasterCommand{Kind: args[0]}
	var err error
	switch args[0] {
	case CmdVersion:
		if cmd.Major, cmd.Minor, err = parseVersion(args); err != nil {
			return nil, err
		}
		if cmd.Major != MasterMajor {
			return nil, fmt.Errorf("%w: client speaks %d.%d", ErrVersion, cmd.Major, cmd.Minor)
		}
	case CmdCPID:
		if cmd.PID, err = parsePID(args); err != nil {
			return nil, err
		}
	case CmdRequest:
		// REQUEST <id> <client-pid> <auth-id> <cookie> [fields]
		if len(args) < 5 {
			return nil, fmt.Errorf("%w: REQUEST needs id, pid, auth id and cookie", ErrMalformed)
		}
		if cmd.ID, err = parseID(args[1]); err != nil {
			return nil, err
		}
		if cmd.ClientPID, err = parsePID(args[1:3]); err != nil {
			return nil, err
		}
		if cmd.AuthID, err = parseID(args[3]); err != nil {
			return nil, err
		}
		if !ValidCookie(args[4]) {
			return nil, fmt.Errorf("%w: REQUEST cookie", ErrMalformed)
		}
		cmd.Cookie = args[4]
		cmd.Fields = ParseFields(args[5:])
	case CmdUser, CmdPass:
		// USER|PASS <id> <user> [fields]
		if len(args) < 3 || args[2] == "" {
			return nil, fmt.Errorf("%w: %s needs an id and a user", ErrMalformed, args[0])
		}
		if cmd.ID, err = parseID(args[1]); err != nil {
			return nil, err
		}
		cmd.User = args[2]
		cmd.Fields = ParseFields(args[3:])
	case CmdList:
		// LIST <id> [user=<mask>] [fields]
		if len(args) < 2 {
			return nil, fmt.Errorf("%w: LIST needs an id", ErrMalformed)
		}
		if cmd.ID, err = parseID(args[1]); err != nil {
			return nil, err
		}
		cmd.Fields = ParseFields(args[2:])
		cmd.User, _ = cmd.Fields.Get("user")
	default:
		return nil, fmt.Errorf("%w: unknown command", ErrMalformed)
	}
	return cmd, nil
}

// UserLine answers REQUEST or USER: the user and the userdb fields.
func UserLine(id uint32, user string, f Fields) []byte {
	return FormatLine(append([]string{"USER", formatID(id), user}, f.Args()...)...)
}

// PassLine answers PASS with the passdb fields.
func PassLine(id uint32, f Fields) []byte {
	return FormatLine(append([]string{"PASS", formatID(id)}, f.Args()...)...)
}

// NotFoundLine answers USER or PASS for a user that does not exist.
func NotFoundLine(id uint32) []byte {
	return FormatLine("NOTFOUND", formatID(id))
}

// FailLine answers any master command with a failure; reason may be empty.
func FailLine(id uint32, reason string) []byte {
	if reason == "" {
		return FormatLine("FAIL", formatID(id))
	}
	return FormatLine("FAIL", formatID(id), "reason="+reason)
}

// ListLine is one user of a LIST answer.
func ListLine(id uint32, user string) []byte {
	return FormatLine("LIST", formatID(id), user)
}

// DoneLine ends a LIST answer.
func DoneLine(id uint32) []byte {
	return FormatLine("DONE", formatID(id))
}

// masterReply is one parsed server line on auth-master.
type masterReply struct {
	kind   string // USER PASS NOTFOUND FAIL LIST DONE
	user   string
	fields Fields
}

func parseMasterReply(args []string) (uint32, masterReply, error) {
	if len(args) < 2 {
		return 0, masterReply{}, fmt.Errorf("%w: short reply", ErrMalformed)
	}
	id, err := parseID(args[1])
	if err != nil {
		return 0, masterReply{}, err
	}
	r := masterReply{kind: args[0]}
	switch args[0] {
	case "USER", "LIST":
		if len(args) < 3 {
			return 0, masterReply{}, fmt.Errorf("%w: %s without a user", ErrMalformed, args[0])
		}
		r.user = args[2]
		r.fields = ParseFields(args[3:])
	case "PASS", "FAIL":
		r.fields = ParseFields(args[2:])
	case "NOTFOUND", "DONE":
	default:
		return 0, masterReply{}, fmt.Errorf("%w: unknown reply", ErrMalformed)
	}
	return id, r, nil
}
