package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
)

// Server carries every dependency of the handlers; there is no package
// state, so tests can run several servers at once.
type Server struct {
	cfg      Config
	geoip    *geoIP // nil without --geoip (visitor.go)
	db       *DB
	log      *slog.Logger
	sessions *scs.SessionManager
	// sessionStore is where sessions keeps its sessions.
	sessionStore *sessionStore
	hub          *Hub
	committer    *groupCommitter
	throttle     *loginThrottle
	outbox       *Outbox // nil: mail off (notify.go)
	push         *pusher
	// notifyStop ends the notifier's scan loop (notifier.go), which
	// closes notifyDone.
	notifyStop, notifyDone chan struct{}
	notifyMu               sync.Mutex
	// pushN queues visitor messages for push (push_notify.go).
	pushN *pushNotifier
	// testMails limits "send a test email" per account.
	testMails *onceEvery
	// transcripts limits "email me this conversation" per room.
	transcripts *onceEvery
	// limits counts what each client address does (addrLimits).
	limits *addrLimits
	// uploadCommits holds a slot per complete upload read into memory on
	// its way to the database (maxUploadCommits).
	uploadCommits chan struct{}
	// dummyHash is compared against when a login names an unknown user, so
	// that costs the same time as a wrong password. It is computed in the
	// background: at the default cost bcrypt takes ~75 ms, which was most
	// of the server's start-up time.
	dummyHash func() []byte
	handler   http.Handler
	// metrics is nil without --metrics-addr (metrics.go).
	metrics *metrics
	// deviceKey signs device cookies (device.go).
	deviceKey []byte
	// health is /healthz's last answer ("ok" or the reason), so that a
	// change is logged once.
	health atomic.Pointer[string]
	// stopPurge ends purgeLoop; purgeDone is closed when it has.
	stopPurge, purgeDone chan struct{}
	// retentionDone is closed when retentionLoop, which stopPurge also
	// ends, has returned.
	retentionDone chan struct{}
	// indexDone is closed when indexLoop, which stopPurge also ends, has
	// returned.
	indexDone chan struct{}
}

// NewServer wires the server. Close stops its background work.
func NewServer(cfg Config, db *DB, logger *slog.Logger) *Server {
	s := &Server{
		testMails:   &onceEvery{every: testMailEvery},
		transcripts: &onceEvery{every: transcriptEvery},
		cfg:         cfg,
		db:          db,
		log:         logger,
		throttle:    newLoginThrottle(cfg.LoginFailures, cfg.LoginWindow, db.now),
		limits:      newAddrLimits(db.now),

		uploadCommits: make(chan struct{}, maxUploadCommits),
	}
	removeSpoolFiles(cfg.DBPath)
	s.dummyHash = sync.OnceValue(func() []byte {
		return mustHashPassword("not the password of anyone", cfg.BcryptCost)
	})
	go s.dummyHash()
	s.sessionStore = newSessionStore(db)
	s.sessions = scs.New()
	s.sessions.Store = s.sessionStore
	s.sessions.Lifetime = cfg.SessionLifetime
	s.sessions.Cookie.Name = "livechat_session"
	s.sessions.Cookie.HttpOnly = true
	s.sessions.Cookie.SameSite = http.SameSiteLaxMode
	s.sessions.Cookie.Secure = cfg.SecureCookies || cfg.TLSCert != ""
	s.sessions.Cookie.Persist = true
	s.sessions.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		s.writeError(w, r, err)
		if once, ok := w.(*answerOnce); ok {
			once.answered = true
		}
	}
	if cfg.MetricsAddr != "" {
		s.metrics = newMetrics()
	}
	key, err := db.loadDeviceKey(context.Background())
	if err != nil {
		// Sign-in still works; known browsers are known until a restart.
		logger.Error("device cookie key", "err", err)
		key = make([]byte, 32)
		rand.Read(key)
	}
	s.deviceKey = key
	s.geoip = openGeoIP(cfg.GeoIP, logger)
	s.hub = NewHub()
	s.committer = newGroupCommitter(db, logger, 0, s.publishOp)
	s.committer.onCommit = s.metrics.observeCommit
	s.initNotify()
	s.startNotifier()
	s.startPushNotifier()
	s.handler = s.routes()
	s.stopPurge, s.purgeDone = make(chan struct{}), make(chan struct{})
	go s.purgeLoop()
	s.retentionDone = make(chan struct{})
	go s.retentionLoop()
	s.indexDone = make(chan struct{})
	go s.indexLoop()
	return s
}

