package main

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"
)

// The name rules: what an account's username, a visitor's consumer id, a
// colour and a room's name may be. Handlers, sockets and pages check here.

// usernameRE is an account's username: lowercase, 1 to 32 characters.
var usernameRE = regexp.MustCompile(`^[a-z0-9_.-]{1,32}$`)

// reservedUsernames would shadow paths under /chatbot/ and /ws/.
var reservedUsernames = map[string]bool{
	"api": true, "details": true, "message": true, "consumeremail": true,
	"files": true, "static": true, "ws": true,
}

// consumerRE is SPEC's consumer id: 1 to 64 of A-Z a-z 0-9 _ . ~ -, and
// + (Part 2: the original product made ids from email local parts).
var consumerRE = regexp.MustCompile(`^[A-Za-z0-9_.~+-]{1,64}$`)

// consumerProblem says what is wrong with a consumer id for a room of the
// account username, or "" when nothing is. Every room is created through
// a socket, and both sockets check here.
func consumerProblem(consumer, username string) string {
	switch {
	case !consumerRE.MatchString(consumer):
		return "must be 1 to 64 of A-Z a-z 0-9 _ . ~ + -."
	case strings.EqualFold(consumer, username):
		// The admin writes as the username: a visitor with the same id,
		// in any case, would write messages that read as the business's.
		return "may not be the account's username."
	}
	return ""
}

// colorRE is a chatbot colour: #rgb or #rrggbb.
var colorRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// roomName is the "<username> <consumer>" name of a room.
func roomName(username, consumer string) string { return username + " " + consumer }

// controlProblem says what is wrong with a name or text that holds
// control characters (which render as nothing, or break lines and layouts
// where the text is shown), or "" when it holds none. multiline allows
// line breaks and tabs (the introduction text).
func controlProblem(s string, multiline bool) string {
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			if multiline {
				return "Must not contain control characters other than line breaks and tabs."
			}
			return "Must not contain control characters or line breaks."
		}
	}
	return ""
}

// validEmail is the rule for an email address a person gives (signup,
// profile, invites, a visitor's email): one plain address, as typed, at
// most 254 bytes.
func validEmail(email string) bool {
	a, err := mail.ParseAddress(email)
	return err == nil && a.Address == email && len(email) <= 254
}
