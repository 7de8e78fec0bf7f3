//go:build pam

package main

/*
#cgo LDFLAGS: -lpam
#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

// conv_data is what the conversation function answers with. The password
// stays in C memory that pam_auth frees (after zeroing) when it returns.
struct conv_data {
	const char *user;
	const char *pass;
	char msg[256];
};

// conv answers PAM's prompts without calling back into Go: the password
// for hidden prompts, the user name for visible ones; module messages are
// kept for failure_show_msg.
static int conv(int n, const struct pam_message **msgs, struct pam_response **resp, void *appdata) {
	struct conv_data *d = appdata;
	struct pam_response *r;
	int i;

	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	r = calloc(n, sizeof(*r));
	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		switch (msgs[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			r[i].resp = strdup(d->pass);
			break;
		case PAM_PROMPT_ECHO_ON:
			r[i].resp = strdup(d->user);
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			if (msgs[i]->msg != NULL) {
				strncpy(d->msg, msgs[i]->msg, sizeof(d->msg) - 1);
				d->msg[sizeof(d->msg) - 1] = '\0';
			}
			break;
		default:
			goto fail;
		}
		if ((msgs[i]->msg_style == PAM_PROMPT_ECHO_OFF || msgs[i]->msg_style == PAM_PROMPT_ECHO_ON) && r[i].resp == NULL)
			goto fail;
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < n; i++) {
		if (r[i].resp != NULL) {
			memset(r[i].resp, 0, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return PAM_CONV_ERR;
}

// pam_auth runs authenticate and acct_mgmt (and, when asked, setcred and
// an open/close session) as Dovecot's PAM passdb does. stage says which
// call failed: 1 start, 2 authenticate, 3 acct_mgmt, 4 setcred, 5 session.
static int pam_auth(const char *service, const char *user, char *pass, const char *rhost, const char *tty,
		int session, int setcred, char *msg, int msglen, int *stage) {
	struct conv_data d;
	struct pam_conv c;
	pam_handle_t *h = NULL;
	int ret, end;

	memset(&d, 0, sizeof(d));
	d.user = user;
	d.pass = pass;
	c.conv = conv;
	c.appdata_ptr = &d;
	*stage = 1;
	ret = pam_start(service, user, &c, &h);
	if (ret != PAM_SUCCESS)
		goto out;
	if (rhost[0] != '\0')
		pam_set_item(h, PAM_RHOST, rhost);
	pam_set_item(h, PAM_TTY, tty);
	*stage = 2;
	ret = pam_authenticate(h, 0);
	if (ret != PAM_SUCCESS)
		goto end;
	*stage = 3;
	ret = pam_acct_mgmt(h, 0);
	if (ret != PAM_SUCCESS)
		goto end;
	if (setcred) {
		*stage = 4;
		ret = pam_setcred(h, PAM_ESTABLISH_CRED);
		if (ret != PAM_SUCCESS)
			goto end;
	}
	if (session) {
		*stage = 5;
		ret = pam_open_session(h, 0);
		if (ret == PAM_SUCCESS)
			ret = pam_close_session(h, 0);
	}
	if (setcred)
		pam_setcred(h, PAM_DELETE_CRED);
end:
	end = pam_end(h, ret);
	(void)end;
out:
	memset(pass, 0, strlen(pass));
	strncpy(msg, d.msg, msglen - 1);
	msg[msglen - 1] = '\0';
	return ret;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cote-mail/cote/pkg/auth"
)

var pamAuth auth.PAMFunc = pamAuthenticate

// pamAuthenticate runs one PAM authentication. PAM modules are not
// reentrant with respect to one handle only; each call has its own.
func pamAuthenticate(r auth.PAMRequest) (ok, notFound bool, msg string, err error) {
	cs := C.CString(r.Service)
	defer C.free(unsafe.Pointer(cs))
	cu := C.CString(r.User)
	defer C.free(unsafe.Pointer(cu))
	cp := C.CString(r.Password) // zeroed by pam_auth
	defer C.free(unsafe.Pointer(cp))
	ch := C.CString(r.RemoteIP)
	defer C.free(unsafe.Pointer(ch))
	// PAM_TTY: Dovecot sets the service name ("imap") so pam_securetty
	// and pam_access rules can tell mail logins apart.
	ct := C.CString(r.Protocol)
	defer C.free(unsafe.Pointer(ct))
	var cmsg [256]C.char
	var stage C.int
	b := func(v bool) C.int {
		if v {
			return 1
		}
		return 0
	}
	ret := C.pam_auth(cs, cu, cp, ch, ct, b(r.Session), b(r.Setcred), &cmsg[0], C.int(len(cmsg)), &stage)
	if r.ShowMsg {
		msg = C.GoString(&cmsg[0])
	}
	switch ret {
	case C.PAM_SUCCESS:
		return true, false, "", nil
	case C.PAM_USER_UNKNOWN:
		return false, true, "", nil
	case C.PAM_AUTH_ERR, C.PAM_ACCT_EXPIRED, C.PAM_NEW_AUTHTOK_REQD, C.PAM_PERM_DENIED, C.PAM_MAXTRIES, C.PAM_CRED_INSUFFICIENT, C.PAM_CRED_EXPIRED:
		return false, false, msg, nil
	}
	stages := [...]string{"", "pam_start", "pam_authenticate", "pam_acct_mgmt", "pam_setcred", "pam_open_session"}
	return false, false, "", fmt.Errorf("%s: %s", stages[stage], C.GoString(C.pam_strerror(nil, ret)))
}

// prepare gives the process no_new_privs on every thread before the Go
// runtime could be relied upon not to have started any: the service
// runtime cannot set it itself in a cgo binary (AllThreadsSyscall refuses),
// so this sets it on the current thread and re-executes the binary from
// that thread; the new image starts with that one thread, and every thread
// it creates inherits the flag. pkg/service then finds it already set.
func prepare() {
	runtime.LockOSThread()
	v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err == nil && v == 1 {
		runtime.UnlockOSThread()
		return
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fatal("prctl(PR_SET_NO_NEW_PRIVS): %v", err)
	}
	exe, err := readExe()
	if err != nil {
		fatal("%v", err)
	}
	err = unix.Exec(exe, osArgs(), osEnviron())
	fatal("re-exec %s: %v", exe, err)
}
