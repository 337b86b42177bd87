package railsapp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// SIGTERM modes.
const (
	ModeThruster = "thruster"
	ModeClean    = "clean"
)

// What answers before Puma is up.
const (
	BeforeBoot502    = "502"
	BeforeBootRefuse = "refuse"
)

// MaxSleep caps ?sleep=.
const MaxSleep = 60 * time.Second

// Config is one container's settings (see cli.go for the flags).
type Config struct {
	Listen        string        // 127.0.0.5:80, or any host:port (port 0 picks one)
	DBPath        string        // storage/production.sqlite3
	MigrationsDir string        // db/migrate
	Prepare       bool          // db:prepare before listening
	BootDelay     time.Duration // Thruster listening -> Puma up
	BeforeBoot    string        // BeforeBoot502 or BeforeBootRefuse
	AppVersion    string        // X-App-Version
	ContainerName string        // X-Container-Name, if set
	SIGTERM       string        // ModeThruster or ModeClean
	Drain         time.Duration // thruster: how long Puma takes to exit
	Threads       int           // Puma threads; 0 = no limit
	Latency       time.Duration // extra time every app request takes
	UnhealthyFile string        // /up answers 500 while this file exists
}

// Validate checks the values a flag parser cannot, naming the flag.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("-listen: an address such as 127.0.0.5:80 is required"))
	} else if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("-listen %q: %v", c.Listen, err))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		errs = append(errs, fmt.Errorf("-listen %q: port must be a number from 0 to 65535", c.Listen))
	}
	if c.DBPath == "" {
		errs = append(errs, errors.New("-db: a database path is required"))
	}
	if c.Prepare && c.MigrationsDir == "" {
		errs = append(errs, errors.New("-prepare needs -migrations"))
	}
	if c.BootDelay < 0 {
		errs = append(errs, fmt.Errorf("-boot-delay %s: must not be negative", c.BootDelay))
	}
	if c.BeforeBoot != BeforeBoot502 && c.BeforeBoot != BeforeBootRefuse {
		errs = append(errs, fmt.Errorf("-before-boot %q: want %s or %s", c.BeforeBoot, BeforeBoot502, BeforeBootRefuse))
	}
	if c.SIGTERM != ModeThruster && c.SIGTERM != ModeClean {
		errs = append(errs, fmt.Errorf("-sigterm %q: want %s or %s", c.SIGTERM, ModeThruster, ModeClean))
	}
	if c.Drain < 0 {
		errs = append(errs, fmt.Errorf("-drain %s: must not be negative", c.Drain))
	}
	if c.Threads < 0 {
		errs = append(errs, fmt.Errorf("-threads %d: must not be negative (0 = no limit)", c.Threads))
	}
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("-latency %s: must not be negative", c.Latency))
	}
	return errors.Join(errs...)
}

type state int

const (
	stateBooting  state = iota // Thruster up, Puma not yet
	stateUp                    // Puma serving
	stateDraining              // thruster mode after SIGTERM: 502 for everything new
)

// Server is one container process: Thruster + Puma + the Rails app.
type Server struct {
	cfg    Config
	stdout io.Writer
	log    *log.Logger

	mu       sync.Mutex
	state    state
	inflight int           // requests Puma has taken and not finished
	idle     chan struct{} // closed once draining and inflight is 0

	srv      *http.Server
	ln       net.Listener
	serveErr chan error
	db       *sql.DB
	threads  chan struct{}

	lastErrLog atomic.Int64
}

// NewServer checks cfg. stdout gets db:prepare's output, stderr the log.
func NewServer(cfg Config, stdout, stderr io.Writer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		stdout:   stdout,
		log:      log.New(stderr, "standin-rails["+cfg.AppVersion+"] ", log.LstdFlags|log.Lmicroseconds),
		serveErr: make(chan error, 1),
	}
	if cfg.Threads > 0 {
		s.threads = make(chan struct{}, cfg.Threads)
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	return s, nil
}

// Addr is the address Thruster listens on ("" before it listens).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

func (s *Server) listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("-listen %s: %w", s.cfg.Listen, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	// Tests and the rehearsal read this line for the address (port 0).
	s.log.Printf("Thruster listening on http://%s", ln.Addr())
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- fmt.Errorf("serving on %s: %w", ln.Addr(), err)
		}
	}()
	return nil
}

