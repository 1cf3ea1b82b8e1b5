package main

// roomClosedFrame tells a visitor's window that the business closed
// (deleted) its conversation, so it can say so at once instead of learning
// it from the next message it sends (which gets the same error).
var roomClosedFrame = encodeFrame(errorFrame{Command: "error", Error: codeNotFound, Detail: "This conversation was closed."})

// tellRoomClosed sends roomClosedFrame to the visitor chat sockets still
// open on a deleted room.
func (s *Server) tellRoomClosed(userID, roomID int64) {
	s.hub.publish(userID, roomID, toVisitors, roomClosedFrame, nil)
}
