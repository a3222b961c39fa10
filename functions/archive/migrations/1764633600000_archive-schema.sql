-- The archive's schema: the contract in functions/archive/README.md ("Schema"). Add columns in new
-- migrations; never rename or drop one that the training extract (airflow, source=archive) reads.

-- Up Migration
CREATE SCHEMA IF NOT EXISTS archive;

-- One row per transaction, as received (payload), keyed by its id; redeliveries change nothing.
CREATE TABLE archive.transactions (
  transaction_id text PRIMARY KEY,
  card_id text NOT NULL,
  occurred_at timestamptz NOT NULL,
  amount numeric(14, 2) NOT NULL,
  payload jsonb NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_occurred_at ON archive.transactions (occurred_at);
CREATE INDEX transactions_archived_at ON archive.transactions (archived_at);

-- One decision per transaction (a redelivered decision is an idempotent upsert).
CREATE TABLE archive.decisions (
  transaction_id text PRIMARY KEY,
  card_id text NOT NULL,
  model_name text NOT NULL,
  model_version text NOT NULL,
  model_sha256 text NULL,
  fraud_probability double precision NOT NULL,
  threshold double precision NOT NULL,
  decision text NOT NULL CHECK (decision IN ('fraud', 'legit')),
  decided_at timestamptz NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_model_decided_at ON archive.decisions (model_name, model_version, decided_at);
CREATE INDEX decisions_archived_at ON archive.decisions (archived_at);

-- The current label of each transaction: the greatest (labeled_at, is_fraud, source) wins, whatever the
-- delivery order. No foreign key: a label may arrive before its transaction and joins when it comes.
CREATE TABLE archive.labels (
  transaction_id text PRIMARY KEY,
  card_id text NOT NULL,
  is_fraud boolean NOT NULL,
  source text NOT NULL,
  labeled_at timestamptz NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX labels_labeled_at ON archive.labels (labeled_at);
CREATE INDEX labels_archived_at ON archive.labels (archived_at);

-- Every distinct label ever received; an identical redelivery is stored once.
CREATE TABLE archive.label_history (
  id bigserial PRIMARY KEY,
  transaction_id text NOT NULL,
  card_id text NOT NULL,
  is_fraud boolean NOT NULL,
  source text NOT NULL,
  labeled_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (transaction_id, labeled_at, is_fraud, source)
);
CREATE INDEX label_history_received_at ON archive.label_history (received_at);

-- Down Migration
DROP TABLE archive.label_history;
DROP TABLE archive.labels;
DROP TABLE archive.decisions;
DROP TABLE archive.transactions;
