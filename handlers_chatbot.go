package main

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Chatbot text limits, in characters.
const (
	maxChatbotName  = 64
	maxIntroduction = 500
)

// handleGetChatbot handles "GET /chatbot/api".
func (s *Server) handleGetChatbot(w http.ResponseWriter, r *http.Request, u *User) {
	c, err := s.db.ChatbotByUser(r.Context(), u.BusinessID, u.Business)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"detail": "success", "chatbot_details": c})
}

// handleUpdateChatbot handles "POST /chatbot/api": a partial update. Absent
// fields keep their value; read-only and unknown fields are ignored.
func (s *Server) handleUpdateChatbot(w http.ResponseWriter, r *http.Request, u *User) {
	if isMultipartForm(r) {
		s.handleUpdateChatbotMultipart(w, r, u) // the original front end's, with bot_picture
		return
	}
	var raw map[string]any
	if err := s.decodeBody(w, r, &raw); err != nil {
		s.writeError(w, r, err)
		return
	}
	set := map[string]string{}
	errs := map[string]string{}
	for _, f := range chatbotFields {
		v, ok := raw[f.json]
		if !ok {
			continue
		}
		str, isStr := v.(string)
		if !isStr {
			errs[f.json] = "Must be a string."
			continue
		}
		if problem := validateChatbotField(f, &str); problem != "" {
			errs[f.json] = problem
			continue
		}
		set[f.json] = str
	}
	validateAwayFields(raw, set, errs)
	validateRetention(raw, set, errs)
	if len(errs) > 0 {
		s.writeError(w, r, fieldErrors(errs))
		return
	}
	c, err := s.db.UpdateChatbot(r.Context(), u.BusinessID, u.Business, set)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"detail": "success", "chatbot_details": c})
}

// validateChatbotField checks (and trims) one value; it returns the problem
// for a person, or "".
func validateChatbotField(f chatbotField, v *string) string {
	*v = strings.TrimSpace(*v)
	switch {
	case f.color:
		if !colorRE.MatchString(*v) {
			return "Use a color like #1a2b3c or #abc."
		}
	case f.json == "chatbotName":
		if n := utf8.RuneCountInString(*v); n < 1 || n > maxChatbotName {
			return "Must be 1 to 64 characters."
		}
		return controlProblem(*v, false)
	case f.json == "introductionText":
		if utf8.RuneCountInString(*v) > maxIntroduction {
			return "Must be at most 500 characters."
		}
		return controlProblem(*v, true)
	}
	return ""
}

// pictureTypes are the picture formats accepted, by sniffed content.
var pictureTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// handleUploadPicture handles "POST /chatbot/api/picture": multipart field
// "picture", a PNG, JPEG, GIF or WebP by content, at most MaxPicture bytes.
func (s *Server) handleUploadPicture(w http.ResponseWriter, r *http.Request, u *User) {
	// Room for the multipart framing around the file.
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxPicture+16<<10)
	parts, err := readMultipart(r, map[string]int64{"picture": s.cfg.MaxPicture})
	if errors.Is(err, errNotMultipart) {
		s.writeError(w, r, errorf(http.StatusBadRequest, "Send the picture as multipart/form-data in the field \"picture\"."))
		return
	}
	var tooLarge *partTooLargeError
	if errors.As(err, &tooLarge) {
		s.writeError(w, r, &apiError{Status: http.StatusRequestEntityTooLarge, Detail: "The picture is too large (at most " + byteSize(s.cfg.MaxPicture) + ").",
			Fields: map[string]string{"picture": "At most " + byteSize(s.cfg.MaxPicture) + "."}})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pic, ok := parts["picture"]
	if !ok {
		s.writeError(w, r, fieldErrors(map[string]string{"picture": "No picture was sent."}))
		return
	}
	data := pic.data
	mime := http.DetectContentType(data)
	if !pictureTypes[mime] {
		s.writeError(w, r, fieldErrors(map[string]string{"picture": "Must be a PNG, JPEG, GIF or WebP image."}))
		return
	}
	c, err := s.db.SetChatbotPicture(r.Context(), u.BusinessID, u.Business, data, mime)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"detail": "success", "chatbot_details": c})
}

// handleDeletePicture handles "DELETE /chatbot/api/picture".
func (s *Server) handleDeletePicture(w http.ResponseWriter, r *http.Request, u *User) {
	c, err := s.db.SetChatbotPicture(r.Context(), u.BusinessID, u.Business, nil, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"detail": "success", "chatbot_details": c})
}

// handleChatbotDetails handles "GET /chatbot/details/{username}": the
// public style a visitor's window needs, and whether anyone is answering.
func (s *Server) handleChatbotDetails(w http.ResponseWriter, r *http.Request) {
	// Public and without credentials: widget.js on a business's site reads
	// the button colour from here.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	username := strings.ToLower(r.PathValue("username"))
	u, err := s.db.BusinessByHandle(r.Context(), username)
	if errors.Is(err, errNotFound) {
		s.writeError(w, r, errorf(http.StatusNotFound, "There is no chatbot with that username."))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.db.ChatbotByUser(r.Context(), u.BusinessID, u.Business)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	online := s.hub.AdminOnline(u.ID)
	open, away, nextOpen := availability(c.Hours, online, s.db.now())
	writeJSON(w, http.StatusOK, map[string]any{"detail": "success", "chatbot": c, "online": online,
		"open": open, "away": away, "next_open": nextOpen})
}

// handleChatbotPicture handles "GET /chatbot/{username}/picture". The URL
// in bot_picture carries ?v=<etag>, so browsers may keep it for a day;
// the bare URL is revalidated by ETag.
func (s *Server) handleChatbotPicture(w http.ResponseWriter, r *http.Request) {
	username := strings.ToLower(r.PathValue("username"))
	data, mime, etag, err := s.db.ChatbotPicture(r.Context(), username)
	if errors.Is(err, errNotFound) {
		s.writeError(w, r, errorf(http.StatusNotFound, "No picture."))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", mime)
	h.Set("ETag", `"`+etag+`"`)
	if r.URL.Query().Get("v") == etag {
		h.Set("Cache-Control", "public, max-age=86400")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	// The picture is shown on other sites, inside the widget's frame.
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}