// Run plays the container's life until a signal arrives on term and the
// process should exit. It returns an error when the container dies (db:prepare
// or the database failed, the address is taken).
func (s *Server) Run(term <-chan os.Signal) error {
	if s.cfg.Prepare {
		s.log.Printf("bin/docker-entrypoint: db:prepare (%s, migrations %s)", s.cfg.DBPath, s.cfg.MigrationsDir)
		if err := Prepare(s.cfg.DBPath, s.cfg.MigrationsDir, s.stdout); err != nil {
			return fmt.Errorf("db:prepare: %w", err)
		}
	}
	if s.cfg.BeforeBoot == BeforeBoot502 {
		if err := s.listen(); err != nil {
			return err
		}
	}
	s.log.Printf("Puma booting (up in %s)", s.cfg.BootDelay)
	boot := time.NewTimer(s.cfg.BootDelay)
	defer boot.Stop()
	select {
	case <-boot.C:
	case sig := <-term:
		s.log.Printf("%s while Puma was booting: exiting", sigName(sig))
		s.srv.Close()
		return nil
	case err := <-s.serveErr:
		return err
	}
	db, err := OpenDB(s.cfg.DBPath, s.cfg.Threads)
	if err != nil {
		s.srv.Close()
		return fmt.Errorf("puma failed to boot: %w", err)
	}
	defer db.Close()
	s.mu.Lock()
	s.db = db
	s.state = stateUp
	s.mu.Unlock()
	if s.cfg.BeforeBoot == BeforeBootRefuse {
		if err := s.listen(); err != nil {
			return err
		}
	}
	s.log.Printf("Puma booted: /up is healthy (threads %d, database %s)", s.cfg.Threads, s.cfg.DBPath)

	var sig os.Signal
	select {
	case sig = <-term:
	case err := <-s.serveErr:
		return err
	}
	switch s.cfg.SIGTERM {
	case ModeThruster:
		s.stopThruster(sig, term)
	default:
		s.stopClean(sig)
	}
	return nil
}

func sigName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return sig.String()
}

// stopThruster: Thruster relays the signal to Puma and keeps accepting;
// Puma stops taking requests (so Thruster answers 502) and finishes what it
// has; once Puma exited, Thruster shuts down.
func (s *Server) stopThruster(sig os.Signal, term <-chan os.Signal) {
	s.mu.Lock()
	s.state = stateDraining
	s.idle = make(chan struct{})
	busy := s.inflight
	if busy == 0 {
		close(s.idle)
	}
	s.mu.Unlock()
	s.log.Printf("%s: Thruster relays it to Puma and keeps accepting (502) while Puma drains for %s (%d requests in flight)", sigName(sig), s.cfg.Drain, busy)
	deadline := time.NewTimer(s.cfg.Drain)
	defer deadline.Stop()
	for done := false; !done; {
		select {
		case <-deadline.C:
			done = true
		case sig := <-term:
			s.log.Printf("%s again: still draining", sigName(sig))
		}
	}
	select {
	case <-s.idle:
	default:
		s.log.Printf("Puma waits for its requests in flight")
		<-s.idle
	}
	s.log.Printf("Puma exited; Thruster stopping")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.srv.Close()
	s.log.Printf("Thruster stopped")
}

// stopClean: the listener closes at once, idle connections close, requests
// in flight finish.
func (s *Server) stopClean(sig os.Signal) {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	_ = ln.Close() // before the log line, so whoever reads it meets a refusal
	s.log.Printf("%s: listener closed, finishing requests in flight", sigName(sig))
	_ = s.srv.Shutdown(context.Background())
	s.log.Printf("stopped")
}

// ServeHTTP is Thruster: it hands the request to Puma when Puma takes
// requests, and answers an empty 502 otherwise (its reverse proxy's answer
// to a refused upstream).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	up := s.state == stateUp
	if up {
		s.inflight++
	}
	s.mu.Unlock()
	if !up {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer s.finished()
	s.puma(w, r)
}

func (s *Server) finished() {
	s.mu.Lock()
	s.inflight--
	if s.inflight == 0 && s.state == stateDraining {
		close(s.idle) // inflight cannot rise again once draining
	}
	s.mu.Unlock()
}

// puma runs the request on one of Puma's threads.
func (s *Server) puma(w http.ResponseWriter, r *http.Request) {
	if s.threads != nil {
		select {
		case s.threads <- struct{}{}:
			defer func() { <-s.threads }()
		case <-r.Context().Done():
			return
		}
	}
	h := w.Header()
	h.Set("X-App-Version", s.cfg.AppVersion)
	if s.cfg.ContainerName != "" {
		h.Set("X-Container-Name", s.cfg.ContainerName)
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.fail(w, fmt.Errorf("panic: %v", v))
		}
	}()
	if s.cfg.Latency > 0 {
		time.Sleep(s.cfg.Latency)
	}
	switch r.URL.Path {
	case "/up":
		s.up(w, r)
	case "/":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.notFound(w, r)
			return
		}
		s.root(w, r)
	case "/workouts":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.listWorkouts(w, r)
		case http.MethodPost:
			s.createWorkout(w, r)
		default:
			s.notFound(w, r)
		}
	default:
		s.notFound(w, r)
	}
}

