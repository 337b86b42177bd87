-- One counter row per route; every request to the app bumps one.
CREATE TABLE "visits" (
  "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
  "path" varchar NOT NULL,
  "count" integer DEFAULT 0 NOT NULL,
  "created_at" datetime(6) NOT NULL,
  "updated_at" datetime(6) NOT NULL
);
CREATE UNIQUE INDEX "index_visits_on_path" ON "visits" ("path");
