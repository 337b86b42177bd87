package envfile

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// escape writes a value the way Kamal 2.12's EnvFile does, so the file berth
// uploads is byte for byte the one Kamal uploads when it boots the app:
// ASCII runs go through Ruby's String#dump without the surrounding quotes,
// then `\"` becomes `"` and `\#` becomes `#` (Docker reads env files
// literally); non-ASCII runs are kept as they are.
func escape(value string) string {
	var out strings.Builder
	for len(value) > 0 {
		n := asciiRun(value)
		if n > 0 {
			out.WriteString(unescapeQuotes(dump(value[:n])))
			value = value[n:]
			continue
		}
		n = nonASCIIRun(value)
		out.WriteString(value[:n])
		value = value[n:]
	}
	return out.String()
}

func asciiRun(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return i
		}
	}
	return len(s)
}

func nonASCIIRun(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < utf8.RuneSelf {
			return i
		}
	}
	return len(s)
}

// dump is Ruby's String#dump of an ASCII string, without the quotes.
func dump(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '#':
			// Ruby escapes '#' only where it would start an interpolation.
			if i+1 < len(s) && (s[i+1] == '$' || s[i+1] == '@' || s[i+1] == '{') {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\v':
			b.WriteString(`\v`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\a':
			b.WriteString(`\a`)
		case c == 0x1b:
			b.WriteString(`\e`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02X`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescapeQuotes is Kamal's two gsubs, left to right like Ruby's: note that
// they also take the second backslash of an escaped backslash that stands
// before a quote or '#', which Kamal's files therefore carry too.
func unescapeQuotes(s string) string {
	s = strings.ReplaceAll(s, `\"`, `"`)
	return strings.ReplaceAll(s, `\#`, `#`)
}
