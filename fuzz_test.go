package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Fuzz targets: `go test -run '^$' -fuzz '^FuzzX$' -fuzztime 5s .` runs
// one (.ci/run runs each for a few seconds); the seeds below and the
// corpus in testdata/fuzz/FuzzX/ run with every `go test`.

// FuzzDispatch: any frame, on any kind of socket, is answered without a
// panic, and every frame the socket is sent is a JSON object with a
// command.
func FuzzDispatch(f *testing.F) {
	for _, seed := range []string{
		`{}`, `[]`, `null`, `"x"`, `{"command":1}`, `{"command":""}`, `{"command":"nope"}`,
		`{"command":"new_message","message":{"content":"hi","client_id":"c1"}}`,
		`{"command":"new_message","message":{"content":"","client_id":"c1"}}`,
		`{"command":"new_message","message":"hi"}`,
		`{"command":"new_message","message":{"content":"<b>x</b>\u2028","client_id":{"a":1}}}`,
		`{"command":"fetch_messages","before":0,"limit":1}`,
		`{"command":"fetch_messages","before":-1,"limit":1e99}`,
		`{"command":"fetch_messages","limit":"5"}`,
		`{"command":"typing","typing":true}`, `{"command":"typing","typing":"yes"}`,
		`{"command":"read","up_to":1}`, `{"command":"read","up_to":9223372036854775807}`,
		`{"command":"new_room","consumer":"v2","email":"a@b.example"}`,
		`{"command":"room","consumer":"ACME"}`, `{"command":"new_room","consumer":"v3","email":"not an email"}`,
		`{"command":"fetch_rooms"}`, `{"command":"fetch_rooms","command":"typing"}`,
		"{\"command\":\"new_message\",\"message\":{\"content\":\"\xff\xfe\"}}",
	} {
		for kind := range byte(4) {
			f.Add(kind, []byte(seed))
		}
	}
	ts := newTestServer(f, chatConfig)
	ts.client().signup("acme")
	u, err := ts.DB.UserByName(f.Context(), "acme")
	if err != nil {
		f.Fatal(err)
	}
	room := &commitOp{kind: opRoom, userID: u.ID, username: u.Username, consumer: "v1"}
	if err := ts.Server.committer.submit(room); err != nil {
		f.Fatal(err)
	}
	s := ts.Server
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		sk, admin := chatSocket, kind&1 == 1
		if kind&2 != 0 {
			sk = roomSocket
		}
		var agent *User
		if admin {
			agent = u
		}
		c := s.newClient(nil, sk, u, agent, "")
		c.send = make(chan []byte, 4096)
		if sk == chatSocket {
			c.roomID, c.consumer = room.room.ID, "v1"
		}
		if !s.hub.add(&c.subscriber, nil) {
			t.Fatal("hub closed")
		}
		defer s.hub.remove(&c.subscriber, nil)
		s.dispatch(c, data)
		for {
			select {
			case fr := <-c.send:
				var v map[string]any
				if err := json.Unmarshal(fr, &v); err != nil {
					t.Fatalf("frame %q is not a JSON object: %v (in answer to %q)", fr, err, data)
				}
				if cmd, _ := v["command"].(string); cmd == "" {
					t.Fatalf("frame %s has no command (in answer to %q)", fr, data)
				}
				if v["command"] == "error" {
					if code, _ := v["error"].(string); code == "" || v["detail"] == "" {
						t.Fatalf("error frame %s lacks its code or detail", fr)
					}
					if v["error"] == codeInternal {
						t.Fatalf("frame %q made the server fail: %s", data, fr)
					}
				}
			default:
				return
			}
		}
	})
}

