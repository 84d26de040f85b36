package fssim

import (
	"strconv"
)

// Fixed texts of FreeSWITCH's mod_event_socket, as recorded in testdata/esl.
const (
	authRequest   = "Content-Type: auth/request\n\n"
	goodbyeNotice = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
	shutdownText  = "The system is being shut down.\n"
	rudeText      = "Access Denied, go away.\n"
)

// urlUnsafe marks the bytes FreeSWITCH's switch_url_encode escapes besides
// control and non-ASCII bytes: "\r\n \"#%&+:;<=>?@[\\]^`{|}". '/', ',',
// '(', ')' and '~' stay as they are (see the transcripts).
var urlUnsafe = func() (t [256]bool) {
	for _, b := range []byte("\r\n \"#%&+:;<=>?@[\\]^`{|}") {
		t[b] = true
	}
	for i := 0; i < 256; i++ {
		if i < 32 || i > 126 {
			t[i] = true
		}
	}
	return t
}()

const hexDigits = "0123456789ABCDEF"

// appendEncoded appends s URL-encoded the way FreeSWITCH encodes event
// header values in text/event-plain.
func appendEncoded(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if urlUnsafe[b] {
			dst = append(dst, '%', hexDigits[b>>4], hexDigits[b&15])
			continue
		}
		dst = append(dst, b)
	}
	return dst
}

// urlDecode reverses appendEncoded (and any %XX escape); a malformed escape
// is kept as it is.
func urlDecode(s string) string {
	i := 0
	for i < len(s) && s[i] != '%' {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(v))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

// replyFrame is a command/reply with Reply-Text text and optional extra
// header lines ("Name: value").
func replyFrame(text string, extra ...string) []byte {
	b := make([]byte, 0, 64+len(text))
	b = append(b, "Content-Type: command/reply\nReply-Text: "...)
	b = append(b, text...)
	b = append(b, '\n')
	for _, h := range extra {
		b = append(b, h...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// bodyFrame is a frame of content type ct with body as its content.
func bodyFrame(ct, body string) []byte {
	b := make([]byte, 0, 64+len(body))
	b = append(b, "Content-Type: "...)
	b = append(b, ct...)
	b = append(b, "\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\n\n"...)
	return append(b, body...)
}

func apiFrame(body string) []byte    { return bodyFrame("api/response", body) }
func noticeFrame(body string) []byte { return bodyFrame("text/disconnect-notice", body) }
