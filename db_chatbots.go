package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
)

// Chatbot is an account's chat window style. The JSON names are the
// original product's, odd mix of camelCase and snake_case included, so its
// clients keep working: do not "fix" them.
type Chatbot struct {
	ChatbotName                 string `json:"chatbotName"`
	IntroductionText            string `json:"introductionText"`
	HeaderBackgroundColor       string `json:"headerBackgroundColor"`
	HeaderTextColor             string `json:"headerTextColor"`
	IntroductionBackgroundColor string `json:"introductionBackgroundColor"`
	IntroductionTextColor       string `json:"introductionTextColor"`
	ReceiverBackground          string `json:"receiverBackground"`
	SenderBackground            string `json:"senderBackground"`
	ReceiverTextColor           string `json:"receiverTextColor"`
	SenderTextColor             string `json:"senderTextColor"`
	BackgroundColor             string `json:"background_color"`
	InputBarBackground          string `json:"inputBarBackground"`
	InputTextColor              string `json:"inputTextColor"`
	// BotPicture is read-only: the picture's URL, or "".
	BotPicture string `json:"bot_picture"`
	// Hours and away (db_hours.go): nil Hours is always open.
	Hours       *Hours `json:"hours"`
	AwayMessage string `json:"awayMessage"`
	AskEmail    string `json:"askEmail"`
	// RetentionDays erases conversations quiet for longer (retention.go);
	// 0 keeps them forever.
	RetentionDays int `json:"retentionDays"`
}

// chatbotField ties one style field to its column, so the list of fields is
// written once for scanning, updating and validating.
type chatbotField struct {
	json   string
	column string
	color  bool
	ptr    func(*Chatbot) *string
}

var chatbotFields = []chatbotField{
	{"chatbotName", "chatbot_name", false, func(c *Chatbot) *string { return &c.ChatbotName }},
	{"introductionText", "introduction_text", false, func(c *Chatbot) *string { return &c.IntroductionText }},
	{"headerBackgroundColor", "header_background_color", true, func(c *Chatbot) *string { return &c.HeaderBackgroundColor }},
	{"headerTextColor", "header_text_color", true, func(c *Chatbot) *string { return &c.HeaderTextColor }},
	{"introductionBackgroundColor", "introduction_background_color", true, func(c *Chatbot) *string { return &c.IntroductionBackgroundColor }},
	{"introductionTextColor", "introduction_text_color", true, func(c *Chatbot) *string { return &c.IntroductionTextColor }},
	{"receiverBackground", "receiver_background", true, func(c *Chatbot) *string { return &c.ReceiverBackground }},
	{"senderBackground", "sender_background", true, func(c *Chatbot) *string { return &c.SenderBackground }},
	{"receiverTextColor", "receiver_text_color", true, func(c *Chatbot) *string { return &c.ReceiverTextColor }},
	{"senderTextColor", "sender_text_color", true, func(c *Chatbot) *string { return &c.SenderTextColor }},
	{"background_color", "background_color", true, func(c *Chatbot) *string { return &c.BackgroundColor }},
	{"inputBarBackground", "input_bar_background", true, func(c *Chatbot) *string { return &c.InputBarBackground }},
	{"inputTextColor", "input_text_color", true, func(c *Chatbot) *string { return &c.InputTextColor }},
}

// defaultChatbot is the style every account starts with: a calm blue header,
// the visitor's own messages in the header colour, the business's in grey.
// ("sender" is the visitor, "receiver" the business, as in the original.)
func defaultChatbot(username string) Chatbot {
	return Chatbot{
		ChatbotName:                 username,
		IntroductionText:            "Hi! How can we help you today?",
		HeaderBackgroundColor:       "#2563eb",
		HeaderTextColor:             "#ffffff",
		IntroductionBackgroundColor: "#eff6ff",
		IntroductionTextColor:       "#1e3a8a",
		ReceiverBackground:          "#f1f5f9",
		SenderBackground:            "#2563eb",
		ReceiverTextColor:           "#0f172a",
		SenderTextColor:             "#ffffff",
		BackgroundColor:             "#ffffff",
		InputBarBackground:          "#f8fafc",
		InputTextColor:              "#0f172a",
		AwayMessage:                 defaultAwayMessage,
		AskEmail:                    defaultAskEmail,
	}
}

