-- Trading halts set by administrators: a halted symbol refuses new orders (422 symbol_halted)
-- and keeps being quoted and valued.
ALTER TABLE assets ADD COLUMN halted boolean NOT NULL DEFAULT false;
