package sasl

// Session is one running SASL exchange (see api.go). It is used by one
// goroutine at a time, as a connection's requests are.
type Session struct {
	step   func(resp []byte) (challenge []byte, done bool, err error)
	result *Result
	done   bool
	failed bool
}

// Next implements go-sasl's Server. A response over MaxResponse bytes is
// refused with ErrTooLarge; after done or an error every call returns ErrDone.
func (s *Session) Next(response []byte) (challenge []byte, done bool, err error) {
	if s.done || s.failed {
		return nil, false, ErrDone
	}
	if len(response) > MaxResponse {
		s.failed = true
		return nil, false, ErrTooLarge
	}
	challenge, done, err = s.step(response)
	if err != nil {
		s.failed = true
		return nil, false, err
	}
	if done {
		s.done = true
		if s.result == nil {
			// A mechanism that finished without a result is a bug; fail
			// closed rather than authenticate nobody.
			s.failed = true
			return nil, false, ErrAuthFailed
		}
	}
	return challenge, done, nil
}

// Result is who authenticated; nil until Next returned done.
func (s *Session) Result() *Result {
	if !s.done || s.failed {
		return nil
	}
	return s.result
}
