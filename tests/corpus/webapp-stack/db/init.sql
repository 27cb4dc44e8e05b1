-- Extensions the application needs.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
