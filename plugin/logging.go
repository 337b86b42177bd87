package plugin

import (
	"fmt"
	"log"
)

// Traefik v3.6 (pkg/plugins/middlewareyaegi.go) gives a Yaegi plugin two
// ways into its log, both tagged with the plugin's name: what the plugin
// writes to standard output (fmt.Print*, which Yaegi points at the
// interpreter's stdout) becomes a DEBUG entry, and what it writes to
// standard error (the log package, which Yaegi points at the interpreter's
// stderr) an ERROR entry. There is no third stream, so no INFO: routine
// news (mode changes, a state file seen) goes to stdout and shows at
// Traefik's DEBUG level; faults (a malformed or unreadable state file, a
// failing probe, a recovered panic) go to stderr and show at ERROR.

// infoSink and errorSink, when set (tests only), receive the lines instead.
var (
	infoSink  func(line string)
	errorSink func(line string)
)

// logInfo writes a routine line: Traefik's DEBUG level.
func logInfo(format string, args ...interface{}) {
	line := fmt.Sprintf(format, args...)
	if infoSink != nil {
		infoSink(line)
		return
	}
	fmt.Println(line)
}

// logError writes a fault: Traefik's ERROR level. It goes through
// log.Writer() rather than log.Printf so the line carries no second
// timestamp (Traefik stamps its own).
func logError(format string, args ...interface{}) {
	line := fmt.Sprintf(format, args...)
	if errorSink != nil {
		errorSink(line)
		return
	}
	_, _ = fmt.Fprintln(log.Writer(), line)
}
