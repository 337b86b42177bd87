// Package railsapp is a stand-in for a Rails 8.1 app container (docs/rails.md#the-app-image),
// run as a real process by e2e/cmd/standin-rails so the deploy rehearsal can
// start it on a container address, SIGTERM it the way `docker stop` does,
// and kill -9 it.
//
// # What one process plays
//
// A Rails 8.1 image runs `bin/docker-entrypoint ./bin/thrust ./bin/rails
// server`. The process plays each part in that order:
//
//  1. bin/docker-entrypoint: with -prepare, `db:prepare` runs before anything
//     listens (create the database if it is missing, then apply pending
//     migrations; a failure exits 1 and nothing ever listens).
//  2. Thruster: listens on -listen at once. Until Puma is up it answers every
//     request with an empty 502, as its reverse proxy does when the upstream
//     refuses (-before-boot=refuse skips this part: nothing listens until Puma
//     is up, like a container running Puma alone).
//  3. Puma + Rails: up -boot-delay after Thruster started listening. Then /up
//     answers 200 (Rails::HealthController: no database check; 500 only on an
//     exception, which -unhealthy-file provokes) and every other route reads
//     and writes SQLite. At most -threads requests run at once (Puma's thread
//     pool, RAILS_MAX_THREADS=3 in Rails 8); the others queue.
//
// # SIGTERM (and SIGINT)
//
//   - -sigterm=thruster (the Rails 8 image): Thruster relays the signal to
//     Puma, which stops taking requests and finishes the ones it has; Thruster
//     keeps accepting and answers 502 to everything new, also on open
//     keep-alive connections. Puma takes -drain (or longer, while requests it
//     had are still running) to exit; then Thruster shuts down and the address
//     refuses connections.
//   - -sigterm=clean (a server without a proxy in front): the listener closes
//     at once (new connections are refused), idle keep-alive connections are
//     closed, in-flight requests finish, then the process exits.
//
// A signal during boot stops the process at once. A graceful stop exits 0.
//
// # Routes (Puma up)
//
//	GET  /up          200 green HTML, no database (500 while -unhealthy-file exists)
//	GET  /            bumps visits["/"], answers {"version","visits",...}
//	GET  /workouts    bumps visits["/workouts"], lists the newest rows (?limit=, max 100)
//	POST /workouts    bumps visits["/workouts"], inserts a row (form or JSON "name"), 201
//
// Every app route runs in one BEGIN IMMEDIATE transaction (Rails 8's default
// for SQLite), so each request both reads and writes the database, and
// answers 500 with the SQL error when a table is missing (production Rails
// does not check for pending migrations). Any app route takes ?sleep=DUR
// (after the transaction, capped at 60s) to make a request stay in flight.
// Responses from the app carry X-App-Version (and X-Container-Name when set);
// Thruster's 502s carry nothing of the app.
//
// # Database
//
// modernc.org/sqlite (pure Go) with the pragmas Rails 8 sets: journal_mode
// WAL, synchronous NORMAL, foreign_keys ON, and busy_timeout 5000 (docs/litestream.md#litestream-as-berth-uses-it:
// Litestream holds a read transaction and other containers write the same
// file during a deploy).
//
// # Migrations
//
// Files named <digits>_<snake_name>.sql in -migrations (default db/migrate),
// applied in version order, each in its own transaction together with its row
// in schema_migrations(version), like `rails db:migrate`; the output and the
// `db:migrate:status` table are formatted as Rails prints them, so berth's
// hooks parse them unchanged. A line `-- standin:sleep DUR` in a migration
// holds its transaction (and so the database's write lock) for DUR after its
// SQL ran, to stand in for a long migration.
package railsapp
