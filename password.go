package main

import (
	"crypto/sha256"
	"encoding/base64"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Password length limits, in characters.
const (
	minPassword = 8
	maxPassword = 128
)

// passwordKey pre-hashes a password so that bcrypt, which reads only 72
// bytes, sees all of a 128-character (up to 512-byte) password.
func passwordKey(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

func hashPassword(password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword(passwordKey(password), cost)
	return string(h), err
}

func mustHashPassword(password string, cost int) []byte {
	h, err := hashPassword(password, cost)
	if err != nil {
		panic(err)
	}
	return []byte(h)
}

func checkPassword(hash []byte, password string) bool {
	return bcrypt.CompareHashAndPassword(hash, passwordKey(password)) == nil
}

func validatePassword(field, password string, errs map[string]string) {
	switch n := utf8.RuneCountInString(password); {
	case n < minPassword:
		errs[field] = "Must be at least 8 characters."
	case n > maxPassword:
		errs[field] = "Must be at most 128 characters."
	}
}
