package plugin

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Traefik decodes a plugin's options with mapstructure, weakly typed and
// case-insensitive, and ignores keys that match no field: a misspelt
// `holdTimout: 5s` would vanish without a word, and a wrong type would be
// refused in the decoder's words before berth sees it. So every field of
// Config is hidden from mapstructure (`mapstructure:"-"`), every option
// lands in Config.Options (`,remain`), and applyOptions decodes them here:
// an unknown key is refused with the nearest valid one, and a value of the
// wrong type with berth's usual wording. Go callers that fill Config's
// fields directly are unaffected.

// optionSetter stores one option's raw value into cfg.
type optionSetter func(cfg *Config, key string, v interface{}) error

// topOptions are the options at the top level, by lower-case name; each
// entry's name is the spelling the README uses.
var topOptions = map[string]struct {
	name string
	set  optionSetter
}{
	"app":                {"app", func(c *Config, k string, v interface{}) error { return setString(&c.App, k, v) }},
	"enabled":            {"enabled", func(c *Config, k string, v interface{}) error { return setBool(&c.Enabled, k, v) }},
	"message":            {"message", func(c *Config, k string, v interface{}) error { return setString(&c.Message, k, v) }},
	"unavailablemessage": {"unavailableMessage", func(c *Config, k string, v interface{}) error { return setString(&c.UnavailableMessage, k, v) }},
	"statedir":           {"stateDir", func(c *Config, k string, v interface{}) error { return setString(&c.StateDir, k, v) }},
	"pollinterval":       {"pollInterval", func(c *Config, k string, v interface{}) error { return setString(&c.PollInterval, k, v) }},
	"windows":            {"windows", setWindows},
	"status":             {"status", func(c *Config, k string, v interface{}) error { return setInt(&c.Status, k, v) }},
	"retryafter":         {"retryAfter", func(c *Config, k string, v interface{}) error { return setString(&c.RetryAfter, k, v) }},
	"template":           {"template", func(c *Config, k string, v interface{}) error { return setString(&c.Template, k, v) }},
	"templatefile":       {"templateFile", func(c *Config, k string, v interface{}) error { return setString(&c.TemplateFile, k, v) }},
	"allowcidrs":         {"allowCIDRs", func(c *Config, k string, v interface{}) error { return setStrings(&c.AllowCIDRs, k, v) }},
	"trustedproxies":     {"trustedProxies", func(c *Config, k string, v interface{}) error { return setStrings(&c.TrustedProxies, k, v) }},
	"bypasssecret":       {"bypassSecret", func(c *Config, k string, v interface{}) error { return setString(&c.BypassSecret, k, v) }},
	"bypasssecretfile":   {"bypassSecretFile", func(c *Config, k string, v interface{}) error { return setString(&c.BypassSecretFile, k, v) }},
	"bypasscookie":       {"bypassCookie", func(c *Config, k string, v interface{}) error { return setString(&c.BypassCookie, k, v) }},
	"bypassheader":       {"bypassHeader", func(c *Config, k string, v interface{}) error { return setString(&c.BypassHeader, k, v) }},
	"alwayspass":         {"alwaysPass", func(c *Config, k string, v interface{}) error { return setStrings(&c.AlwaysPass, k, v) }},
	"statuspath":         {"statusPath", func(c *Config, k string, v interface{}) error { return setString(&c.StatusPath, k, v) }},
	"health":             {"health", setHealthOptions},
	"holdtimeout":        {"holdTimeout", func(c *Config, k string, v interface{}) error { return setString(&c.HoldTimeout, k, v) }},
	"maxheld":            {"maxHeld", func(c *Config, k string, v interface{}) error { return setInt(&c.MaxHeld, k, v) }},
	"fallback":           {"fallback", func(c *Config, k string, v interface{}) error { return setBool(&c.Fallback, k, v) }},
}

