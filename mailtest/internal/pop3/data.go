package pop3

import (
	"bytes"
	"strconv"
)

// sendData writes message data as a multi-line response body (RFC 1939 §3):
// every line starting with '.' gets another '.', the data ends with CRLF
// (added when missing) and the ".CRLF" terminator follows. It writes
// slices of data straight into the buffered writer: no per-line allocation.
func (s *session) sendData(data []byte) {
	if s.tr.Line != nil {
		s.trace(false, "<message "+strconv.Itoa(len(data))+" octets>")
	}
	rest := data
	for len(rest) > 0 && s.err == nil {
		if rest[0] == '.' {
			s.write(dot)
		}
		// Any LF ends a line for stuffing purposes, even a stray bare LF:
		// a lenient client must never see an unstuffed ".\n" as the end.
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			s.write(rest)
			s.write(crlf)
			break
		}
		s.write(rest[:i+1])
		rest = rest[i+1:]
	}
	s.trace(false, ".")
	s.write(terminator)
}

var dot = []byte(".")

// topLines returns the header, the blank line after it, and at most n body
// lines of a message (RFC 1939 §7 TOP). A message without a blank line is
// all header.
func topLines(data []byte, n int) []byte {
	i := 0
	// Find the end of the header: the first empty line.
	for i < len(data) {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return data
		}
		line := data[i : i+j+1]
		i += j + 1
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			break
		}
	}
	for ; n > 0 && i < len(data); n-- {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return data
		}
		i += j + 1
	}
	return data[:i]
}
