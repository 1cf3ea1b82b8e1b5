package main

import "net/http"

// PLACEHOLDERS for issue 3 (websockets, conversations, files). Each is
// replaced by the real handler; this file is then deleted.

func notYet(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, map[string]any{"detail": "Not implemented yet."})
}

func (s *Server) handleListRooms(w http.ResponseWriter, r *http.Request, u *User)    { notYet(w, r) }
func (s *Server) handleRoomMessages(w http.ResponseWriter, r *http.Request, u *User) { notYet(w, r) }
func (s *Server) handleExportRoom(w http.ResponseWriter, r *http.Request, u *User)   { notYet(w, r) }
func (s *Server) handleDeleteRoom(w http.ResponseWriter, r *http.Request, u *User)   { notYet(w, r) }
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request)                { notYet(w, r) }
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request)                  { notYet(w, r) }
func (s *Server) handleRoomSocket(w http.ResponseWriter, r *http.Request)            { notYet(w, r) }
func (s *Server) handleChatSocket(w http.ResponseWriter, r *http.Request)            { notYet(w, r) }
