-- A queue message without a valid provisiond signature (`rabbitmq.message_key`) is never
-- applied: it goes to the dead-letter log with its own reason.
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_reason_check;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_reason_check CHECK (reason IN
    ('permanent_error', 'attempts_exhausted', 'delivery_limit', 'unparseable', 'unauthenticated'));
