// Package log builds cote's zap loggers and carries service logs to the master.
//
// The wire format between a service and the master is fixed: a service writes
// one JSON object a line on fd 2, with at least "level" ("debug", "info",
// "warn", "error", "fatal"), "ts" (seconds since the epoch, float) and "msg",
// plus the structured fields of the call. The master reads these lines, adds
// "service" and "pid", and writes them to log_path (a file, "syslog", or
// "/dev/stderr"). A line that is not JSON (a Go runtime panic, say) is kept
// verbatim at error level, so nothing a child prints is lost.
//
// The master side is the Sink (sink.go). It writes every line, its own
// included (NewMaster), in one format. In a file or on stderr:
//
//	2026-01-02T15:04:05.000+00:00 info imap-login[1234]: connection closed remote=192.0.2.1:5123 reason="client said LOGOUT"
//
// that is: the log_timestamp prefix (strftime, default DefaultTimestamp:
// local time with milliseconds and offset), the level, the service name and
// its pid ("master" for the master itself), the message, and the structured
// fields as key=value in the order the process wrote them.
// Strings holding spaces, quotes, '=' or backslashes are Go-quoted; other
// JSON values (numbers, booleans, objects) are written as compact JSON. A
// newline inside a message is written as \n, so one entry is always one line.
// A child's own "service" or "pid" field is renamed child_service/child_pid:
// only the master says who wrote a line. With log_path = syslog the same line
// without timestamp and level goes to syslog with instance_name (default "cote") as the tag, the level as
// the severity and syslog_facility as the facility. As in Dovecot, errors and
// warnings go to log_path, info lines to info_log_path (default: log_path)
// and debug lines to debug_log_path (default: info_log_path).
//
// Reopen (SIGUSR1, `coteadm log reopen`) closes and reopens a log file so
// logrotate can rename it away; lines are never dropped while it happens.
//
// This package must not import any other cote package.
//
// No globals: loggers are built in main and passed down.
package log
