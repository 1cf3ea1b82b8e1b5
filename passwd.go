package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// passwdCommand is "livechat passwd [--db FILE] USERNAME": the remedy for
// a forgotten password, from the server's shell. The new password is read
// from the terminal (twice, without echo) or, when stdin is not a
// terminal, as the first line of stdin. The account's session epoch moves
// on, so every session signed in with the old password ends at its next
// request.
func passwdCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, dbPath := commandFlags("passwd", "passwd [--db FILE] USERNAME\n\nSets a new password for USERNAME and signs that account out everywhere.\nThe password is read from the terminal, or from the first line of stdin:\n  printf '%s\\n' \"$NEWPASS\" | livechat passwd acme", getenv, stderr)
	cost := DefaultConfig().BcryptCost
	fs.IntVar(&cost, "bcrypt-cost", cost, "bcrypt cost for the new hash")
	username, err := parseCommand(fs, args, "username")
	if err != nil {
		return err
	}
	username = strings.ToLower(username)
	if _, err := os.Stat(*dbPath); err != nil {
		return fmt.Errorf("passwd: database %w", err)
	}
	password, err := readNewPassword(stdin, stderr)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	errs := map[string]string{}
	validatePassword("password", password, errs)
	if msg, bad := errs["password"]; bad {
		return fmt.Errorf("passwd: the password is not accepted: %s", msg)
	}

	db, err := OpenDB(ctx, *dbPath, "FULL")
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.UserByName(ctx, username)
	if errors.Is(err, errNotFound) {
		return fmt.Errorf("passwd: there is no account named %q in %s", username, *dbPath)
	}
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	hash, err := hashPassword(password, cost)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	if _, err := db.SetPassword(ctx, u.ID, hash); err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	fmt.Fprintf(stdout, "password of %s changed; its sessions are signed out\n", u.Username)
	return nil
}

// readNewPassword reads the password: from a terminal twice without echo,
// otherwise the first line of r.
func readNewPassword(r io.Reader, prompt io.Writer) (string, error) {
	if f, ok := r.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "New password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ; nothing changed")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on stdin; nothing changed")
	}
	return line, nil
}
