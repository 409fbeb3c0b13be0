-- Toll booth alerts: flag a booth whose vehicle count over a 30-minute window falls below the
-- threshold for that booth and half-hour slot of the day, read from the reference table
-- BOOTH_THRESHOLDS (BOOTH_ID, SLOT 0..47, MIN_VEHICLES).
--
-- Two pumps in a chain: COUNT_PUMP counts vehicles per booth every 30 minutes into BOOTH_COUNTS;
-- ALERT_PUMP joins each count to its threshold and keeps the counts below it.

CREATE OR REPLACE STREAM "BOOTH_COUNTS" (
    BOOTH_ID      VARCHAR(8),
    WINDOW_START  TIMESTAMP,
    VEHICLES      BIGINT);

CREATE OR REPLACE PUMP "COUNT_PUMP" AS
    INSERT INTO "BOOTH_COUNTS"
    SELECT STREAM
        s.BOOTH_ID,
        STEP(s.ROWTIME BY INTERVAL '30' MINUTE),
        COUNT(*)
    FROM "SOURCE_SQL_STREAM_001" AS s
    GROUP BY s.BOOTH_ID, STEP(s.ROWTIME BY INTERVAL '30' MINUTE);

CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    BOOTH_ID      VARCHAR(8),
    WINDOW_START  TIMESTAMP,
    VEHICLES      BIGINT,
    MIN_VEHICLES  INTEGER);

CREATE OR REPLACE PUMP "ALERT_PUMP" AS
    INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM c.BOOTH_ID, c.WINDOW_START, c.VEHICLES, t.MIN_VEHICLES
    FROM "BOOTH_COUNTS" AS c
    JOIN "BOOTH_THRESHOLDS" AS t
      ON c.BOOTH_ID = t.BOOTH_ID
     AND EXTRACT(HOUR FROM c.WINDOW_START) * 2 + EXTRACT(MINUTE FROM c.WINDOW_START) / 30 = t.SLOT
    WHERE c.VEHICLES < t.MIN_VEHICLES;
