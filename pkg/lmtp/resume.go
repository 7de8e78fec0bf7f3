package lmtp

import (
	"bytes"

	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/delivery"
)

// resumePrefix starts the queue's resume ENVID, "cote-resume.<queue
// id>.<unix seconds>" (pkg/queue ResumeEnvID): the queue had started
// delivering this message to these recipients at that time when it
// died, so some of them may already hold it.
const resumePrefix = "cote-resume."

// resumeSignal is a parsed resume ENVID.
type resumeSignal struct {
	queueID string
	since   time.Time
}

// parseResume returns the signal in envid, nil when envid is not one.
func parseResume(envid string) *resumeSignal {
	rest, ok := strings.CutPrefix(envid, resumePrefix)
	if !ok {
		return nil
	}
	id, secs, ok := strings.Cut(rest, ".")
	n, err := strconv.ParseInt(secs, 10, 64)
	if !ok || id == "" || err != nil || n <= 0 {
		return nil
	}
	for _, r := range id {
		if !('0' <= r && r <= '9' || 'A' <= r && r <= 'F') {
			return nil
		}
	}
	return &resumeSignal{queueID: id, since: time.Unix(n, 0)}
}

// peerUID is the uid of a unix socket peer (SO_PEERCRED, set by the
// kernel at connect: the client cannot choose it).
func peerUID(conn net.Conn) (uint32, bool) {
	// Only a unix socket has a peer credential (Linux answers the
	// overflow uid for others).
	if _, ok := conn.LocalAddr().(*net.UnixAddr); !ok {
		return 0, false
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return 0, false
	}
	return cred.Uid, true
}

// maxHeaderScan bounds the search for the queue ID in the message's
// header: smtpd's and pickup's Received field is the first line.
const maxHeaderScan = 64 << 10

// skipDelivered answers, for a resumed transaction, the recipients whose
// mailbox already holds this message with 250 without storing it again,
// and returns the others. The message must carry the signal's queue ID
// in its header (the Received field smtpd and pickup write names it), so
// the byte comparison of delivery.Delivered matches this queue message
// only ("by ... id QUEUEID" from smtpd, "\tid QUEUEID" from pickup). A failed check delivers: a duplicate is better than a loss.
func (ss *session) skipDelivered(status smtp.StatusCollector, local []delivery.Recipient, rcpts []*recipient, msg delivery.Message) ([]delivery.Recipient, []*recipient) {
	head := make([]byte, min(msg.Size, maxHeaderScan))
	n, _ := msg.R.ReadAt(head, 0)
	head = head[:n]
	if end := bytes.Index(head, []byte("\r\n\r\n")); end >= 0 {
		head = head[:end]
	}
	if !bytes.Contains(head, []byte("id "+ss.resume.queueID)) {
		ss.log.Info("resume signal for a message without its queue id: delivering", zap.String("queue_id", ss.resume.queueID))
		return local, rcpts
	}
	keep, keepRcpts := local[:0:0], rcpts[:0:0]
	for i, rc := range local {
		mailbox, found, err := ss.s.dlv.Delivered(rc.User, rc.Env, msg, ss.resume.since)
		if err != nil {
			ss.log.Warn("resume check failed: delivering", zap.String("rcpt", rcpts[i].addr), zap.Error(err))
		}
		if !found {
			keep, keepRcpts = append(keep, rc), append(keepRcpts, rcpts[i])
			continue
		}
		ss.log.Info("already delivered", zap.String("rcpt", rcpts[i].addr), zap.String("user", rcpts[i].user),
			zap.String("queue_id", ss.resume.queueID), zap.String("mailbox", mailbox))
		status.SetStatus(rcpts[i].addr, &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "already delivered"})
	}
	return keep, keepRcpts
}
