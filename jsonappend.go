package main

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Hand-written JSON for the one large frame, fetch_rooms (1,000 rooms ×
// 50 messages is 50,000 messages and several MB): appending bytes directly
// costs a fraction of encoding/json's reflection plus the re-compaction of
// json.RawMessage. The output is byte for byte what encoding/json writes
// for Message and Room (jsonappend_test.go checks it).

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped exactly as
// encoding/json does (HTML-safe, U+2028/U+2029 escaped, invalid UTF-8
// replaced by U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendTime appends stored Unix milliseconds as formatTime does, quoted.
func appendTime(dst []byte, ms int64) []byte {
	dst = append(dst, '"')
	dst = time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	return append(dst, '"')
}

// appendMessageJSON appends m as encoding/json would, except that created
// is given as stored milliseconds (m.Created is ignored).
func appendMessageJSON(dst []byte, m *Message, created int64) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, m.ID, 10)
	dst = append(dst, `,"author":`...)
	dst = appendJSONString(dst, m.Author)
	dst = append(dst, `,"content":`...)
	dst = appendJSONString(dst, m.Content)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, m.Type)
	dst = append(dst, `,"file":`...)
	dst = appendJSONString(dst, m.File)
	dst = append(dst, `,"room":`...)
	dst = appendJSONString(dst, m.Room)
	dst = append(dst, `,"created":`...)
	dst = appendTime(dst, created)
	if m.ClientID != "" {
		dst = append(dst, `,"client_id":`...)
		dst = appendJSONString(dst, m.ClientID)
	}
	if m.Agent != "" {
		dst = append(dst, `,"agent":`...)
		dst = appendJSONString(dst, m.Agent)
	}
	if m.AgentID != 0 {
		dst = append(dst, `,"agent_id":`...)
		dst = strconv.AppendInt(dst, m.AgentID, 10)
	}
	if m.Auto {
		dst = append(dst, `,"auto":true`...)
	}
	if m.Private {
		dst = append(dst, `,"private":true`...)
	}
	return append(dst, '}')
}

// appendRoomJSON appends a Room as encoding/json would; msgs is the JSON
// array of its messages (nil: none).
func appendRoomJSON(dst []byte, r *roomRow, msgs []byte, online bool) []byte {
	dst = append(dst, `{"consumer":`...)
	dst = appendJSONString(dst, r.Consumer)
	dst = append(dst, `,"consumer_email":`...)
	dst = appendJSONString(dst, r.Email)
	dst = append(dst, `,"messages":`...)
	if msgs == nil {
		msgs = []byte("[]")
	}
	dst = append(dst, msgs...)
	dst = append(dst, `,"unread":`...)
	dst = strconv.AppendInt(dst, int64(r.Unread), 10)
	dst = append(dst, `,"online":`...)
	dst = strconv.AppendBool(dst, online)
	dst = append(dst, `,"created":`...)
	dst = appendTime(dst, r.Created)
	dst = append(dst, `,"last_activity":`...)
	dst = appendTime(dst, r.LastActivity)
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, r.status())
	dst = append(dst, `,"assignee":`...)
	if r.AssigneeID == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendInt(dst, r.AssigneeID, 10)
		dst = append(dst, `,"name":`...)
		dst = appendJSONString(dst, r.AssigneeName)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, r.visitorName())
	dst = append(dst, `,"visitor":`...)
	dst = appendVisitorJSON(dst, r.Visitor)
	return append(dst, '}')
}

// appendVisitorJSON appends v as encoding/json would (null for nil).
func appendVisitorJSON(dst []byte, v *Visitor) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	for i, f := range [...]struct{ k, v string }{{"name", v.Name}, {"email", v.Email}, {"page_url", v.PageURL},
		{"page_title", v.PageTitle}, {"referrer", v.Referrer}, {"language", v.Language}, {"timezone", v.Timezone},
		{"browser", v.Browser}, {"os", v.OS}, {"country", v.Country}, {"first_seen", v.FirstSeen}, {"last_seen", v.LastSeen}} {
		if i == 0 {
			dst = append(dst, '{')
		} else {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, f.k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, f.v)
	}
	dst = append(dst, `,"pages":`...)
	if v.Pages == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, p := range v.Pages {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"url":`...)
			dst = appendJSONString(dst, p.URL)
			dst = append(dst, `,"title":`...)
			dst = appendJSONString(dst, p.Title)
			dst = append(dst, `,"at":`...)
			dst = appendJSONString(dst, p.At)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}
