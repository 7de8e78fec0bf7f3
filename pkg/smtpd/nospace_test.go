package smtpd

import "syscall"

var errNoSpace = syscall.ENOSPC
