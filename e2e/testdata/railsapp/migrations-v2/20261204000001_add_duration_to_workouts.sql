-- The second deploy adds a column (and an index), so berth's pre-deploy hook
-- sees one pending migration and puts the app into maintenance around it.
ALTER TABLE "workouts" ADD "duration_minutes" integer DEFAULT 0 NOT NULL;
CREATE INDEX "index_workouts_on_created_at" ON "workouts" ("created_at");
