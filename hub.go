package main

// Hub knows who is connected: sockets per room and admin sockets per
// account. It does no SQL and no socket I/O.
//
// PLACEHOLDER: the real hub arrives with the websocket work (issue 3).
type Hub struct{}

// NewHub makes an empty hub.
func NewHub() *Hub { return &Hub{} }

// AdminOnline reports whether any admin socket of the account is open.
func (h *Hub) AdminOnline(userID int64) bool { return false }

// CloseAll closes every socket with 1001 (going away).
func (h *Hub) CloseAll() {}
