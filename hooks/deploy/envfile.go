package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/wombatworkouts/berth/config/kamal"
	"github.com/wombatworkouts/berth/hooks/envfile"
)

// uploadEnvFile writes the web role's env file on the primary host as Kamal
// will write it when it boots this version, so that `kamal app exec` (the
// migration status and db:migrate) starts its container with this deploy's
// secrets, not the previous deploy's, and a first deploy without `kamal
// setup` finds the file at all. Kamal overwrites it with the same bytes a
// moment later; a deploy stopped before that leaves the running container
// as it was (a container reads its env file only when it starts).
func uploadEnvFile(ctx context.Context, d Deps) (string, error) {
	dy, err := envfile.Load(d.AppDir, d.Env.Destination)
	if err != nil {
		return "", err
	}
	keys, err := dy.SecretKeys(kamal.Role, d.Env.Primary())
	if err != nil {
		return "", err
	}
	content, err := envfile.Render(keys, d.Lookup)
	if err != nil {
		return "", err
	}
	c, cancel := d.step(ctx, d.Timeouts.State)
	defer cancel()
	if err := d.Transport.Upload(c, dy.Path(kamal.Role), content); err != nil {
		return "", fmt.Errorf("%w: %w", errUpload, err)
	}
	return fmt.Sprintf("%s on %s (%d %s, values not shown)", dy.Path(kamal.Role), d.Env.Primary(), len(keys), plural(len(keys), "secret", "secrets")), nil
}

// errUpload marks a failure to write the file, as opposed to reading
// config/deploy.yml or the secrets.
var errUpload = errors.New("upload failed")

func envFileTodo(d Deps, err error) []string {
	switch {
	case errors.Is(err, envfile.ErrMissingSecret):
		return []string{"add the missing secret to .kamal/secrets (Kamal would refuse to boot the app without it), then deploy again"}
	case !errors.Is(err, errUpload):
		return []string{"fix config/deploy.yml as the message says (`berth config render config` writes it), then deploy again"}
	default:
		return []string{
			"berth writes the file through `kamal server exec -i`, which runs your ssh client with Kamal's settings: check that `ssh` to " + d.Env.Primary() + " works without a prompt (its host key in ~/.ssh/known_hosts, the key loaded)",
			"then deploy again; berth does not migrate with the previous deploy's secrets",
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