// up is Rails::HealthController#show.
func (s *Server) up(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.cfg.UnhealthyFile != "" {
		if _, err := os.Stat(s.cfg.UnhealthyFile); err == nil {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<!DOCTYPE html><html><body style="background-color: red"></body></html>`)
			return
		}
	}
	io.WriteString(w, `<!DOCTYPE html><html><body style="background-color: green"></body></html>`)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	http.Error(w, fmt.Sprintf("404 Not Found: no route matches [%s] %q", r.Method, r.URL.Path), http.StatusNotFound)
}

// fail is a Rails 500: the error goes to the log (at most once a second,
// so a missing table under load does not flood it) and into the body.
func (s *Server) fail(w http.ResponseWriter, err error) {
	now := time.Now().UnixNano()
	if last := s.lastErrLog.Load(); now-last > int64(time.Second) && s.lastErrLog.CompareAndSwap(last, now) {
		s.log.Printf("500 Internal Server Error: %v", err)
	}
	http.Error(w, "500 Internal Server Error: "+err.Error(), http.StatusInternalServerError)
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sleepParam is ?sleep=DUR.
func sleepParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("sleep")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("?sleep=%s: want a duration such as 500ms", v)
	}
	return min(d, MaxSleep), nil
}

func railsTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") }

// transaction runs fn in one BEGIN IMMEDIATE transaction after counting the
// visit, then honours ?sleep=.
func (s *Server) transaction(w http.ResponseWriter, r *http.Request, route string, fn func(tx *sql.Tx, visits int64) (int, any, error)) {
	sleep, err := sleepParam(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		s.fail(w, err)
		return
	}
	defer tx.Rollback()
	now := railsTime(time.Now())
	var visits int64
	err = tx.QueryRowContext(ctx, `INSERT INTO visits (path, count, created_at, updated_at) VALUES (?, 1, ?, ?)
		ON CONFLICT (path) DO UPDATE SET count = count + 1, updated_at = excluded.updated_at
		RETURNING count`, route, now, now).Scan(&visits)
	if err != nil {
		s.fail(w, err)
		return
	}
	status, body, err := fn(tx, visits)
	if err != nil {
		s.fail(w, err)
		return
	}
	if err := tx.Commit(); err != nil {
		s.fail(w, err)
		return
	}
	if sleep > 0 {
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return
		}
	}
	s.writeJSON(w, status, body)
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	s.transaction(w, r, "/", func(tx *sql.Tx, visits int64) (int, any, error) {
		return http.StatusOK, map[string]any{
			"app":       "standin-rails",
			"version":   s.cfg.AppVersion,
			"container": s.cfg.ContainerName,
			"visits":    visits,
		}, nil
	})
}

func (s *Server) listWorkouts(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			http.Error(w, fmt.Sprintf("?limit=%s: want a positive number", v), http.StatusBadRequest)
			return
		}
		limit = min(n, 100)
	}
	s.transaction(w, r, "/workouts", func(tx *sql.Tx, visits int64) (int, any, error) {
		ctx := r.Context()
		var total int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM workouts`).Scan(&total); err != nil {
			return 0, nil, err
		}
		rows, err := tx.QueryContext(ctx, `SELECT * FROM workouts ORDER BY id DESC LIMIT ?`, limit)
		if err != nil {
			return 0, nil, err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return 0, nil, err
		}
		list := []map[string]any{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return 0, nil, err
			}
			row := make(map[string]any, len(cols))
			for i, c := range cols {
				if b, ok := vals[i].([]byte); ok {
					vals[i] = string(b)
				}
				row[c] = vals[i]
			}
			list = append(list, row)
		}
		if err := rows.Err(); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{
			"version":  s.cfg.AppVersion,
			"visits":   visits,
			"total":    total,
			"workouts": list,
		}, nil
	})
}

func (s *Server) createWorkout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	name := ""
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var in struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil && !errors.Is(err, io.EOF) {
			http.Error(w, "JSON body: "+err.Error(), http.StatusBadRequest)
			return
		}
		name = in.Name
	} else {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "form body: "+err.Error(), http.StatusBadRequest)
			return
		}
		name = r.FormValue("name")
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Workout"
	}
	if len(name) > 200 {
		s.writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"errors": []string{"Name is too long (maximum is 200 characters)"}})
		return
	}
	s.transaction(w, r, "/workouts", func(tx *sql.Tx, visits int64) (int, any, error) {
		now := railsTime(time.Now())
		res, err := tx.ExecContext(r.Context(), `INSERT INTO workouts (name, created_at, updated_at) VALUES (?, ?, ?)`, name, now, now)
		if err != nil {
			return 0, nil, err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, map[string]any{
			"id":      id,
			"name":    name,
			"version": s.cfg.AppVersion,
			"visits":  visits,
		}, nil
	})
}
