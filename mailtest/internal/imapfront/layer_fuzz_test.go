package imapfront

import (
	"errors"
	"github.com/emersion/go-imap/v2"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzLayerArgs feeds one command's arguments (after its name, literals
// inlined) to every parser of the command layer. None may panic, read past
// the input, or accept something without its final CRLF.
func FuzzLayerArgs(f *testing.F) {
	for _, s := range []string{
		" (\"name\" \"Thunderbird\" \"version\" NIL \"os\" {5}\r\nLinux)\r\n",
		" NIL\r\n",
		" (DATE) UTF-8 ALL\r\n",
		" (REVERSE SUBJECT DISPLAYFROM) US-ASCII OR (SEEN FROM {3+}\r\nbob) NOT 1:*,5 UID $\r\n",
		" REFERENCES UTF-8 SINCE 1-Feb-2024 HEADER X-A \"b\\\"c\" LARGER 10\r\n",
		" \"\" (STORAGE 512 MESSAGE 10)\r\n",
		" INBOX\r\n",
		" &Jjo-\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, args string) {
		raw := []byte(args)
		parsers := map[string]func(a *argReader) error{
			"ID": func(a *argReader) error { _, err := parseID(a); return err },
			"SORT": func(a *argReader) error {
				_, err := parseSort(a, true)
				return err
			},
			"THREAD": func(a *argReader) error {
				_, _, _, err := parseThread(a, func(imap.ThreadAlgorithm) bool { return true })
				return err
			},
			"SETQUOTA": func(a *argReader) error {
				if err := a.sp(); err != nil {
					return err
				}
				if _, err := a.astring(); err != nil {
					return err
				}
				_, err := parseSetQuota(a)
				return err
			},
			"GETQUOTAROOT": func(a *argReader) error {
				if err := a.sp(); err != nil {
					return err
				}
				if _, _, err := a.mailbox(); err != nil {
					return err
				}
				return a.end()
			},
		}
		for name, parse := range parsers {
			a := newArgReader(raw, 0)
			err := parse(a)
			if a.pos > len(raw) {
				t.Fatalf("%s read past the input: %d > %d", name, a.pos, len(raw))
			}
			if err == nil && !strings.HasSuffix(args, "\n") {
				t.Fatalf("%s accepted %q without CRLF", name, args)
			}
		}
	})
}

// FuzzBaseSubject checks RFC 5256 base-subject extraction for panics and
// its invariants: no leading or trailing space, and a base subject is its
// own base subject.
func FuzzBaseSubject(f *testing.F) {
	for _, s := range []string{"Re: hello", "RE: [list] Re: hello (fwd)", "[fwd: Re: hello]", "Fwd: [PATCH 1/2] fix",
		"=?UTF-8?Q?Re:_caf=C3=A9?=", "[PATCH]", "\tRe:\r\n folded", "[[[", "re [a]:[b] [c] x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		base, _ := baseSubject(subject)
		if strings.HasPrefix(base, " ") || strings.HasSuffix(base, " ") {
			t.Fatalf("baseSubject(%q) = %q has outer spaces", subject, base)
		}
		if utf8.ValidString(subject) && !strings.Contains(subject, "=?") && !utf8.ValidString(base) {
			t.Fatalf("baseSubject(%q) = %q is not UTF-8", subject, base)
		}
		if !strings.Contains(base, "=?") {
			if again, _ := baseSubject(base); again != base {
				t.Fatalf("baseSubject(%q) = %q, but baseSubject(%q) = %q", subject, base, base, again)
			}
		}
	})
}

// FuzzCommandFraming checks how the layer frames a client line: the tag
// and name, and a literal announced at its end.
func FuzzCommandFraming(f *testing.F) {
	for _, s := range []string{"a1 LOGIN {5}\r\n", "x UID SORT (DATE) UTF-8 ALL\r\n", "t APPEND INBOX ~{10+}\r\n", "a1\r\n", "{99999999999999999999}\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if n, _, ok := literalAtEnd([]byte(line)); ok && n < 0 {
			t.Fatalf("negative literal %d in %q", n, line)
		}
		tag, name, ok := splitCommand([]byte(line))
		if ok && (tag == "" || name == "" || strings.ContainsAny(tag, " +(){%*\"\\]")) {
			t.Fatalf("splitCommand(%q) = %q, %q", line, tag, name)
		}
		// A name without "&" passes as it is (UTF-8 from IMAP4rev2 clients).
		if s, err := decodeUTF7(line); err == nil && utf8.ValidString(line) && !utf8.ValidString(s) {
			t.Fatalf("decodeUTF7(%q) = %q is not UTF-8", line, s)
		}
	})
}

// FuzzLayerStream sends arbitrary bytes after a login, then ends the
// stream: whatever the bytes (half commands, literals that never arrive,
// the layer's commands and go-imap's mixed), the server must not panic,
// and must hang up once the client has.
func FuzzLayerStream(f *testing.F) {
	for _, s := range []string{
		"a SELECT INBOX\r\nb SORT (DATE) UTF-8 ALL\r\nc THREAD REFERENCES UTF-8 ALL\r\n",
		"a ID {5}\r\nhello\r\n",
		"a APPEND INBOX {10+}\r\n0123456789\r\nb SORT (SIZE) UTF-8 ALL\r\n",
		"a IDLE\r\nDONE\r\nb GETQUOTAROOT INBOX\r\n",
		"a SELECT INBOX\r\nb SORT (DATE) UTF-8 SUBJECT {99999}\r\n",
		"a GETQUOTA {3+}\r\nabc\r\nb CAPABILITY\r\n",
		"a STARTTLS\r\n\x16\x03\x01",
		"a SETQUOTA \"\" (MESSAGE 1 STORAGE 2)\r\nb APPEND INBOX {3+}\r\nabc\r\nc GETQUOTA \"\"\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		e := newEnv(t, Options{AllowSetQuota: true})
		e.appendMsg(t, alice, "INBOX", simpleMsg("one", "x"), time.Time{})
		rc := e.rawLogin(t, alice)
		_ = rc.conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(rc.conn, input); err != nil {
			return // the server hung up already
		}
		_ = rc.conn.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, rc.r); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("server did not hang up after the client: %v", err)
		}
	})
}