// purgeBatch is how many empty rooms one purge transaction deletes.
const purgeBatch = 500

// purgeLoop deletes rooms that never got a message once they are
// PurgeEmptyRooms old, every purgeEvery: such rooms are what a client
// opening /ws/chat/<user>/<new id> in a loop leaves behind, and they carry
// nothing a business needs. Rooms whose visitor is connected stay. Open
// inboxes drop the rooms on their next fetch_rooms.
func (s *Server) purgeLoop() {
	defer close(s.purgeDone)
	if s.cfg.PurgeEmptyRooms <= 0 || s.cfg.purgeEvery <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.purgeEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopPurge:
			return
		case <-t.C:
			if n, err := s.purgeEmptyRooms(context.Background()); err != nil {
				s.log.Warn("purge empty rooms", "err", err)
			} else if n > 0 {
				s.log.Info("purged empty rooms", "rooms", n)
			}
		}
	}
}

// purgeEmptyRooms runs one purge and returns how many rooms went.
func (s *Server) purgeEmptyRooms(ctx context.Context) (int, error) {
	cutoff := s.db.now().Add(-s.cfg.PurgeEmptyRooms).UnixMilli()
	total := 0
	var after int64
	for {
		ids, err := s.db.EmptyRoomsBefore(ctx, cutoff, after, purgeBatch)
		if err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, nil
		}
		after = ids[len(ids)-1]
		online := s.hub.VisitorsOnline(ids)
		gone := ids[:0:0]
		for i, id := range ids {
			if !online[i] {
				gone = append(gone, id)
			}
		}
		n, err := s.db.DeleteEmptyRooms(ctx, gone)
		total += n
		if err != nil {
			return total, err
		}
	}
}

// Handler is the server's whole HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops background work. The caller closes the database afterwards.
func (s *Server) Close() {
	s.stopNotifier()
	s.outbox.Stop()
	select {
	case <-s.stopPurge:
	default:
		close(s.stopPurge)
	}
	<-s.purgeDone
	<-s.retentionDone
	<-s.indexDone
	s.CloseSockets()
	s.committer.Close()
	s.stopPushNotifier()
	s.sessionStore.stop()
	s.geoip.Close()
}

// CloseSockets closes every websocket with 1001 (going away); run from
// http.Server.RegisterOnShutdown, since Shutdown ignores hijacked
// connections.
func (s *Server) CloseSockets() { s.hub.CloseAll() }

// sessionStore is scs's own SQLite store over our two pools: sessions are
// read on the concurrent reader pool and written through the one writer.
// A commit whose context carries a transaction (withSessionTx) is written
// in that transaction instead, and the commit scs makes at the end of the
// same request is then skipped (see commitSessionIn).
type sessionStore struct {
	read  *sqlite3store.SQLite3Store
	write *sqlite3store.SQLite3Store
	// inTx holds the tokens committed inside a transaction during a request
	// that has not answered yet.
	inTx sync.Map
}

func newSessionStore(db *DB) *sessionStore {
	return &sessionStore{
		read:  sqlite3store.NewWithCleanupInterval(db.reader, 0),
		write: sqlite3store.NewWithCleanupInterval(db.writer, 10*time.Minute),
	}
}

func (st *sessionStore) Find(token string) ([]byte, bool, error) { return st.read.Find(token) }
func (st *sessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return st.write.Commit(token, b, expiry)
}
func (st *sessionStore) Delete(token string) error { return st.write.Delete(token) }
func (st *sessionStore) stop()                     { st.write.StopCleanup() }

