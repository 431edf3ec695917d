package smtpfront

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// loginServer is the server side of the obsolete but widespread LOGIN SASL
// mechanism (draft-murchison-sasl-login), which go-sasl only offers as a
// client. Many application mailers still pick it when offered.
type loginServer struct {
	step         int
	username     string
	authenticate func(username, password string) error
}

func newLoginServer(authenticate func(username, password string) error) sasl.Server {
	return &loginServer{authenticate: authenticate}
}

var errLoginUnexpected = errors.New("smtpfront: unexpected LOGIN response")

// Next takes the client's response and returns the next challenge.
func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step++
		if response != nil {
			// An initial response carries the user name.
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.authenticate(l.username, string(response))
	}
	return nil, true, errLoginUnexpected
}
