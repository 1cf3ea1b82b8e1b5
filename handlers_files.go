package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
		// Cut, then trim again: the cut may end on a space.
		name = strings.TrimSpace(string([]rune(name)[:maxFileName]))
	}
	if name == "" || name == "." || name == ".." {
		name = "file"
	}
	return name
}

// uploadPath is the chat upload's route (its body gets UploadTimeout).
const uploadPath = "/chatbot/message/file/upload"

// uploadRetry is the Retry-After of a refusal for too many uploads in
// flight: about as long as an upload may take.
const uploadRetry = 30 * time.Second

// handleUpload handles "POST /chatbot/message/file/upload": multipart
// "file" and "room" ("<username> <consumer>"). The sender is the account's
// signed-in admin, or else the visitor who holds the consumer id. The file
// and its message are stored in one group commit and the message is
// broadcast like any other; the answer is 201 with the Message.
//
// What one client may cost is bounded before the body is read: uploads in
// flight and per window per client address (429), the free-disk floor
// (507). The file is streamed to a spool file next to the database, so a
// stalled upload holds a file descriptor and some disk, not memory, and
// only until its body deadline (bodyDeadlines); the business's storage
// quota is checked once its size is known (507).
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	addr := s.limitAddr(r)
	release, ok := s.limits.acquire("uploading:"+addr, s.cfg.UploadsInFlight)
	if !ok {
		s.tooMany(w, r, uploadRetry, "Too many uploads at once from your address; wait for one to finish.")
		return
	}
	defer release()
	if wait := s.limits.take("uploads:"+addr, s.cfg.UploadsPerAddress, s.cfg.UploadsWindow); wait > 0 {
		s.tooMany(w, r, wait, "Too many uploads from your address; try again later.")
		return
	}
	if err := s.checkFreeDisk(); err != nil {
		s.writeError(w, r, err)
		return
	}
	// Room for the multipart framing and the room field around the file.
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload+64<<10)
	up, err := s.readUpload(r)
	defer up.discard()
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
	name := cleanFileName(up.filename)
	errs := map[string]string{}
	username, consumer, ok := strings.Cut(strings.TrimSpace(up.room), " ")
	username = strings.ToLower(username)
	if !ok || !usernameRE.MatchString(username) || !consumerRE.MatchString(consumer) {
		errs["room"] = "Must be \"<username> <consumer>\"."
	}
	if up.spool == nil {
		errs["file"] = "No file was sent."
	} else if up.size == 0 {
		errs["file"] = "The file is empty."
	}
	if len(errs) > 0 {
		s.writeError(w, r, fieldErrors(errs))
		return
	}
	ctx := r.Context()
	u, err := s.db.BusinessByHandle(ctx, username)
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
	// As on sockets, ?as=visitor (the visitor window) posts as the visitor
	// even in a browser signed in to the business.
	admin := me != nil && me.BusinessID == u.ID && r.URL.Query().Get("as") != "visitor"
	author := consumer
	var agentID int64
	var agent string
	if admin {
		author = u.Username
		agentID, agent = me.ID, me.DisplayName()
	}
	if s.cfg.MaxStorage > 0 {
		// Checked here to refuse early; the group commit checks again in
		// its transaction, where concurrent uploads cannot race it.
		used, err := s.db.StoredBytes(ctx, u.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if used+up.size > s.cfg.MaxStorage {
			s.writeError(w, r, s.storageFull())
			return
		}
	}
	// The file is read whole for the insert; uploadCommits bounds how
	// many are held at once, whatever the number of clients.
	select {
	case s.uploadCommits <- struct{}{}:
		defer func() { <-s.uploadCommits }()
	case <-ctx.Done():
		return
	}
	data := make([]byte, up.size)
	if n, err := up.spool.ReadAt(data, 0); n < len(data) || (err != nil && err != io.EOF) {
		s.writeError(w, r, fmt.Errorf("read spooled upload: %w", err))
		return
	}
	sniffed := http.DetectContentType(data)
	typ, _, _ := mime.ParseMediaType(sniffed)
	if typ == "" {
		typ = "application/octet-stream"
	}
	op := &commitOp{kind: opMessage, userID: u.ID, username: u.Username, consumer: consumer, roomID: room.ID,
		author: author, content: name, typ: typ, fromVisitor: !admin, agentID: agentID, agent: agent, maxStorage: s.cfg.MaxStorage,
		file: &storedFile{Token: newFileToken(), Name: name, Mime: sniffed, Data: data}}
	if !admin {
		op.awaySince, op.awayMessage = s.awayReply(u.ID)
	}
	if err := s.committer.submit(op); err != nil {
		switch {
		case errors.Is(err, errNotFound):
			err = errNoConversation // deleted meanwhile
		case errors.Is(err, errStorageFull):
			err = s.storageFull()
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, op.msg)
}

// maxUploadCommits is how many complete uploads may be held in memory at
// once on their way into the database (each at most MaxUpload).
const maxUploadCommits = 8

// storageFull is the 507 of a business over MaxStorage.
func (s *Server) storageFull() *apiError {
	return errorf(http.StatusInsufficientStorage, "This chat has no room for more files (at most %s of files are kept); delete old conversations to make room.", byteSize(s.cfg.MaxStorage))
}

// checkFreeDisk refuses uploads with 507 while the database's filesystem
// has less than MinFreeDisk free, so files cannot fill the disk that
// messages need.
func (s *Server) checkFreeDisk() error {
	if s.cfg.MinFreeDisk <= 0 {
		return nil
	}
	free, ok, err := freeDiskBytes(s.spoolDir())
	if err != nil {
		return fmt.Errorf("free disk space: %w", err)
	}
	if ok && free < s.cfg.MinFreeDisk {
		s.log.Warn("upload refused: low disk space", "free", free, "floor", s.cfg.MinFreeDisk)
		return errorf(http.StatusInsufficientStorage, "The server is low on disk space, so it takes no files for now; messages still work.")
	}
	return nil
}

// spoolDir is where uploads are spooled: beside the database, on the
// filesystem the free-disk floor watches.
func (s *Server) spoolDir() string { return filepath.Dir(s.cfg.DBPath) }

// spoolPrefix starts the names of the database's upload spool files
// (".<database file>.upload-<random>"), so that leftovers of a crash can
// be removed on start without touching another server's spool in the
// same directory.
func spoolPrefix(dbPath string) string { return "." + filepath.Base(dbPath) + ".upload-" }

// removeSpoolFiles deletes the spool files a crashed process left behind.
func removeSpoolFiles(dbPath string) {
	dir, prefix := filepath.Dir(dbPath), spoolPrefix(dbPath)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// upload is a chat upload as received: the "room" field, and the "file"
// part spooled to a temp file (spool nil: no file part).
type upload struct {
	room     string
	filename string
	spool    *os.File
	size     int64
}

// discard removes the spool file.
func (u *upload) discard() {
	if u != nil && u.spool != nil {
		u.spool.Close()
		os.Remove(u.spool.Name())
	}
}

// readUpload reads the multipart body part by part: "room" (at most 256
// bytes) into memory, "file" (at most MaxUpload) through a fixed buffer
// into a spool file; the first of each counts, other fields are skipped.
// Errors are as readMultipart's; a spool file that cannot be written is
// 507 when the disk is full.
func (s *Server) readUpload(r *http.Request) (*upload, error) {
	up := &upload{}
	mr, err := r.MultipartReader()
	if err != nil {
		return up, errNotMultipart
	}
	seenRoom := false
	buf := make([]byte, 32<<10)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return up, nil
		}
		if err != nil {
			return up, uploadReadError(err)
		}
		switch field := part.FormName(); {
		case field == "room" && !seenRoom:
			data, err := io.ReadAll(io.LimitReader(part, 257))
			if err != nil {
				return up, uploadReadError(err)
			}
			if len(data) > 256 {
				return up, &partTooLargeError{field: field}
			}
			up.room, seenRoom = string(data), true
		case field == "file" && up.spool == nil:
			f, err := os.CreateTemp(s.spoolDir(), spoolPrefix(s.cfg.DBPath)+"*")
			if err != nil {
				return up, fmt.Errorf("spool upload: %w", err)
			}
			up.spool, up.filename = f, part.FileName()
			for {
				n, rerr := part.Read(buf)
				if n > 0 {
					if up.size += int64(n); up.size > s.cfg.MaxUpload {
						return up, &partTooLargeError{field: field}
					}
					if _, err := f.Write(buf[:n]); err != nil {
						if errors.Is(err, syscall.ENOSPC) {
							return up, errorf(http.StatusInsufficientStorage, "The server is out of disk space, so it takes no files for now.")
						}
						return up, fmt.Errorf("spool upload: %w", err)
					}
				}
				if rerr == io.EOF {
					break
				}
				if rerr != nil {
					return up, uploadReadError(rerr)
				}
			}
		}
		part.Close()
	}
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
