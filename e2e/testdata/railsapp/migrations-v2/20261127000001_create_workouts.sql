-- The first deploy's schema: what `bin/rails generate model Workout name:string` makes.
CREATE TABLE "workouts" (
  "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
  "name" varchar NOT NULL,
  "created_at" datetime(6) NOT NULL,
  "updated_at" datetime(6) NOT NULL
);
