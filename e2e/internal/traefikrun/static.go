package traefikrun

import (
	"fmt"
	"path/filepath"
	"time"
)

// StaticOptions start Traefik from a static configuration file the caller
// wrote (for example berth's rendered traefik/static.yml, adapted to
// loopback ports), instead of the one Start writes. The caller knows the
// addresses in that file, so it says where things are.
type StaticOptions struct {
	// ConfigFile is the static configuration (passed as --configFile).
	ConfigFile string
	// PingURL is the base URL of the entry point serving /ping; Start
	// waits for it. It is also the Traefik's APIURL, so API() works when
	// the API is reachable there (api.insecure, or a router to
	// api@internal on that entry point).
	PingURL string
	// WebURL and WebAddr are copied into the Traefik for the caller's
	// convenience (the entry point requests go to); optional.
	WebURL, WebAddr string
	// DynamicDir is the file provider's directory, for WriteDynamic.
	DynamicDir string
	// LogFile is log.filePath when the configuration sets one; without it
	// the log goes to stdout, which is captured either way (see Log).
	LogFile string
	// Env is added to Traefik's environment.
	Env []string
	// StartTimeout bounds the wait for /ping (default 30s).
	StartTimeout time.Duration
}

// StartStatic launches Traefik in dir (its working directory, where berth
// is staged under plugins-local/ as for Start) with the caller's static
// configuration file.
func StartStatic(dir string, opt StaticOptions) (*Traefik, error) {
	if opt.ConfigFile == "" || opt.PingURL == "" {
		return nil, fmt.Errorf("traefikrun: StartStatic needs ConfigFile and PingURL")
	}
	logPath := opt.LogFile
	if logPath == "" {
		logPath = filepath.Join(dir, "traefik.log") // never written: Log reads stdout too
	}
	t := &Traefik{
		Dir:        dir,
		DynamicDir: opt.DynamicDir,
		WebURL:     opt.WebURL,
		WebAddr:    opt.WebAddr,
		APIURL:     opt.PingURL,
		logPath:    logPath,
		done:       make(chan struct{}),
	}
	limit := opt.StartTimeout
	if limit == 0 {
		limit = 30 * time.Second
	}
	if err := t.launch(opt.ConfigFile, opt.Env, limit); err != nil {
		return nil, err
	}
	return t, nil
}

// Exited reports whether the Traefik process has ended.
func (t *Traefik) Exited() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}
