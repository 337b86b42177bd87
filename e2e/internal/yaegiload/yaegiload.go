// Package yaegiload loads the plugin the way Traefik v3.6 does
// (pkg/plugins/middlewareyaegi.go): a Yaegi v0.16.1 interpreter with a
// GOPATH holding the staged source, the standard library symbols only,
// `import "<manifest import>"`, then CreateConfig, a mapstructure decode of
// the user's options (weakly typed, "a,b" strings split into slices) and New
// called through reflection.
package yaegiload

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path"
	"reflect"
	"strings"

	"github.com/mitchellh/mapstructure"
	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"

	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
)

// Plugin is an interpreted copy of the middleware.
type Plugin struct {
	// Interp is the interpreter holding the plugin, for tests that
	// evaluate more of it.
	Interp                *interp.Interpreter
	fnNew, fnCreateConfig reflect.Value
}

// Load stages the repository's plugin under gopath and interprets it.
func Load(gopath string) (*Plugin, error) {
	dir, err := pluginsrc.Stage(gopath)
	if err != nil {
		return nil, err
	}
	return LoadStaged(gopath, dir)
}

// LoadStaged interprets a plugin already laid out at dir, inside gopath/src.
func LoadStaged(gopath, dir string) (*Plugin, error) {
	imp, err := pluginsrc.ManifestImport(dir)
	if err != nil {
		return nil, err
	}
	i := interp.New(interp.Options{GoPath: gopath, Env: os.Environ()})
	if err := i.Use(stdlib.Symbols); err != nil {
		return nil, fmt.Errorf("load symbols: %w", err)
	}
	if _, err := i.Eval(fmt.Sprintf(`import %q`, imp)); err != nil {
		return nil, fmt.Errorf("import plugin code %q: %w", imp, err)
	}
	base := strings.ReplaceAll(path.Base(imp), "-", "_")
	fnNew, err := i.Eval(base + ".New")
	if err != nil {
		return nil, fmt.Errorf("eval New: %w", err)
	}
	fnCreate, err := i.Eval(base + ".CreateConfig")
	if err != nil {
		return nil, fmt.Errorf("eval CreateConfig: %w", err)
	}
	return &Plugin{Interp: i, fnNew: fnNew, fnCreateConfig: fnCreate}, nil
}

// Config decodes options over CreateConfig's defaults, as Traefik does once
// per middleware definition.
func (p *Plugin) Config(options map[string]any) (reflect.Value, error) {
	results := p.fnCreateConfig.Call(nil)
	if len(results) != 1 {
		return reflect.Value{}, fmt.Errorf("CreateConfig returned %d values", len(results))
	}
	v := results[0]
	if len(options) == 0 {
		return v, nil
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToSliceHookFunc(","),
		WeaklyTypedInput: true,
		Result:           v.Interface(),
	})
	if err != nil {
		return reflect.Value{}, err
	}
	if err := dec.Decode(options); err != nil {
		return reflect.Value{}, fmt.Errorf("decode configuration: %w", err)
	}
	return v, nil
}

// New builds a handler from a decoded config, as Traefik does per router.
func (p *Plugin) New(ctx context.Context, next http.Handler, cfg reflect.Value, name string) (http.Handler, error) {
	out := p.fnNew.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(next), cfg, reflect.ValueOf(name)})
	if len(out) > 1 && out[1].Interface() != nil {
		err, ok := out[1].Interface().(error)
		if !ok {
			return nil, fmt.Errorf("New returned a non-error: %T", out[1].Interface())
		}
		return nil, err
	}
	h, ok := out[0].Interface().(http.Handler)
	if !ok {
		return nil, fmt.Errorf("New returned %T, not an http.Handler", out[0].Interface())
	}
	return h, nil
}

// Build is Config then New.
func (p *Plugin) Build(ctx context.Context, next http.Handler, options map[string]any, name string) (http.Handler, error) {
	cfg, err := p.Config(options)
	if err != nil {
		return nil, err
	}
	return p.New(ctx, next, cfg, name)
}
