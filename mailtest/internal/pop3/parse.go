package pop3

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxLineLen is the RFC 2449 §4 limit on a command line, CRLF excluded.
const maxLineLen = 255

// command is one parsed client command line.
type command struct {
	Name string   // upper-cased keyword
	Args []string // space-separated arguments
	Rest string   // everything after the keyword and its space, verbatim
}

var (
	errEmptyLine   = errors.New("empty command line")
	errBadKeyword  = errors.New("invalid command keyword")
	errBadEncoding = errors.New("command line is not valid UTF-8")
	errControlChar = errors.New("control character in command line")
)

// parseCommand splits a command line (without its line ending) into keyword
// and arguments. Keywords are case-insensitive (RFC 1939 §3). Arguments
// are separated by spaces; runs of spaces are tolerated because real clients
// send them. Control characters and invalid UTF-8 are rejected so nothing
// odd ever reaches a Backend or a log.
func parseCommand(line string) (command, error) {
	if line == "" {
		return command{}, errEmptyLine
	}
	if !utf8.ValidString(line) {
		return command{}, errBadEncoding
	}
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 || c == 0x7f {
			return command{}, errControlChar
		}
	}
	name, rest, _ := strings.Cut(line, " ")
	// RFC 1939 keywords are 3 or 4 ASCII letters; allow 1-8 for error replies
	// that name what the client sent, but nothing else.
	if name == "" || len(name) > 8 {
		return command{}, errBadKeyword
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return command{}, errBadKeyword
		}
	}
	return command{
		Name: strings.ToUpper(name),
		Args: strings.FieldsFunc(rest, func(r rune) bool { return r == ' ' }),
		Rest: rest,
	}, nil
}

// parseNumber parses a message number or line count: plain decimal digits,
// no sign. Values too big for an int saturate at math.MaxInt, which no
// message number reaches and which TOP treats as "the whole body".
func parseNumber(s string) (int, bool) {
	if s == "" || !allDigits(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil { // all digits, so this can only be a range error
		return math.MaxInt, true
	}
	return n, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
