package pop3

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{"USER alice", "pass a b  c", "LIST 1", "TOP 1 10", "", " ", "X", "\x00", "\xff", "AUTH PLAIN =", "RETR 99999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		masked := maskCommand(line)
		if !utf8.ValidString(masked) || strings.ContainsAny(masked, "\x00\r\n") {
			t.Fatalf("maskCommand(%q) = %q", line, masked)
		}
		cmd, err := parseCommand(line)
		if err != nil {
			return
		}
		if cmd.Name == "" || len(cmd.Name) > 8 || strings.ToUpper(cmd.Name) != cmd.Name {
			t.Fatalf("bad name %q", cmd.Name)
		}
		if !strings.EqualFold(strings.TrimSuffix(cmd.Name+" "+cmd.Rest, " "), strings.TrimSuffix(line, " ")) {
			t.Fatalf("name %q rest %q do not rebuild %q", cmd.Name, cmd.Rest, line)
		}
		for _, a := range cmd.Args {
			if a == "" || strings.Contains(a, " ") {
				t.Fatalf("bad arg %q in %q", a, line)
			}
		}
		for _, a := range cmd.Args {
			if n, ok := parseNumber(a); ok && n < 0 {
				t.Fatalf("negative number from %q", a)
			}
		}
	})
}

// FuzzSession feeds arbitrary client bytes through a whole session and
// checks the reply structure, the byte-stuffing and the Backend contract.
func FuzzSession(f *testing.F) {
	f.Add([]byte("USER alice\r\nPASS secret word\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nRETR 2\r\nTOP 2 1\r\nDELE 1\r\nRSET\r\nQUIT\r\n"))
	f.Add([]byte("AUTH PLAIN\r\nAGFsaWNlAHNlY3JldCB3b3Jk\r\nRETR 3\r\nQUIT\r\n"))
	f.Add([]byte("CAPA\r\nAUTH\r\nAUTH PLAIN\r\n*\r\nAPOP alice 00000000000000000000000000000000\r\n"))
	f.Add([]byte("USER alice\nPASS secret word\nTOP 1 0\nDELE 2\nLIST 2\n\x00\xff\r\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		b := newFakeBackend()
		b.addUser("alice", "secret word", ".dot\r\n\r\n.\r\n..x\r\n", "Subject: s\r\n\r\nbody\r\n.", "")
		var events []string // "C:" or "S:" + line
		srv := NewServer(b, Options{
			MaxBadCommands: 1000,
			Trace: func(string, string, bool) Trace {
				return Trace{Line: func(fromClient bool, line string) {
					if fromClient {
						events = append(events, "C:"+line)
					} else {
						events = append(events, "S:"+line)
					}
				}}
			},
		})
		conn := &memConn{in: bytes.NewReader(input)}
		newSession(srv, conn).serve()
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}

		out := conn.out.Bytes()
		if !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("output does not end in CRLF: %q", out)
		}
		// After each client line the first server line is a status line; any
		// further lines before the next client line are a multi-line body
		// that ends with ".".
		terminators := 0
		for i := 0; i < len(events); i++ {
			ev := events[i]
			if ev == "S:." {
				terminators++
			}
			if !strings.HasPrefix(ev, "C:") && i != 0 {
				continue
			}
			j := i + 1
			if i == 0 {
				j = 0
			}
			if j >= len(events) {
				continue // connection ended (EOF inside SASL)
			}
			first := events[j]
			if !strings.HasPrefix(first, "S:+OK") && !strings.HasPrefix(first, "S:-ERR") && !strings.HasPrefix(first, "S:+ ") {
				t.Fatalf("reply to %q starts with %q", ev, first)
			}
			k := j + 1
			for k < len(events) && strings.HasPrefix(events[k], "S:") {
				k++
			}
			if k > j+1 && events[k-1] != "S:." {
				t.Fatalf("multi-line reply to %q ends with %q", ev, events[k-1])
			}
		}
		// Byte-stuffing: a lone "." on the wire only ever terminates a body.
		wireDots := 0
		for _, l := range bytes.Split(out, []byte("\r\n")) {
			if string(l) == "." {
				wireDots++
			}
		}
		if wireDots != terminators {
			t.Fatalf("%d lone dots on the wire, %d terminators sent", wireDots, terminators)
		}
		if logins, closes, errs := b.stats(); logins != closes || len(errs) > 0 {
			t.Fatalf("logins %d closes %d errs %v", logins, closes, errs)
		}
	})
}
