package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/mattn/go-sqlite3"
	"time"
)

// apiError is an error meant for the client: a status, a sentence for a
// person, and optionally what is wrong with each field. It renders as
// SPEC's {"detail": ..., "errors": {...}}.
type apiError struct {
	Status int
	Detail string
	Fields map[string]string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Detail) }

// errorf makes an apiError with a formatted detail.
func errorf(status int, format string, args ...any) *apiError {
	return &apiError{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// fieldErrors makes a 400 from a field → problem map.
func fieldErrors(fields map[string]string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Detail: "Some fields are not valid.", Fields: fields}
}

// errBodyTimeout answers a request whose body did not arrive before its
// deadline (bodyDeadlines).
var errBodyTimeout = &apiError{Status: http.StatusRequestTimeout, Detail: "The request body did not arrive in time."}

// isTimeout reports whether err is a read that hit its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// bodyDeadlines gives every request body a deadline to arrive: UploadTimeout
// for the chat upload, BodyTimeout for everything else, counted from when
// the handler starts. A body still arriving then fails its read (408, see
// isTimeout) and the handler lets go of it. A handler that has read its
// body may take longer: net/http lifts the read deadline when it starts
// its background read after the body's end. GET and HEAD requests
// (websocket upgrades among them) and requests without a body get none:
// on an upgrade the deadline would outlive the hijack.
func (s *Server) bodyDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Body != nil && r.Body != http.NoBody {
			d := s.cfg.BodyTimeout
			if r.URL.Path == uploadPath {
				d = s.cfg.UploadTimeout
			}
			// Not supported only on a writer that is not net/http's;
			// then there is nothing to bound.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

var errUnauthorized = &apiError{Status: http.StatusUnauthorized, Detail: "Authentication credentials were not provided or have expired. Please sign in."}

// writeJSON writes v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// writeError is the one error path of the HTTP API. An *apiError is sent
// as it is; errNotFound and errConflict get 404 and 409; anything else is
// logged with the request and becomes 500 "Internal error." so internal
// details never reach the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &maxErr):
		ae = errorf(http.StatusRequestEntityTooLarge, "The request body is too large (at most %d bytes).", maxErr.Limit)
	case isTimeout(err):
		ae = errBodyTimeout
	case errors.Is(err, errNotFound):
		ae = errorf(http.StatusNotFound, "Not found.")
	case errors.Is(err, errConflict):
		ae = errorf(http.StatusConflict, "That already exists.")
	case clientGone(r, err):
		// The client went away (an upgrade or request abandoned half-way):
		// nothing failed on our side, and no one reads the answer.
		s.log.Info("request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errorf(http.StatusBadRequest, "The request was cancelled.")
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errorf(http.StatusInternalServerError, "Internal error.")
	}
	body := map[string]any{"detail": ae.Detail}
	if len(ae.Fields) > 0 {
		body["errors"] = ae.Fields
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Session realm="livechat"`)
	}
	writeJSON(w, ae.Status, body)
}

// clientGone reports whether err comes from the request's context ending
// because the client went away: canceled, or SQLite interrupted for it.
func clientGone(r *http.Request, err error) bool {
	if !errors.Is(r.Context().Err(), context.Canceled) {
		return false
	}
	var se sqlite3.Error
	return errors.Is(err, context.Canceled) || (errors.As(err, &se) && se.Code == sqlite3.ErrInterrupt)
}

// tooMany answers 429 with Retry-After (whole seconds, at least 1) and
// detail.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration, detail string) {
	w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64((wait+time.Second-1)/time.Second)), 10))
	s.writeError(w, r, errorf(http.StatusTooManyRequests, "%s", detail))
}

// decodeBody reads a JSON object, or a urlencoded or multipart form (what a
// browser form posts), into dst. Form fields are taken as strings. Bodies
// over MaxBody fail with *http.MaxBytesError (413 in writeError).
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		var err error
		if ct == "multipart/form-data" {
			err = r.ParseMultipartForm(s.cfg.MaxBody)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				return err
			}
			if isTimeout(err) {
				return errBodyTimeout
			}
			return errorf(http.StatusBadRequest, "The form could not be read.")
		}
		m := map[string]string{}
		for k, v := range r.PostForm {
			if len(v) > 0 {
				m[k] = v[0]
			}
		}
		b, _ := json.Marshal(m)
		if err := json.Unmarshal(b, dst); err != nil {
			return errorf(http.StatusBadRequest, "The form has a field of the wrong type.")
		}
		return nil
	default:
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
		if err := dec.Decode(dst); err != nil {
			var maxErr *http.MaxBytesError
			var typeErr *json.UnmarshalTypeError
			switch {
			case errors.As(err, &maxErr):
				return err
			case isTimeout(err):
				return errBodyTimeout
			case errors.Is(err, io.EOF):
				return errorf(http.StatusBadRequest, "The request body is empty; send a JSON object.")
			case errors.As(err, &typeErr):
				if typeErr.Field != "" {
					return &apiError{Status: http.StatusBadRequest, Detail: "Some fields are not valid.",
						Fields: map[string]string{typeErr.Field: "Must be a " + jsonKind(typeErr.Type.Kind().String()) + "."}}
				}
				return errorf(http.StatusBadRequest, "The request body must be a JSON object.")
			default:
				return errorf(http.StatusBadRequest, "The request body is not valid JSON.")
			}
		}
		return nil
	}
}

func jsonKind(goKind string) string {
	switch {
	case goKind == "string":
		return "string"
	case goKind == "bool":
		return "boolean"
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "number"
	default:
		return "value of another type"
	}
}

// handleHealthz handles "GET /healthz": 200 "ok" when the database can
// be read and written, else 503 with the reason ("database unavailable:
// writes to the database fail: the disk is full"), so a monitor sees a
// full disk while every write fails, and sees it end once space is free.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := s.db.Health(r.Context())
	// Log when the answer changes, not on every request: anyone may ask.
	state := "ok"
	if err != nil {
		state = err.Error()
	}
	if old := s.health.Swap(&state); old == nil || *old != state {
		if err != nil {
			s.log.Error("healthz: unhealthy", "err", err)
		} else if old != nil {
			s.log.Info("healthz: healthy again")
		}
	}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "database unavailable: "+err.Error()+"\n")
		return
	}
	io.WriteString(w, "ok")
}

// formPart is one field of a multipart form: the file name the client
// gave (for file fields) and the bytes.
type formPart struct {
	filename string
	data     []byte
}

// errNotMultipart: the request is not multipart/form-data.
var errNotMultipart = errors.New("not multipart")

// partTooLargeError: a field was larger than its limit.
type partTooLargeError struct{ field string }

func (e *partTooLargeError) Error() string { return e.field + " too large" }

// readMultipart reads a multipart body part by part, keeping only the
// fields named in limits, each read up to its limit in bytes (a larger one
// stops the reading with *partTooLargeError); other fields are skipped. A
// body cut off or over the request's MaxBytesReader gives the apiError of
// uploadReadError. The caller bounds r.Body.
func readMultipart(r *http.Request, limits map[string]int64) (map[string]formPart, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errNotMultipart
	}
	parts := map[string]formPart{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return nil, uploadReadError(err)
		}
		field := part.FormName()
		limit, wanted := limits[field]
		if !wanted {
			part.Close()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		part.Close()
		if err != nil {
			return nil, uploadReadError(err)
		}
		if int64(len(data)) > limit {
			return nil, &partTooLargeError{field: field}
		}
		if _, seen := parts[field]; !seen {
			parts[field] = formPart{filename: part.FileName(), data: data}
		}
	}
}

// uploadReadError maps a failure reading a multipart body: too large is
// 413, anything else a malformed request.
func uploadReadError(err error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return errorf(http.StatusRequestEntityTooLarge, "The upload is too large.")
	}
	if isTimeout(err) {
		return errBodyTimeout
	}
	return errorf(http.StatusBadRequest, "The upload could not be read.")
}

// apiErrorWriter lets a library handler answer errors in the API's own
// format: websocket.Accept and http.ServeContent refuse with http.Error
// (plain text, in their own words) or a bare status. apiErrorWriter turns
// any status of 400 and above into our JSON {"detail"} (detail by status)
// and drops the library's body. It keeps http.Hijacker, which Accept
// needs.
type apiErrorWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	details map[int]string
	refused bool
}

func (w *apiErrorWriter) WriteHeader(status int) {
	if status < 400 {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.refused = true
	detail := w.details[status]
	if detail == "" {
		detail = http.StatusText(status) + "."
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Disposition")
	w.s.writeError(w.ResponseWriter, w.r, errorf(status, "%s", detail))
}

func (w *apiErrorWriter) Write(b []byte) (int, error) {
	if w.refused {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *apiErrorWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
