package main

import "net/http"

// PLACEHOLDERS for issue 4 (pages). Each is replaced by the real handler;
// this file is then deleted.

func (s *Server) handleLanding(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("livechat\n"))
}
func (s *Server) handleSigninPage(w http.ResponseWriter, r *http.Request)   { s.notFoundPage(w, r) }
func (s *Server) handleSignupPage(w http.ResponseWriter, r *http.Request)   { s.notFoundPage(w, r) }
func (s *Server) handleInboxPage(w http.ResponseWriter, r *http.Request)    { s.notFoundPage(w, r) }
func (s *Server) handleSettingsPage(w http.ResponseWriter, r *http.Request) { s.notFoundPage(w, r) }
func (s *Server) handleVisitorPage(w http.ResponseWriter, r *http.Request)  { s.notFoundPage(w, r) }
func (s *Server) handleWidgetJS(w http.ResponseWriter, r *http.Request)     { s.notFoundPage(w, r) }
func (s *Server) staticHandler() http.Handler                               { return http.NotFoundHandler() }
func (s *Server) notFoundPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte("404 page not found\n"))
}