func chatbotColumns() string {
	cols := make([]string, len(chatbotFields))
	for i, f := range chatbotFields {
		cols[i] = f.column
	}
	return strings.Join(cols, ", ")
}

func insertDefaultChatbot(ctx context.Context, tx *sql.Tx, userID int64, username string, now int64) error {
	c := defaultChatbot(username)
	args := []any{userID, now}
	for _, f := range chatbotFields {
		args = append(args, *f.ptr(&c))
	}
	_, err := tx.ExecContext(ctx,
		"INSERT INTO chatbots (user_id, updated, "+chatbotColumns()+") VALUES (?, ?"+strings.Repeat(", ?", len(chatbotFields))+")",
		args...)
	return err
}

// ChatbotByUser loads an account's chatbot; username builds the picture URL.
func (db *DB) ChatbotByUser(ctx context.Context, userID int64, username string) (*Chatbot, error) {
	return db.chatbot(ctx, db.reader, userID, username)
}

func (db *DB) chatbot(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, userID int64, username string) (*Chatbot, error) {
	var c Chatbot
	var etag string
	dest := make([]any, 0, len(chatbotFields)+1)
	for _, f := range chatbotFields {
		dest = append(dest, f.ptr(&c))
	}
	var hours sql.NullString
	dest = append(dest, &etag, &hours, &c.AwayMessage, &c.AskEmail, &c.RetentionDays)
	err := q.QueryRowContext(ctx, "SELECT "+chatbotColumns()+", picture_etag, "+awayColumns+", "+retentionColumn+" FROM chatbots WHERE user_id = ?", userID).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if c.Hours, err = scanHours(hours); err != nil {
		return nil, err
	}
	if etag != "" {
		c.BotPicture = "/chatbot/" + url.PathEscape(username) + "/picture?v=" + etag
	}
	return &c, nil
}

// UpdateChatbot writes the given fields (json name → value, already
// validated) and returns the updated chatbot.
func (db *DB) UpdateChatbot(ctx context.Context, userID int64, username string, set map[string]string) (*Chatbot, error) {
	var c *Chatbot
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var assigns []string
		args := []any{db.nowMillis()}
		for _, f := range chatbotFields {
			if v, ok := set[f.json]; ok {
				assigns = append(assigns, f.column+" = ?")
				args = append(args, v)
			}
		}
		assigns, args = awayAssigns(set, assigns, args)
		assigns, args = retentionAssigns(set, assigns, args)
		args = append(args, userID)
		q := "UPDATE chatbots SET updated = ?"
		if len(assigns) > 0 {
			q += ", " + strings.Join(assigns, ", ")
		}
		if _, err := tx.ExecContext(ctx, q+" WHERE user_id = ?", args...); err != nil {
			return err
		}
		var err error
		c, err = db.chatbot(ctx, tx, userID, username)
		return err
	})
	db.forgetAway(userID)
	return c, err
}

// SetChatbotPicture stores (or with data == nil, removes) the picture.
func (db *DB) SetChatbotPicture(ctx context.Context, userID int64, username string, data []byte, mime string) (*Chatbot, error) {
	var etag string
	if data != nil {
		sum := sha256.Sum256(data)
		etag = hex.EncodeToString(sum[:8])
	}
	var c *Chatbot
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"UPDATE chatbots SET picture = ?, picture_type = ?, picture_etag = ?, updated = ? WHERE user_id = ?",
			data, mime, etag, db.nowMillis(), userID); err != nil {
			return err
		}
		var err error
		c, err = db.chatbot(ctx, tx, userID, username)
		return err
	})
	return c, err
}

// ChatbotPicture returns the picture of the named account, or errNotFound.
func (db *DB) ChatbotPicture(ctx context.Context, username string) (data []byte, mime, etag string, err error) {
	err = db.reader.QueryRowContext(ctx,
		`SELECT c.picture, c.picture_type, c.picture_etag FROM chatbots c JOIN users u ON u.id = c.user_id
		 WHERE u.username = ? AND c.picture IS NOT NULL`, username).Scan(&data, &mime, &etag)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", "", errNotFound
	}
	return data, mime, etag, err
}
