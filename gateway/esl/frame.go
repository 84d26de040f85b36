package esl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Content types of the frames FreeSWITCH sends (mod_event_socket).
const (
	ctAuthRequest   = "auth/request"
	ctReply         = "command/reply"
	ctAPIResponse   = "api/response"
	ctEventPlain    = "text/event-plain"
	ctDisconnect    = "text/disconnect-notice"
	ctRudeRejection = "text/rude-rejection"
)

// Limits on what one frame may hold. FreeSWITCH's own command buffer is
// 1 MB and its events are a few KB; an api/response (show channels) can be
// larger, so the body limit is generous. Anything beyond is a broken peer.
const (
	maxHeaderBytes = 64 << 10
	maxBodyBytes   = 32 << 20
)

var errFrameTooLarge = errors.New("ESL frame exceeds the size limit")

// header is one "Name: value" line; both slices point into a frame buffer.
type header struct {
	name, value []byte
}

// frame is one message from FreeSWITCH. raw is the whole frame exactly as
// received (headers, blank line, body) and body the part after the blank
// line; both are valid until the next call of frameReader.next.
type frame struct {
	contentType string
	raw         []byte
	body        []byte
}

// frameReader splits the byte stream from FreeSWITCH into frames: header
// lines up to a blank line, then Content-Length bytes of body.
type frameReader struct {
	r   *bufio.Reader
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next reads the following frame. Blank lines before a frame are skipped
// (FreeSWITCH's own reader does the same), so they never reach eslgo, whose
// reader would take an empty header block for a frame without a type.
func (fr *frameReader) next() (frame, error) {
	if cap(fr.buf) > 1<<20 {
		fr.buf = nil // do not keep one huge api/response's buffer for ever
	}
	buf := fr.buf[:0]
	contentLength := -1
	var contentType []byte
	for {
		line, err := fr.readLine()
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return frame{}, err
		}
		if len(trimEOL(line)) == 0 {
			if len(buf) == 0 {
				continue
			}
			buf = append(buf, line...)
			break
		}
		start := len(buf)
		buf = append(buf, line...)
		if len(buf) > maxHeaderBytes {
			return frame{}, errFrameTooLarge
		}
		name, value, ok := splitHeader(buf[start:])
		if !ok {
			return frame{}, fmt.Errorf("malformed ESL header line %q", truncate(line, 80))
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Type")):
			contentType = value
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := parseLength(value)
			if err != nil {
				return frame{}, err
			}
			contentLength = n
		}
	}
	if len(contentType) == 0 {
		return frame{}, errors.New("ESL frame without Content-Type")
	}
	ct := internContentType(contentType)
	headerLen := len(buf)
	if contentLength > 0 {
		buf = grow(buf, contentLength)
		if _, err := io.ReadFull(fr.r, buf[headerLen:headerLen+contentLength]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return frame{}, err
		}
		buf = buf[:headerLen+contentLength]
	}
	fr.buf = buf
	return frame{contentType: ct, raw: buf, body: buf[headerLen:]}, nil
}

// readLine returns one line including its '\n', refusing lines longer than
// maxHeaderBytes.
func (fr *frameReader) readLine() ([]byte, error) {
	line, err := fr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errFrameTooLarge
	}
	if err != nil {
		return nil, err
	}
	return line, nil
}

// trimEOL drops a line's trailing '\n' and '\r' bytes.
func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, len(b)+n+len(b)/2)
	copy(nb, b)
	return nb
}

func parseLength(v []byte) (int, error) {
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad ESL Content-Length %q", truncate(v, 40))
	}
	if n > maxBodyBytes {
		return 0, errFrameTooLarge
	}
	return n, nil
}

// internContentType returns a constant for the known content types, so a
// frame costs no allocation for it.
func internContentType(v []byte) string {
	for _, ct := range [...]string{ctEventPlain, ctReply, ctAPIResponse, ctAuthRequest, ctDisconnect, ctRudeRejection} {
		if string(v) == ct {
			return ct
		}
	}
	return string(v)
}

// splitHeader splits "Name: value\n" (or "Name:value\r\n") into name and value.
func splitHeader(line []byte) (name, value []byte, ok bool) {
	line = trimEOL(line)
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, false
	}
	name = line[:i]
	value = line[i+1:]
	for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
		value = value[1:]
	}
	return name, value, true
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// plainEvent is a parsed text/event-plain body: URL-encoded header lines, a
// blank line, and an optional body of the event's own Content-Length (the
// output of a BACKGROUND_JOB). Slices point into the frame buffer.
type plainEvent struct {
	headers []header
	body    []byte
}

// parse fills e from the body of a text/event-plain frame, reusing e's
// header slice.
func (e *plainEvent) parse(b []byte) error {
	e.headers = e.headers[:0]
	e.body = nil
	contentLength := -1
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var line []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i+1], b[i+1:]
		}
		if len(trimEOL(line)) == 0 {
			break
		}
		name, value, ok := splitHeader(line)
		if !ok {
			return fmt.Errorf("malformed event header line %q", truncate(line, 80))
		}
		if string(name) == "Content-Length" {
			n, err := parseLength(value)
			if err != nil {
				return err
			}
			contentLength = n
		}
		e.headers = append(e.headers, header{name: name, value: value})
	}
	if contentLength > 0 {
		if len(b) < contentLength {
			return fmt.Errorf("event body has %d bytes; its Content-Length says %d", len(b), contentLength)
		}
		e.body = b[:contentLength]
	}
	if e.raw("Event-Name") == nil {
		return errors.New("event without Event-Name")
	}
	return nil
}

// raw returns the still-encoded value of the first header called name, or nil.
func (e *plainEvent) raw(name string) []byte {
	for i := range e.headers {
		if string(e.headers[i].name) == name {
			return e.headers[i].value
		}
	}
	return nil
}

// get returns the URL-decoded value of the first header called name, or "".
func (e *plainEvent) get(name string) string {
	return unescape(e.raw(name))
}

// getInt returns the header as an integer, or 0 if absent or not a number.
func (e *plainEvent) getInt(name string) int {
	n, _ := strconv.Atoi(string(e.raw(name)))
	return n
}

// unescape decodes FreeSWITCH's URL encoding (%XX; '+' is literal). A
// malformed escape is kept as it is rather than failing the event.
func unescape(v []byte) string {
	if bytes.IndexByte(v, '%') < 0 {
		return string(v)
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) {
			hi, ok1 := unhex(v[i+1])
			lo, ok2 := unhex(v[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, v[i])
	}
	return string(out)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
