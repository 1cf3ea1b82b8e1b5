package main

// What the original product's clients (its React admin front end, test
// chatbot page and visitor widget) send that livechat's own pages do not,
// answered where it costs no security (SPEC Part 2, "The original
// product's clients"). The socket side of it is two lines in ws.go
// (cmdNewRoom for an agent's room socket) and the consumer id rule.

import (
	"errors"
	"mime"
	"net/http"
	"strings"
)

// handleChatbotDetailsPost handles "POST /chatbot/details" (and, folded,
// "/chatbot/details/"): the original widget asks for a chatbot's style
// with {"username"} as JSON or a form, and gets what
// "GET /chatbot/details/{username}" answers.
func (s *Server) handleChatbotDetailsPost(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
	}
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	username := strings.ToLower(strings.TrimSpace(req.Username))
	if username == "" {
		s.writeError(w, r, fieldErrors(map[string]string{"username": "This field is required."}))
		return
	}
	r.SetPathValue("username", username)
	s.handleChatbotDetails(w, r)
}

// isMultipartForm reports whether the request body is multipart/form-data.
func isMultipartForm(r *http.Request) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "multipart/form-data"
}

// maxChatbotFormField bounds each text part of a multipart chatbot update
// (the longest valid value, the introduction, is 500 characters).
const maxChatbotFormField = 8 << 10

// handleUpdateChatbotMultipart handles "POST /chatbot/api" sent as
// multipart/form-data, as the original front end does: the style fields
// as text parts and, optionally, a "bot_picture" file part, checked like
// "POST /chatbot/api/picture". Every field is checked before anything is
// stored; then the fields and the picture are stored.
func (s *Server) handleUpdateChatbotMultipart(w http.ResponseWriter, r *http.Request, u *User) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxPicture+s.cfg.MaxBody+16<<10)
	limits := map[string]int64{"bot_picture": s.cfg.MaxPicture}
	for _, f := range chatbotFields {
		limits[f.json] = maxChatbotFormField
	}
	parts, err := readMultipart(r, limits)
	var tooLarge *partTooLargeError
	if errors.As(err, &tooLarge) {
		if tooLarge.field == "bot_picture" {
			s.writeError(w, r, &apiError{Status: http.StatusRequestEntityTooLarge, Detail: "The picture is too large (at most " + byteSize(s.cfg.MaxPicture) + ").",
				Fields: map[string]string{"bot_picture": "At most " + byteSize(s.cfg.MaxPicture) + "."}})
			return
		}
		s.writeError(w, r, fieldErrors(map[string]string{tooLarge.field: "Too long."}))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	set := map[string]string{}
	errs := map[string]string{}
	for _, f := range chatbotFields {
		p, ok := parts[f.json]
		if !ok || p.filename != "" {
			continue
		}
		v := string(p.data)
		if problem := validateChatbotField(f, &v); problem != "" {
			errs[f.json] = problem
			continue
		}
		set[f.json] = v
	}
	// A bot_picture that is not a file (the original sends the current
	// picture's URL back as text) is read-only, as in JSON; an empty file
	// part is no picture chosen.
	var picture []byte
	var pictureType string
	if p, ok := parts["bot_picture"]; ok && p.filename != "" && len(p.data) > 0 {
		pictureType = http.DetectContentType(p.data)
		if !pictureTypes[pictureType] {
			errs["bot_picture"] = "Must be a PNG, JPEG, GIF or WebP image."
		}
		picture = p.data
	}
	if len(errs) > 0 {
		s.writeError(w, r, fieldErrors(errs))
		return
	}
	c, err := s.db.UpdateChatbot(r.Context(), u.BusinessID, u.Business, set)
	if err == nil && picture != nil {
		c, err = s.db.SetChatbotPicture(r.Context(), u.BusinessID, u.Business, picture, pictureType)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"detail": "success", "chatbot_details": c})
}

// originalUserDetails is the "userDetails" the original front end reads
// from the login and signup answers. The account has one name (the
// business's); its first word is first_name and the rest last_name, so
// that the two joined give it back.
func originalUserDetails(u *User) map[string]any {
	first, last, _ := strings.Cut(strings.TrimSpace(u.Name), " ")
	return map[string]any{"user": map[string]string{
		"username":   u.Username,
		"email":      u.Email,
		"first_name": first,
		"last_name":  strings.TrimSpace(last),
	}}
}
