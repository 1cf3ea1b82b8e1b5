package main

import (
	"encoding/json"
	"time"
)

// The API's wire types: what clients see of the stored rows, and how
// they are encoded. Each shape has one encoder: Message, RoomSummary and
// UserJSON go through encoding/json; a Room is only ever written by
// appendRoomJSON (jsonappend.go), which is checked byte for byte against
// encoding/json of the Room type below.

// Message is SPEC's Message. Room is "<username> <consumer>"; Created is
// already formatted (RFC 3339 UTC with milliseconds).
type Message struct {
	ID       int64  `json:"id"`
	Author   string `json:"author"`
	Content  string `json:"content"`
	Type     string `json:"type"`
	File     string `json:"file"`
	Room     string `json:"room"`
	Created  string `json:"created"`
	ClientID string `json:"client_id,omitempty"`
	// Agent and AgentID name the agent who wrote a business's message
	// (author stays the handle); absent on visitors' messages.
	Agent   string `json:"agent,omitempty"`
	AgentID int64  `json:"agent_id,omitempty"`
	// Auto marks a message the server wrote itself: the away message.
	Auto bool `json:"auto,omitempty"`
	// Private marks an agent's note: only agents ever receive it.
	Private bool `json:"private,omitempty"`
}

// Room is SPEC's Room: a conversation with its last messages, as sent over
// the admin's room socket.
type Room struct {
	Consumer      string `json:"consumer"`
	ConsumerEmail string `json:"consumer_email"`
	// Messages is a JSON array of Message, oldest first.
	Messages     json.RawMessage `json:"messages"`
	Unread       int             `json:"unread"`
	Online       bool            `json:"online"`
	Created      string          `json:"created"`
	LastActivity string          `json:"last_activity"`
	Status       string          `json:"status"`
	Assignee     *Assignee       `json:"assignee"`
	Name         string          `json:"name"`    // the visitor's name, or ""
	Visitor      *Visitor        `json:"visitor"` // null when nothing is known
}

// Assignee is the agent a room is assigned to.
type Assignee struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// RoomSummary is SPEC's RoomSummary, the REST inbox's list entry.
type RoomSummary struct {
	Consumer      string    `json:"consumer"`
	ConsumerEmail string    `json:"consumer_email"`
	LastMessage   *Message  `json:"last_message"`
	Unread        int       `json:"unread"`
	Online        bool      `json:"online"`
	Created       string    `json:"created"`
	LastActivity  string    `json:"last_activity"`
	Status        string    `json:"status"`
	Assignee      *Assignee `json:"assignee"`
	Name          string    `json:"name"`
	Visitor       *Visitor  `json:"visitor"`
}

// json is a room as a Room value: the reference appendRoomJSON, the one
// encoder of a Room on the wire, is checked against (jsonappend_test.go).
// msgs is a JSON array (nil for none); online comes from the hub.
func (r *roomRow) json(msgs json.RawMessage, online bool) Room {
	if msgs == nil {
		msgs = json.RawMessage("[]")
	}
	return Room{Consumer: r.Consumer, ConsumerEmail: r.Email, Messages: msgs, Unread: r.Unread, Online: online,
		Created: formatTime(r.Created), LastActivity: formatTime(r.LastActivity), Status: r.status(), Assignee: r.assignee(), Name: r.visitorName(), Visitor: r.Visitor}
}

// UserJSON is the API's User object: an agent. Name is the display name
// (the username when none was given); Business is the handle.
type UserJSON struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Business string `json:"business"`
	Created  string `json:"created"`
}

// JSON renders u as the API's User.
func (u *User) JSON() UserJSON {
	return UserJSON{ID: u.ID, Username: u.Username, Email: u.Email, Name: u.DisplayName(), Role: u.Role,
		Business: u.Business, Created: formatTime(u.Created)}
}

// DisplayName is the name shown for the agent: the name given, else the
// username.
func (u *User) DisplayName() string {
	if u.Name != "" {
		return u.Name
	}
	return u.Username
}

// formatTime renders stored Unix milliseconds as RFC 3339 UTC with
// milliseconds, the one time format of the API.
func formatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// visitorName is the visitor's name, or "".
func (r *roomRow) visitorName() string {
	if r.Visitor == nil {
		return ""
	}
	return r.Visitor.Name
}

// summary renders a room as the REST inbox's RoomSummary; last is its last
// message (nil: none), online comes from the hub.
func (r *roomRow) summary(last *Message, online bool) RoomSummary {
	return RoomSummary{Consumer: r.Consumer, ConsumerEmail: r.Email, LastMessage: last,
		Unread: r.Unread, Online: online, Created: formatTime(r.Created), LastActivity: formatTime(r.LastActivity),
		Status: r.status(), Assignee: r.assignee(), Name: r.visitorName(), Visitor: r.Visitor}
}