// sessionTxKey is the context key of a transaction a session commit is to
// be written in.
type sessionTxKey struct{}

// CommitCtx is scs's CtxStore commit: in the transaction of the context,
// if it carries one, else as Commit, or not at all when the token was
// committed in a transaction already during this request.
func (st *sessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if tx, ok := ctx.Value(sessionTxKey{}).(*sql.Tx); ok {
		// The statement of sqlite3store.Commit.
		_, err := tx.ExecContext(ctx, "REPLACE INTO sessions (token, data, expiry) VALUES ($1, $2, julianday($3))",
			token, b, expiry.UTC().Format("2006-01-02T15:04:05.999"))
		return err
	}
	if _, done := st.inTx.LoadAndDelete(token); done {
		return nil
	}
	return st.write.Commit(token, b, expiry)
}

// commitSessionIn writes the request's session in tx (which the caller
// then commits or rolls back); the caller calls the returned function once
// tx has committed, so that the commit at the end of the request is
// skipped, and (deferred) in any case, to forget the token.
func (s *Server) commitSessionIn(ctx context.Context, tx *sql.Tx) (committed func(), forget func(), err error) {
	if _, _, err := s.sessions.Commit(context.WithValue(ctx, sessionTxKey{}, tx)); err != nil {
		return nil, nil, err
	}
	token := s.sessions.Token(ctx)
	return func() { s.sessionStore.inTx.Store(token, struct{}{}) },
		func() { s.sessionStore.inTx.Delete(token) }, nil
}

// Session keys.
const (
	sessUserID = "uid"
	sessEpoch  = "epoch"
)

// currentUser returns the signed-in account, or nil. A session whose
// epoch is older than the account's (the password changed since) is
// destroyed and counts as signed out.
func (s *Server) currentUser(r *http.Request) (*User, error) {
	ctx := r.Context()
	id := s.sessions.GetInt64(ctx, sessUserID)
	if id == 0 {
		return nil, nil
	}
	u, err := s.db.UserByID(ctx, id)
	if err == errNotFound {
		return nil, s.sessions.Destroy(ctx)
	}
	if err != nil {
		return nil, err
	}
	if s.sessions.GetInt64(ctx, sessEpoch) != u.SessionEpoch {
		return nil, s.sessions.Destroy(ctx)
	}
	return u, nil
}

// signIn renews the session token (against session fixation) and stores
// the account in it.
func (s *Server) signIn(ctx context.Context, u *User) error {
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.sessions.Put(ctx, sessUserID, u.ID)
	s.sessions.Put(ctx, sessEpoch, u.SessionEpoch)
	return nil
}

// userHandler is a handler for signed-in admins only.
type userHandler func(w http.ResponseWriter, r *http.Request, u *User)

// requireUser answers 401 unless an admin is signed in.
func (s *Server) requireUser(h userHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.currentUser(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if u == nil {
			s.writeError(w, r, errUnauthorized)
			return
		}
		h(w, r, u)
	}
}

// requireOwner answers 401 unless an agent is signed in, and 403 unless
// that agent is the business's owner.
func (s *Server) requireOwner(h userHandler) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request, u *User) {
		if !u.IsOwner() {
			s.writeError(w, r, errOwnerOnly)
			return
		}
		h(w, r, u)
	})
}

