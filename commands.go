package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// subcommand is one "livechat NAME ..." operator command. stdin is where
// passwd reads a password.
type subcommand func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error

// subcommands are the operator commands run() dispatches on its first
// argument; anything else starts the server.
var subcommands = map[string]subcommand{
	"backup": backupCommand,
	"passwd": passwdCommand,
}

// runSubcommand runs args[0] when it names a subcommand.
func runSubcommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (bool, error) {
	if len(args) == 0 {
		return false, nil
	}
	cmd, ok := subcommands[args[0]]
	if !ok {
		return false, nil
	}
	err := cmd(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		err = nil
	}
	return true, err
}

// commandFlags is a subcommand's flag set with the --db flag every one has.
func commandFlags(name, usage string, getenv func(string) string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("livechat "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := DefaultConfig().DBPath
	if v := getenv("LIVECHAT_DB"); v != "" {
		db = v
	}
	fs.StringVar(&db, "db", db, "SQLite database `file` (env LIVECHAT_DB)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: livechat %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs, &db
}

// parseCommand parses a subcommand's flags and wants exactly one argument.
func parseCommand(fs *flag.FlagSet, args []string, what string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return "", fmt.Errorf("%s: want one %s", fs.Name(), what)
	}
	return fs.Arg(0), nil
}

// backupCommand is "livechat backup [--db FILE] DEST".
func backupCommand(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, db := commandFlags("backup", "backup [--db FILE] DEST\n\nWrites a consistent copy of the database to the new file DEST, also while\nthe server is running. It never overwrites a file. To restore, stop the\nserver and copy DEST over the database file.", getenv, stderr)
	dest, err := parseCommand(fs, args, "destination file")
	if err != nil {
		return err
	}
	if err := backupFile(ctx, *db, dest); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup of %s written to %s\n", *db, dest)
	return nil
}