// FuzzAppendJSON: the hand-written encoder writes what encoding/json
// writes, byte for byte, for any strings and numbers.
func FuzzAppendJSON(f *testing.F) {
	f.Add(int64(1), "acme", "hello", "text", "", "acme v1", "c1", int64(1735787045123), "v1", "a@b.example", 3, true)
	f.Add(int64(-5), "<script>", "\u2028\u2029 & \x00\x1f\x7f", "image/png", "/files/x/a b.png", "", "", int64(-62135596800000), "", "", 0, false)
	f.Add(int64(9223372036854775807), "\xff", "\xe2\x82", "\xc3", "\\\"", "é😀", "\t\n\r\b\f", int64(253402300799999), "ACME", "\"", -1, true)
	f.Fuzz(func(t *testing.T, id int64, author, content, typ, file, room, clientID string, created int64, consumer, email string, unread int, online bool) {
		// Times as stored: years 0 to 9999 (formatTime's range).
		created = min(max(created, -62167219200000), 253402300799999)
		m := Message{ID: id, Author: author, Content: content, Type: typ, File: file, Room: room,
			Created: formatTime(created), ClientID: clientID}
		want, err := json.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		got := appendMessageJSON(nil, &m, created)
		if !bytes.Equal(got, want) {
			t.Fatalf("message:\n got %s\nwant %s", got, want)
		}
		msgs := append(append([]byte{'['}, got...), ']')
		r := roomRow{Consumer: consumer, Email: email, Unread: unread, Created: created, LastActivity: created}
		want, err = json.Marshal(r.json(msgs, online))
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRoomJSON(nil, &r, msgs, online); !bytes.Equal(got, want) {
			t.Fatalf("room:\n got %s\nwant %s", got, want)
		}
	})
}