// routes is the one route table, and the middleware around it, outermost
// first: panic recovery, trailing-slash folding, default security headers,
// cross-origin refusal, sessions, then the mux with JSON 404/405 for API
// paths.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	mux.HandleFunc("GET /healthz", s.handleHealthz)

	// Accounts.
	mux.HandleFunc("POST /accounts/api/signup", s.handleSignup)
	mux.HandleFunc("POST /accounts/api/login", s.handleLogin)
	mux.HandleFunc("POST /accounts/api/logout", s.requireUser(s.handleLogout))
	mux.HandleFunc("GET /accounts/api/me", s.requireUser(s.handleMe))
	mux.HandleFunc("POST /accounts/api/changepassword", s.requireUser(s.handleChangePassword))
	mux.HandleFunc("GET /accounts/api/mail", s.requireUser(s.handleMailStatus))
	mux.HandleFunc("POST /accounts/api/mail/test", s.requireUser(s.handleTestMail))
	mux.HandleFunc("GET /accounts/api/push", s.requireUser(s.handlePushKey))
	mux.HandleFunc("POST /accounts/api/push/subscriptions", s.requireUser(s.handlePushSubscribe))
	mux.HandleFunc("DELETE /accounts/api/push/subscriptions", s.requireUser(s.handlePushUnsubscribe))
	s.teamRoutes(mux)
	s.cannedRoutes(mux)

	// Chatbot style.
	mux.HandleFunc("GET /chatbot/api", s.requireUser(s.handleGetChatbot))
	mux.HandleFunc("POST /chatbot/api", s.requireOwner(s.handleUpdateChatbot))
	mux.HandleFunc("POST /chatbot/api/picture", s.requireOwner(s.handleUploadPicture))
	mux.HandleFunc("DELETE /chatbot/api/picture", s.requireOwner(s.handleDeletePicture))
	mux.HandleFunc("GET /chatbot/details/{username}", s.handleChatbotDetails)
	mux.HandleFunc("POST /chatbot/details", s.handleChatbotDetailsPost) // the original widget's
	// "/chatbot/{username}/picture" would conflict with
	// "/chatbot/details/{username}" in ServeMux, so the picture is
	// dispatched by handleChatbotPath together with the visitor page.
	mux.HandleFunc("GET /chatbot/{username}/{consumer}", s.handleChatbotPath)
	mux.HandleFunc("POST /chatbot/{username}/{consumer}/transcript", s.handleEmailTranscript)

	// Conversations.
	mux.HandleFunc("GET /chatbot/api/rooms", s.requireUser(s.handleListRooms))
	mux.HandleFunc("GET /chatbot/api/rooms/{consumer}/messages", s.requireUser(s.handleRoomMessages))
	mux.HandleFunc("GET /chatbot/api/rooms/{consumer}/export", s.requireUser(s.handleExportRoom))
	mux.HandleFunc("DELETE /chatbot/api/rooms/{consumer}", s.requireOwner(s.handleDeleteRoom))
	mux.HandleFunc("PATCH /chatbot/api/rooms/{consumer}", s.requireUser(s.handleUpdateRoom))
	mux.HandleFunc("GET /chatbot/api/visitors", s.requireUser(s.handleVisitors))
	mux.HandleFunc("GET /chatbot/api/search", s.requireUser(s.handleSearch))

	// Files.
	mux.HandleFunc("POST "+uploadPath, s.handleUpload)
	mux.HandleFunc("GET /files/{token}/{name}", s.handleFile)

	// Websockets.
	mux.HandleFunc("GET /ws/room/{username}", s.handleRoomSocket)
	mux.HandleFunc("GET /ws/chat/{username}/{consumer}", s.handleChatSocket)

	// Pages.
	mux.HandleFunc("GET /{$}", s.handleLanding)
	mux.HandleFunc("GET /signin", s.handleSigninPage)
	mux.HandleFunc("GET /signup", s.handleSignupPage)
	mux.HandleFunc("GET /messages", s.handleInboxPage)
	mux.HandleFunc("GET /settings", s.handleSettingsPage)
	mux.HandleFunc("GET /widget.js", s.handleWidgetJS)
	mux.HandleFunc("GET /sw.js", s.handleServiceWorker)
	mux.HandleFunc("GET /unsubscribe/{token}", s.handleUnsubscribePage)
	mux.HandleFunc("POST /unsubscribe/{token}", s.handleUnsubscribe)
	mux.Handle("GET /static/", s.staticHandler())

	var h http.Handler = s.metrics.routeLabel(mux, s.fallback(mux))
	h = s.sessions.LoadAndSave(h)
	h = answerOnceHandler(h)
	h = s.bodyDeadlines(h)
	cop := http.NewCrossOriginProtection()
	// RFC 8058: the mail provider POSTs the one-click unsubscribe from
	// wherever it is; the token is the only credential.
	cop.AddInsecureBypassPattern("POST /unsubscribe/{token}")
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusForbidden, "Cross-origin request refused."))
	}))
	h = cop.Handler(h)
	h = defaultHeaders(h)
	h = foldTrailingSlash(h)
	h = s.recoverPanics(h)
	h = s.metrics.instrument(h)
	return h
}

