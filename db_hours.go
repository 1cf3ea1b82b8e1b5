package main

// Storage of business hours and the away reply (SPEC Part 2, "Hours and
// away"; the rules are in hours.go): the chatbot's hours, awayMessage and
// askEmail columns, and the per-business cache the message hot path reads.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// awayColumns are the chatbot's hours columns, scanned after the style.
const awayColumns = "hours, away_message, ask_email"

// awayFieldColumns maps the JSON names to the columns for UpdateChatbot.
// "hours" is stored as its normalised JSON, "" meaning NULL (always open).
var awayFieldColumns = [...][2]string{{"hours", "hours"}, {"awayMessage", "away_message"}, {"askEmail", "ask_email"}}

// awayAssigns adds the hours fields present in set to an UPDATE.
func awayAssigns(set map[string]string, assigns []string, args []any) ([]string, []any) {
	for _, f := range awayFieldColumns {
		v, ok := set[f[0]]
		if !ok {
			continue
		}
		assigns = append(assigns, f[1]+" = ?")
		if f[0] == "hours" && v == "" {
			args = append(args, nil)
		} else {
			args = append(args, v)
		}
	}
	return assigns, args
}

// scanHours reads the stored hours: NULL is nil (always open).
func scanHours(v sql.NullString) (*Hours, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	h, errs := parseHours(json.RawMessage(v.String))
	if len(errs) > 0 {
		return nil, fmt.Errorf("stored hours are invalid: %v", errs)
	}
	return h, nil
}

// awayConfig is what a visitor's message needs to know: the hours (nil:
// always open, so never an away reply) and the away message ("": none).
type awayConfig struct {
	hours   *Hours
	message string
}

// awayConfig returns userID's hours and away message, from the cache or,
// once per business (and after each change), from the database.
func (db *DB) awayConfig(ctx context.Context, userID int64) (*awayConfig, error) {
	if v, ok := db.away.Load(userID); ok {
		return v.(*awayConfig), nil
	}
	gen := db.awayGen.Load()
	var hours sql.NullString
	cfg := &awayConfig{}
	err := db.reader.QueryRowContext(ctx, "SELECT hours, away_message FROM chatbots WHERE user_id = ?", userID).Scan(&hours, &cfg.message)
	if err == sql.ErrNoRows {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if cfg.hours, err = scanHours(hours); err != nil {
		return nil, err
	}
	// An update that committed while we read may have been read or not:
	// keep the result only if none happened.
	if db.awayGen.Load() == gen {
		db.away.Store(userID, cfg)
	}
	return cfg, nil
}

// forgetAway drops userID's cached hours after a change.
func (db *DB) forgetAway(userID int64) {
	db.awayGen.Add(1)
	db.away.Delete(userID)
}
