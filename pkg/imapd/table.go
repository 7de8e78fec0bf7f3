package imapd

import (
	"context"
	"strings"

	"github.com/cote-mail/cote/pkg/imap"
)

// cmdFlag describes a command for the dispatcher.
type cmdFlag uint8

const (
	// flagSeqNums: the command refers to messages by sequence number, so
	// no EXPUNGE response may be sent while it runs or right after it
	// (RFC 9051 §7.5.1): the dispatcher does not Sync after it.
	flagSeqNums cmdFlag = 1 << iota
	// flagOwnTagged: the handler writes its own tagged completion (IDLE).
	flagOwnTagged
)

// cmdCtx is one command being run.
type cmdCtx struct {
	ctx  context.Context
	tag  string
	name string // "FETCH", "UID FETCH"
	args []imap.Arg
	uid  bool // a UID command
	// code and text override the tagged OK's response code and text.
	code, text string
}

type handler func(s *Session, c *cmdCtx) error

type cmdDef struct {
	fn     handler
	states state
	flags  cmdFlag
}

const (
	anyState = stateAuth | stateSelected
	selected = stateSelected
)

// commands is the one command table, built once.
var commands map[string]cmdDef

func init() {
	commands = map[string]cmdDef{
		"CAPABILITY": {fn: cmdCapability, states: anyState},
		"NOOP":       {fn: cmdNoop, states: anyState},
		"LOGOUT":     {fn: cmdLogout, states: anyState},
		"ENABLE":     {fn: cmdEnable, states: anyState},
		"ID":         {fn: cmdID, states: anyState},
		"IDLE":       {fn: cmdIdle, states: anyState, flags: flagOwnTagged},

		"SELECT":      {fn: cmdSelect, states: anyState},
		"EXAMINE":     {fn: cmdSelect, states: anyState},
		"CREATE":      {fn: cmdCreate, states: anyState},
		"DELETE":      {fn: cmdDelete, states: anyState},
		"RENAME":      {fn: cmdRename, states: anyState},
		"SUBSCRIBE":   {fn: cmdSubscribe, states: anyState},
		"UNSUBSCRIBE": {fn: cmdSubscribe, states: anyState},
		"LIST":        {fn: cmdList, states: anyState},
		"LSUB":        {fn: cmdLsub, states: anyState},
		"NAMESPACE":   {fn: cmdNamespace, states: anyState},
		"STATUS":      {fn: cmdStatus, states: anyState},
		"APPEND":      {fn: cmdAppend, states: anyState},

		"CHECK":       {fn: cmdCheck, states: selected},
		"CLOSE":       {fn: cmdClose, states: selected},
		"UNSELECT":    {fn: cmdUnselect, states: selected},
		"EXPUNGE":     {fn: cmdExpunge, states: selected},
		"UID EXPUNGE": {fn: cmdExpunge, states: selected},

		"FETCH":      {fn: cmdFetch, states: selected, flags: flagSeqNums},
		"UID FETCH":  {fn: cmdFetch, states: selected},
		"STORE":      {fn: cmdStore, states: selected, flags: flagSeqNums},
		"UID STORE":  {fn: cmdStore, states: selected},
		"SEARCH":     {fn: cmdSearch, states: selected, flags: flagSeqNums},
		"UID SEARCH": {fn: cmdSearch, states: selected},
		"COPY":       {fn: cmdCopy, states: selected},
		"UID COPY":   {fn: cmdCopy, states: selected},
		"MOVE":       {fn: cmdMove, states: selected},
		"UID MOVE":   {fn: cmdMove, states: selected},

		"SORT":       {fn: cmdSort, states: selected, flags: flagSeqNums},
		"UID SORT":   {fn: cmdSort, states: selected},
		"THREAD":     {fn: cmdThread, states: selected, flags: flagSeqNums},
		"UID THREAD": {fn: cmdThread, states: selected},

		"CANCELUPDATE": {fn: cmdCancelUpdate, states: selected},

		"GETQUOTA":     {fn: cmdGetQuota, states: anyState},
		"GETQUOTAROOT": {fn: cmdGetQuotaRoot, states: anyState},
		"SETQUOTA":     {fn: cmdSetQuota, states: anyState},
		"COMPRESS":     {fn: cmdCompress, states: anyState, flags: flagOwnTagged},

		"GETMETADATA": {fn: cmdGetMetadata, states: anyState},
		"SETMETADATA": {fn: cmdSetMetadata, states: anyState},
		"NOTIFY":      {fn: cmdNotify, states: anyState},
	}
}

// dispatch runs one command: state check, handler, pending change
// reports, tagged completion. A returned error ends the session.
func (s *Session) dispatch(ctx context.Context, cmd *imap.Command) error {
	name, args := cmd.Name, cmd.Args
	uid := false
	if name == "UID" {
		if len(args) == 0 || args[0].Kind != imap.Atom {
			s.bad++
			s.w.Tagged(cmd.Tag, "BAD", "", "Error in IMAP command UID: Missing command name.")
			return nil
		}
		name = "UID " + strings.ToUpper(args[0].Value)
		args = args[1:]
		uid = true
	}
	def, ok := commands[name]
	if !ok {
		s.bad++
		s.w.Tagged(cmd.Tag, "BAD", "", "Error in IMAP command "+name+": Unknown command.")
		return nil
	}
	if def.states&s.state == 0 {
		s.bad++
		s.w.Tagged(cmd.Tag, "BAD", "", "Error in IMAP command "+name+": No mailbox selected.")
		return nil
	}
	c := &cmdCtx{ctx: ctx, tag: cmd.Tag, name: name, args: args, uid: uid}
	s.running = c
	s.notifyBefore(c) // RFC 5465 §5: the command's own changes are not events
	err := def.fn(s, c)
	s.flushCache() // sortdata.go
	if err != nil && isIOError(err) {
		return err
	}
	if def.flags&flagOwnTagged != 0 && err == nil {
		return nil
	}
	if err == nil {
		s.bad = 0
	}
	// Changes made by others are reported before the tagged response,
	// where RFC 9051 §7.5.1 allows it. Like Dovecot, every command
	// syncs: a change by another process may not have been signalled
	// yet, and a sync of an unchanged mailbox is a few stat calls.
	if serr := s.sync(true, def.flags&flagSeqNums == 0); serr != nil {
		if isIOError(serr) {
			return serr
		}
		s.log.Warn("mailbox sync failed", zapErr(serr))
	}
	if err != nil {
		return s.respond(c.tag, name, err)
	}
	text := c.text
	if text == "" {
		text = completed(name)
	}
	s.w.Tagged(c.tag, "OK", c.code, text)
	return nil
}

// completed is Dovecot's "Fetch completed." style of text.
func completed(name string) string {
	name = strings.TrimPrefix(name, "UID ")
	return name[:1] + strings.ToLower(name[1:]) + " completed."
}

// wantArgs checks the argument count of a command.
func wantArgs(c *cmdCtx, n int) error {
	if len(c.args) != n {
		return bad("Invalid arguments.")
	}
	return nil
}
