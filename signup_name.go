package main

import "strings"

// signupChatbotName is the name a new account's chat window starts with:
// the business name typed at signup, cut to the chatbot name's limit (on a
// character boundary), or the username when none was given.
func signupChatbotName(username, name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return username
	}
	if r := []rune(name); len(r) > maxChatbotName {
		name = strings.TrimSpace(string(r[:maxChatbotName]))
	}
	return name
}
