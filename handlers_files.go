package main

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// inlineTypes are served inline; every other file is an attachment.
var inlineTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/bmp": true}

// maxFileName is the longest stored file name, in characters.
const maxFileName = 200

// cleanFileName keeps the last path element of a client's file name,
// without control characters, at most maxFileName characters; "file" when
// nothing is left.
func cleanFileName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxFileName {
		name = string([]rune(name)[:maxFileName])
	}
	if name == "" || name == "." || name == ".." {
		name = "file"
	}
	return name
}

// handleUpload handles "POST /chatbot/message/file/upload": multipart
// "file" and "room" ("<username> <consumer>"). The sender is the account's
// signed-in admin, or else the visitor who holds the consumer id. The file
// and its message are stored in one group commit and the message is
// broadcast like any other; the answer is 201 with the Message.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	// Room for the multipart framing and the room field around the file.
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload+64<<10)
	parts, err := readMultipart(r, map[string]int64{"room": 256, "file": s.cfg.MaxUpload})
	if errors.Is(err, errNotMultipart) {
		s.writeError(w, r, errorf(http.StatusBadRequest, "Send the file as multipart/form-data with the fields \"file\" and \"room\"."))
		return
	}
	var tooLarge *partTooLargeError
	switch {
	case errors.As(err, &tooLarge) && tooLarge.field == "file":
		s.writeError(w, r, &apiError{Status: http.StatusRequestEntityTooLarge,
			Detail: "The file is too large (at most " + byteSize(s.cfg.MaxUpload) + ").",
			Fields: map[string]string{"file": "At most " + byteSize(s.cfg.MaxUpload) + "."}})
		return
	case errors.As(err, &tooLarge):
		s.writeError(w, r, fieldErrors(map[string]string{"room": "Must be \"<username> <consumer>\"."}))
		return
	case err != nil:
		s.writeError(w, r, err)
		return
	}
	roomField := string(parts["room"].data)
	filePart, hasFile := parts["file"]
	data := filePart.data
	if hasFile && data == nil {
		data = []byte{}
	}
	name := cleanFileName(filePart.filename)
	errs := map[string]string{}
	username, consumer, ok := strings.Cut(strings.TrimSpace(roomField), " ")
	username = strings.ToLower(username)
	if !ok || !usernameRE.MatchString(username) || !consumerRE.MatchString(consumer) {
		errs["room"] = "Must be \"<username> <consumer>\"."
	}
	if data == nil {
		errs["file"] = "No file was sent."
	} else if len(data) == 0 {
		errs["file"] = "The file is empty."
	}
	if len(errs) > 0 {
		s.writeError(w, r, fieldErrors(errs))
		return
	}
	ctx := r.Context()
	u, err := s.db.UserByName(ctx, username)
	if errors.Is(err, errNotFound) {
		err = errNoConversation
	}
	var room *roomRow
	if err == nil {
		room, err = s.conversation(ctx, u.ID, consumer)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	me, err := s.currentUser(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	admin := me != nil && me.ID == u.ID
	author := consumer
	if admin {
		author = u.Username
	}
	sniffed := http.DetectContentType(data)
	typ, _, _ := mime.ParseMediaType(sniffed)
	if typ == "" {
		typ = "application/octet-stream"
	}
	op := &commitOp{kind: opMessage, userID: u.ID, username: u.Username, consumer: consumer, roomID: room.ID,
		author: author, content: name, typ: typ, fromVisitor: !admin,
		file: &storedFile{Token: newFileToken(), Name: name, Mime: sniffed, Data: data}}
	if !admin {
		op.awaySince, op.awayMessage = s.awayReply(u.ID)
	}
	if err := s.committer.submit(op); err != nil {
		if errors.Is(err, errNotFound) {
			err = errNoConversation // deleted meanwhile
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, op.msg)
}

// byteSize renders a limit for people: "5 MiB", "512 KiB" or bytes.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// fileErrors are the details of http.ServeContent's refusals.
var fileErrors = map[int]string{
	http.StatusRequestedRangeNotSatisfiable: "The requested range is not within the file.",
	http.StatusPreconditionFailed:           "The file does not match the request's precondition.",
}

// handleFile handles "GET /files/{token}/{name}": images inline, anything
// else as an attachment, never sniffed by the browser.
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if len(token) != 32 {
		s.writeError(w, r, errorf(http.StatusNotFound, "Not found."))
		return
	}
	f, err := s.db.FileByToken(r.Context(), token)
	if errors.Is(err, errNotFound) || (err == nil && f.Name != r.PathValue("name")) {
		s.writeError(w, r, errorf(http.StatusNotFound, "Not found."))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	base, _, _ := mime.ParseMediaType(f.Mime)
	disposition := "attachment"
	if inlineTypes[base] {
		disposition = "inline"
	}
	h.Set("Content-Type", f.Mime)
	if cd := mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}); cd != "" {
		h.Set("Content-Disposition", cd)
	} else {
		h.Set("Content-Disposition", disposition)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox")
	h.Set("Cache-Control", "private, max-age=86400")
	// Range and precondition failures are API errors too (JSON).
	http.ServeContent(&apiErrorWriter{ResponseWriter: w, s: s, r: r, details: fileErrors}, r, "", time.Time{}, bytes.NewReader(f.Data))
}