var healthOptions = map[string]struct {
	name string
	set  func(h *HealthConfig, key string, v interface{}) error
}{
	"enabled":            {"enabled", func(h *HealthConfig, k string, v interface{}) error { return setBool(&h.Enabled, k, v) }},
	"path":               {"path", func(h *HealthConfig, k string, v interface{}) error { return setString(&h.Path, k, v) }},
	"url":                {"url", func(h *HealthConfig, k string, v interface{}) error { return setString(&h.URL, k, v) }},
	"host":               {"host", func(h *HealthConfig, k string, v interface{}) error { return setString(&h.Host, k, v) }},
	"interval":           {"interval", func(h *HealthConfig, k string, v interface{}) error { return setString(&h.Interval, k, v) }},
	"timeout":            {"timeout", func(h *HealthConfig, k string, v interface{}) error { return setString(&h.Timeout, k, v) }},
	"healthythreshold":   {"healthyThreshold", func(h *HealthConfig, k string, v interface{}) error { return setInt(&h.HealthyThreshold, k, v) }},
	"unhealthythreshold": {"unhealthyThreshold", func(h *HealthConfig, k string, v interface{}) error { return setInt(&h.UnhealthyThreshold, k, v) }},
}

var windowOptions = map[string]struct {
	name string
	set  func(w *Window, key string, v interface{}) error
}{
	"start":   {"start", func(w *Window, k string, v interface{}) error { return setString(&w.Start, k, v) }},
	"end":     {"end", func(w *Window, k string, v interface{}) error { return setString(&w.End, k, v) }},
	"message": {"message", func(w *Window, k string, v interface{}) error { return setString(&w.Message, k, v) }},
}

// applyOptions returns a copy of cfg with cfg.Options decoded over its
// fields, or an error naming the first bad key.
func applyOptions(cfg *Config) (*Config, error) {
	out := *cfg
	out.Options = nil
	if len(cfg.Options) == 0 {
		return &out, nil
	}
	keys, err := sortedKeys("", cfg.Options)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(topOptions))
	for _, o := range topOptions {
		names = append(names, o.name)
	}
	for _, k := range keys {
		o, ok := topOptions[strings.ToLower(k)]
		if !ok {
			return nil, unknownOption(k, names)
		}
		if err := o.set(&out, o.name, cfg.Options[k]); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// sortedKeys orders a map's keys so the first error is always the same one,
// and refuses a key given twice in different case.
func sortedKeys(prefix string, m map[string]interface{}) ([]string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seen := map[string]string{}
	for _, k := range keys {
		if other, dup := seen[strings.ToLower(k)]; dup {
			return nil, fmt.Errorf("berth: option %q is given twice (as %q and %q); option names ignore case", prefix+k, prefix+other, prefix+k)
		}
		seen[strings.ToLower(k)] = k
	}
	return keys, nil
}

func setHealthOptions(cfg *Config, key string, v interface{}) error {
	m, ok := asMap(v)
	if !ok {
		return typeError(key, v, "a group of health options such as {path: /up, interval: 1s}")
	}
	keys, err := sortedKeys(key+".", m)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(healthOptions))
	for _, o := range healthOptions {
		names = append(names, key+"."+o.name)
	}
	for _, k := range keys {
		o, ok := healthOptions[strings.ToLower(k)]
		if !ok {
			return unknownOption(key+"."+k, names)
		}
		if err := o.set(&cfg.Health, key+"."+o.name, m[k]); err != nil {
			return err
		}
	}
	return nil
}

func setWindows(cfg *Config, key string, v interface{}) error {
	items, ok := asList(v)
	if !ok {
		return typeError(key, v, "a list of windows, each {start, end, message}")
	}
	var windows []Window
	for i, item := range items {
		name := fmt.Sprintf("%s[%d]", key, i)
		m, ok := asMap(item)
		if !ok {
			return typeError(name, item, "a window {start, end, message}")
		}
		keys, err := sortedKeys(name+".", m)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(windowOptions))
		for _, o := range windowOptions {
			names = append(names, name+"."+o.name)
		}
		var w Window
		for _, k := range keys {
			o, ok := windowOptions[strings.ToLower(k)]
			if !ok {
				return unknownOption(name+"."+k, names)
			}
			if err := o.set(&w, name+"."+o.name, m[k]); err != nil {
				return err
			}
		}
		windows = append(windows, w)
	}
	cfg.Windows = windows
	return nil
}

// asMap accepts the maps Traefik's providers produce (file: string keys;
// YAML decoders may give interface{} keys).
func asMap(v interface{}) (map[string]interface{}, bool) {
	switch m := v.(type) {
	case map[string]interface{}:
		return m, true
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(m))
		for k, val := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, false
			}
			out[ks] = val
		}
		return out, true
	}
	return nil, false
}