// FuzzFileName: a cleaned file name is a plain, printable, bounded name
// (cleaning it again changes nothing), and its URL leads back to it
// through the router.
func FuzzFileName(f *testing.F) {
	for _, seed := range []string{"", ".", "..", "a.txt", "../../etc/passwd", `C:\Users\me\photo.jpg`, "a/b/", "  spaced  ",
		"new\nline.txt", "tab\t.txt", "\x00", "\xff\xfe.bin", "100% ?#&=+;,.txt", "é😀.png", "a%2Fb", strings.Repeat("x", 199) + " y",
		"\u202eexe.txt", "\u2028", "...", " . "} {
		f.Add(seed)
	}
	var gotToken, gotName string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /files/{token}/{name}", func(w http.ResponseWriter, r *http.Request) {
		gotToken, gotName = r.PathValue("token"), r.PathValue("name")
	})
	token := newFileToken()
	f.Fuzz(func(t *testing.T, raw string) {
		name := cleanFileName(raw)
		switch {
		case name == "" || name == "." || name == "..":
			t.Fatalf("cleanFileName(%q) = %q", raw, name)
		case !utf8.ValidString(name):
			t.Fatalf("cleanFileName(%q) = %q is not UTF-8", raw, name)
		case strings.ContainsAny(name, `/\`):
			t.Fatalf("cleanFileName(%q) = %q holds a separator", raw, name)
		case utf8.RuneCountInString(name) > maxFileName:
			t.Fatalf("cleanFileName(%q) is %d characters", raw, utf8.RuneCountInString(name))
		case strings.TrimSpace(name) != name:
			t.Fatalf("cleanFileName(%q) = %q has surrounding space", raw, name)
		}
		for _, r := range name {
			if unicode.IsControl(r) {
				t.Fatalf("cleanFileName(%q) = %q holds control character %U", raw, name, r)
			}
		}
		if again := cleanFileName(name); again != name {
			t.Fatalf("cleaning %q again gives %q", name, again)
		}
		gotToken, gotName = "", ""
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", fileURL(token, name), nil))
		if rec.Code != http.StatusOK || gotToken != token || gotName != name {
			t.Fatalf("%s routes to %d token %q name %q, want name %q", fileURL(token, name), rec.Code, gotToken, gotName, name)
		}
	})
}

// FuzzReadMultipart: any body under a multipart Content-Type is read
// without a panic, and what is read respects the limits; a failure is one
// of the errors the handlers map to an answer.
func FuzzReadMultipart(f *testing.F) {
	const boundary = "fuzzboundary"
	build := func(parts ...[2]string) []byte {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.SetBoundary(boundary)
		for _, p := range parts {
			if p[0] == "file" {
				w, _ := mw.CreateFormFile("file", "a.txt")
				w.Write([]byte(p[1]))
			} else {
				mw.WriteField(p[0], p[1])
			}
		}
		mw.Close()
		return buf.Bytes()
	}
	f.Add(build([2]string{"room", "acme v1"}, [2]string{"file", "hello"}))
	f.Add(build([2]string{"file", strings.Repeat("x", 100)}))
	f.Add(build([2]string{"room", strings.Repeat("r", 300)}))
	f.Add(build([2]string{"other", "x"}, [2]string{"room", "a"}, [2]string{"room", "b"}))
	f.Add(build())
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\ncut off"))
	f.Add([]byte("not multipart at all"))
	f.Add([]byte("--" + boundary + "--\r\n"))
	limits := map[string]int64{"room": 256, "file": 64}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/chatbot/message/file/upload", bytes.NewReader(body))
		r.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		parts, err := readMultipart(r, limits)
		if err != nil {
			var ae *apiError
			var tooLarge *partTooLargeError
			if !errors.As(err, &ae) && !errors.As(err, &tooLarge) && !errors.Is(err, errNotMultipart) {
				t.Fatalf("readMultipart failed with an unmapped error %T: %v", err, err)
			}
			return
		}
		for name, p := range parts {
			limit, ok := limits[name]
			if !ok {
				t.Fatalf("field %q was kept, but was not asked for", name)
			}
			if int64(len(p.data)) > limit {
				t.Fatalf("field %q: %d bytes over its limit %d", name, len(p.data), limit)
			}
		}
	})
}

// FuzzValidators: what the name and style rules accept is what they
// promise.
func FuzzValidators(f *testing.F) {
	for _, seed := range []string{"acme", "ACME", "Acme", "a.b-c_d", "", " ", "#abc", "#AABBCC", "#abcd", "red", "#fff;x",
		"Acme\x00", "Acme\nSupport", "x\u2028", "é", strings.Repeat("n", 65), "v1~x", "api", "  padded  ", "\t#fff\n", "\u0085"} {
		f.Add(seed, "acme")
	}
	f.Fuzz(func(t *testing.T, v, username string) {
		if usernameRE.MatchString(v) {
			if len(v) < 1 || len(v) > 32 || strings.ToLower(v) != v || strings.ContainsFunc(v, unicode.IsSpace) {
				t.Fatalf("username %q accepted", v)
			}
		}
		if consumerProblem(v, username) == "" {
			if !consumerRE.MatchString(v) || strings.EqualFold(v, username) || len(v) > 64 || v == "" {
				t.Fatalf("consumer id %q accepted for %q", v, username)
			}
			if strings.ContainsAny(v, " /?#%") {
				t.Fatalf("consumer id %q needs escaping in a URL", v)
			}
		}
		if colorRE.MatchString(v) {
			if (len(v) != 4 && len(v) != 7) || v[0] != '#' {
				t.Fatalf("colour %q accepted", v)
			}
		}
		for _, fld := range chatbotFields {
			got := v
			if problem := validateChatbotField(fld, &got); problem != "" {
				continue
			}
			if got != strings.TrimSpace(got) {
				t.Fatalf("%s: accepted %q is not trimmed", fld.json, got)
			}
			again := got
			if problem := validateChatbotField(fld, &again); problem != "" || again != got {
				t.Fatalf("%s: %q accepted, then refused (%s) or changed to %q", fld.json, got, problem, again)
			}
			switch {
			case fld.color:
				if !colorRE.MatchString(got) {
					t.Fatalf("%s: %q accepted", fld.json, got)
				}
			case fld.json == "chatbotName":
				if n := utf8.RuneCountInString(got); n < 1 || n > maxChatbotName || controlProblem(got, false) != "" {
					t.Fatalf("chatbotName %q accepted", got)
				}
			case fld.json == "introductionText":
				if utf8.RuneCountInString(got) > maxIntroduction || controlProblem(got, true) != "" {
					t.Fatalf("introductionText %q accepted", got)
				}
			}
		}
		for _, multiline := range []bool{false, true} {
			if controlProblem(v, multiline) == "" {
				for _, r := range v {
					if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
						t.Fatalf("controlProblem(%q, %v) accepted %U", v, multiline, r)
					}
				}
			}
		}
	})
}