// handleChatbotPath handles "GET /chatbot/{username}/{consumer}": the
// chatbot's picture when the second segment is "picture", else the
// visitor's chat window.
func (s *Server) handleChatbotPath(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("consumer") == "picture" {
		s.handleChatbotPicture(w, r)
		return
	}
	s.handleVisitorPage(w, r)
}

// isAPIPath reports whether a path belongs to the JSON API (errors as
// JSON) rather than to the pages (errors as HTML).
func isAPIPath(p string) bool {
	if p == "/chatbot/details" {
		return true
	}
	for _, prefix := range []string{"/accounts/api", "/chatbot/api", "/chatbot/details/", "/chatbot/message/", "/files/", "/ws/", "/healthz"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return strings.HasPrefix(p, "/chatbot/") && strings.HasSuffix(p, "/picture")
}

// fallback answers requests the mux has no route for: JSON 404/405 on API
// paths, the HTML not-found page elsewhere.
func (s *Server) fallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404 and 405 (with its Allow header),
		// then answer in our own format.
		rec := &statusRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.status == http.StatusMethodNotAllowed {
			s.writeError(w, r, errorf(http.StatusMethodNotAllowed, "Method %s is not allowed here.", r.Method))
			return
		}
		if isAPIPath(r.URL.Path) {
			s.writeError(w, r, errorf(http.StatusNotFound, "Not found."))
			return
		}
		s.notFoundPage(w, r)
	})
}

// answerOnce makes sure a request gets one answer. scs's LoadAndSave
// commits the session when the handler first writes; when that commit
// fails it answers 500 (ErrorFunc) there and then, and the handler went on
// to write its own status and body after it: two JSON bodies. ErrorFunc
// marks the answerOnce it wrote to as answered, and what the handler
// writes afterwards is dropped.
type answerOnce struct {
	http.ResponseWriter
	answered bool
}

func answerOnceHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&answerOnce{ResponseWriter: w}, r)
	})
}

func (w *answerOnce) WriteHeader(status int) {
	if !w.answered {
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *answerOnce) Write(b []byte) (int, error) {
	if w.answered {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (the websocket upgrade's Hijack)
// reach the connection.
func (w *answerOnce) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusRecorder captures what the mux's own 404/405 handlers write.
type statusRecorder struct {
	header http.Header
	status int
}

func (rec *statusRecorder) Header() http.Header         { return rec.header }
func (rec *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (rec *statusRecorder) WriteHeader(status int)      { rec.status = status }

// foldTrailingSlash serves "/x/" as "/x", so every path works with and
// without a trailing slash without registering routes twice.
func foldTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) > 1 && strings.HasSuffix(p, "/") && !strings.HasPrefix(p, "/static/") {
			r2 := new(http.Request)
			*r2 = *r
			u := *r.URL
			r2.URL = &u
			r2.URL.Path = strings.TrimRight(p, "/")
			if r2.URL.Path == "" {
				r2.URL.Path = "/"
			}
			r2.URL.RawPath = ""
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// Content-Security-Policy values. Pages set their own (see pages.go); API
// responses get the strictest.
const cspAPI = "default-src 'none'; frame-ancestors 'none'"

// defaultHeaders sets the headers every response carries unless a handler
// replaces them: no MIME sniffing, no framing, no referrer leaks.
func defaultHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", cspAPI)
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic in a handler into a logged 500 with a JSON
// body instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				s.writeError(w, r, errorf(http.StatusInternalServerError, "Internal error."))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