func asList(v interface{}) ([]interface{}, bool) {
	switch l := v.(type) {
	case []interface{}:
		return l, true
	case []map[string]interface{}:
		out := make([]interface{}, len(l))
		for i := range l {
			out[i] = l[i]
		}
		return out, true
	}
	return nil, false
}

// setString accepts text, and numbers or booleans written without quotes
// (as Traefik's weak decoding does): `pollInterval: 500` becomes "500",
// which the duration check then refuses with its own message.
func setString(dst *string, key string, v interface{}) error {
	switch x := v.(type) {
	case string:
		*dst = x
	case nil:
		*dst = ""
	case bool:
		*dst = strconv.FormatBool(x)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		*dst = fmt.Sprint(x)
	case float32:
		*dst = strconv.FormatFloat(float64(x), 'f', -1, 32)
	case float64:
		*dst = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return typeError(key, v, "a single value (text, a number or true/false), not a list or a group")
	}
	return nil
}

// setInt accepts whole numbers, written as numbers or as text (labels are
// always text).
func setInt(dst *int, key string, v interface{}) error {
	switch x := v.(type) {
	case int:
		*dst = x
	case int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		n, err := strconv.ParseInt(fmt.Sprint(x), 10, 64)
		if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
			return typeError(key, v, "a whole number")
		}
		*dst = int(n)
	case float32, float64:
		f, _ := strconv.ParseFloat(fmt.Sprint(x), 64)
		if f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
			return typeError(key, v, "a whole number")
		}
		*dst = int(f)
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 32)
		if err != nil {
			return typeError(key, v, "a whole number")
		}
		*dst = int(n)
	default:
		return typeError(key, v, "a whole number")
	}
	return nil
}

// setBool accepts true/false, written as booleans or as text.
func setBool(dst *bool, key string, v interface{}) error {
	switch x := v.(type) {
	case bool:
		*dst = x
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			return typeError(key, v, "true or false")
		}
	default:
		return typeError(key, v, "true or false")
	}
	return nil
}

// setStrings accepts a list, or one text with the items separated by
// commas (how a list is written in a label).
func setStrings(dst *[]string, key string, v interface{}) error {
	switch x := v.(type) {
	case string:
		var out []string
		for _, part := range strings.Split(x, ",") {
			if p := strings.TrimSpace(part); p != "" {
				out = append(out, p)
			}
		}
		*dst = out
		return nil
	case []string:
		*dst = append([]string(nil), x...)
		return nil
	case nil:
		*dst = nil
		return nil
	}
	items, ok := asList(v)
	if !ok {
		return typeError(key, v, "a list of text values, or one text with the values separated by commas")
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		var s string
		if err := setString(&s, fmt.Sprintf("%s[%d]", key, i), item); err != nil {
			return err
		}
		out = append(out, s)
	}
	*dst = out
	return nil
}

// typeError words a value of the wrong kind like every other berth
// configuration error.
func typeError(key string, v interface{}, want string) error {
	return fieldError(key, describeValue(v), want)
}

func describeValue(v interface{}) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "nothing"
	}
	if _, ok := asMap(v); ok {
		return "a group of options"
	}
	if _, ok := asList(v); ok {
		return "a list"
	}
	if _, ok := v.([]string); ok {
		return "a list"
	}
	return fmt.Sprint(v)
}

// unknownOption refuses key, naming the nearest valid option.
func unknownOption(key string, valid []string) error {
	sort.Strings(valid)
	best, bestDist := "", -1
	for _, name := range valid {
		d := editDistance(strings.ToLower(key), strings.ToLower(name))
		if bestDist < 0 || d < bestDist {
			best, bestDist = name, d
		}
	}
	if bestDist >= 0 && bestDist <= len(key)/2+1 {
		return fmt.Errorf("berth: unknown option %q: did you mean %q? (option names ignore case)", key, best)
	}
	return fmt.Errorf("berth: unknown option %q: want one of %s", key, strings.Join(valid, ", "))
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			best := prev[j] + 1
			if cur[j-1]+1 < best {
				best = cur[j-1] + 1
			}
			if prev[j-1]+cost < best {
				best = prev[j-1] + cost
			}
			cur[j] = best
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
