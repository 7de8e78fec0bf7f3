package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// IMAP operations of the mixed workload, in the order a session runs them
// (imaptest's state order). connect is counted but has no probability: a
// session always connects.
const (
	OpConnect    = "connect"
	OpLogin      = "login"
	OpList       = "list"
	OpStatus     = "status"
	OpSelect     = "select"
	OpFetchFlags = "fetchflags"
	OpFetchEnv   = "fetchenv"
	OpFetchBody  = "fetchbody"
	OpSearch     = "search"
	OpCopy       = "copy"
	OpStore      = "store"
	OpDelete     = "delete"
	OpExpunge    = "expunge"
	OpAppend     = "append"
	OpLogout     = "logout"
)

// Weight is the chance in percent that a session runs a state, and the
// chance in percent that it runs it once more after each run (imaptest's
// "append=100,5").
type Weight struct {
	Pct    int
	Repeat int
}

// Mix holds the weight of every state.
type Mix map[string]Weight

// mixStates are the states a Mix may weigh, in session order.
var mixStates = []string{
	OpLogin, OpList, OpStatus, OpSelect, OpFetchFlags, OpFetchEnv, OpFetchBody,
	OpSearch, OpCopy, OpStore, OpDelete, OpExpunge, OpAppend, OpLogout,
}

// DefaultMix is imaptest's default state table as its documentation gives
// it (LOGIN 100, LIST 50, STATUS 50, SELECT 100, FETCH 100, FETCH2 100,30,
// COPY 33,5, STORE 50, DELETE 100, EXPUNGE 100, APPEND 100,5, LOGOUT 100),
// with two departures: imaptest's one FETCH of random fields is split into
// fetchflags (UID FLAGS, 100) and fetchenv (ENVELOPE, BODYSTRUCTURE and
// more, 50) so both kinds are measured separately, and SEARCH, 0 in
// imaptest, runs at 30 because the workload this tool is specified for
// includes it.
func DefaultMix() Mix {
	return Mix{
		OpLogin:      {100, 0},
		OpList:       {50, 0},
		OpStatus:     {50, 0},
		OpSelect:     {100, 0},
		OpFetchFlags: {100, 0},
		OpFetchEnv:   {50, 0},
		OpFetchBody:  {100, 30},
		OpSearch:     {30, 0},
		OpCopy:       {33, 5},
		OpStore:      {50, 0},
		OpDelete:     {100, 0},
		OpExpunge:    {100, 0},
		OpAppend:     {100, 5},
		OpLogout:     {100, 0},
	}
}

// ParseMix applies "state=pct[,repeat]" settings, separated by spaces or
// commas between settings, to a copy of base: "search=0 append=100,30".
func ParseMix(base Mix, spec string) (Mix, error) {
	m := Mix{}
	for k, v := range base {
		m[k] = v
	}
	fields := strings.Fields(spec)
	for _, f := range fields {
		name, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("mix %q: want state=percent[,repeat]", f)
		}
		name = strings.ToLower(name)
		if _, known := base[name]; !known {
			return nil, fmt.Errorf("mix %q: unknown state %q (known: %s)", f, name, strings.Join(mixStates, " "))
		}
		pctS, repS, hasRep := strings.Cut(val, ",")
		pct, err := strconv.Atoi(pctS)
		if err != nil || pct < 0 || pct > 100 {
			return nil, fmt.Errorf("mix %q: percent must be 0..100", f)
		}
		w := Weight{Pct: pct}
		if hasRep {
			rep, err := strconv.Atoi(repS)
			// 100 would repeat forever.
			if err != nil || rep < 0 || rep > 99 {
				return nil, fmt.Errorf("mix %q: repeat percent must be 0..99", f)
			}
			w.Repeat = rep
		}
		m[name] = w
	}
	if m[OpLogin].Pct != 100 {
		return nil, fmt.Errorf("mix: login must stay at 100 (a session without login measures nothing)")
	}
	return m, nil
}

// String prints the mix in ParseMix's syntax and session order.
func (m Mix) String() string {
	var parts []string
	for _, s := range mixStates {
		w := m[s]
		if w.Repeat > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d,%d", s, w.Pct, w.Repeat))
		} else {
			parts = append(parts, fmt.Sprintf("%s=%d", s, w.Pct))
		}
	}
	return strings.Join(parts, " ")
}

// LoginMix makes every session connect, LOGIN and LOGOUT and nothing else:
// the login path's throughput (connection, greeting, authentication, the
// hand-over to the mail process, the logout).
func LoginMix() Mix {
	m := Mix{}
	for _, s := range mixStates {
		m[s] = Weight{}
	}
	m[OpLogin] = Weight{Pct: 100}
	m[OpLogout] = Weight{Pct: 100}
	return m
}
